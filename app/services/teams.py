"""Teams: a company's members and their roles, invitations by email, ownership transfer.

A company has exactly one owner; owners and admins invite people by email as admins or
members. An invitation's token is random and only its SHA-256 is stored; it is accepted once,
before it expires, by the signed-in user whose email it names. Every change (and every
refused attempt, written by the error handler after the rollback: see `TeamRefused.audit`)
leaves an audit row.
"""

import hashlib
import secrets
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.models import Company, CompanyInvitation, CompanyMember, User
from app.models.company import INVITABLE_ROLES, MEMBER_ROLES
from app.services.accounts import AccountError, normalize_email
from app.services.audit import record_audit_event
from app.services.mail import send_team_invitation

INVITATION_TTL = timedelta(days=7)
# Which roles may invite, and which roles each may hand out.
INVITERS: dict[str, tuple[str, ...]] = {"owner": INVITABLE_ROLES, "admin": INVITABLE_ROLES}


class TeamRefused(ServiceError):
    """A team change that is not allowed. `audit` (action, company id, data) is written by the
    error handler after the rollback, so the refusal itself is on the record."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        audit_action: str | None = None,
        company_id: int | None = None,
        **data: object,
    ):
        super().__init__(status, code, message, field=field)
        self.audit = (audit_action, company_id, data) if audit_action else None


def hash_token(token: str) -> str:
    """The stored form of an invitation token."""
    return hashlib.sha256(token.encode()).hexdigest()


def team_members(company: Company) -> Sequence[CompanyMember]:
    """The company's members, owner first, then by when they joined."""
    order = {role: n for n, role in enumerate(MEMBER_ROLES)}
    members = db.session.scalars(select(CompanyMember).where(CompanyMember.company_id == company.id)).all()
    return sorted(members, key=lambda member: (order[member.role], member.id))


def open_invitations(company: Company) -> Sequence[CompanyInvitation]:
    """The company's invitations not yet accepted, revoked or expired, newest first."""
    return db.session.scalars(
        select(CompanyInvitation)
        .where(
            CompanyInvitation.company_id == company.id,
            CompanyInvitation.accepted_at.is_(None),
            CompanyInvitation.revoked_at.is_(None),
            CompanyInvitation.expires_at > now(),
        )
        .order_by(CompanyInvitation.id.desc())
    ).all()


def _role_of(company: Company, user: User) -> str | None:
    return db.session.scalar(
        select(CompanyMember.role).where(CompanyMember.company_id == company.id, CompanyMember.user_id == user.id)
    )


def invite_member(
    company: Company, inviter: User, email: str | None, role: str | None, link_for: Callable[[str], str]
) -> str:
    """Invite `email` to `company` as `role` (admin or member) and queue the email with the
    link `link_for(token)`; returns the token. Owners and admins invite; an email that
    is already a member, or already has an open invitation, is refused (422 naming the field)."""
    inviter_role = _role_of(company, inviter)
    if inviter_role not in INVITERS:
        raise TeamRefused(
            403,
            "not_allowed",
            "Only owners and admins invite people.",
            audit_action="team.invite_refused",
            company_id=company.id,
        )
    try:
        address = normalize_email(email)
    except AccountError as exc:
        raise TeamRefused(422, "invalid_email", exc.message, field="email") from None
    if role not in INVITERS[inviter_role]:
        raise TeamRefused(422, "invalid_role", "Choose admin or member.", field="role")
    existing = db.session.scalar(
        select(CompanyMember.id)
        .join(User, User.id == CompanyMember.user_id)
        .where(CompanyMember.company_id == company.id, User.email == address)
    )
    if existing is not None:
        raise TeamRefused(422, "already_member", f"{address} is already on the team.", field="email")
    if any(invitation.email == address for invitation in open_invitations(company)):
        raise TeamRefused(422, "already_invited", f"{address} already has an invitation waiting.", field="email")
    token = secrets.token_urlsafe(32)
    invitation = CompanyInvitation(
        company_id=company.id,
        email=address,
        role=role,
        token_hash=hash_token(token),
        invited_by_user_id=inviter.id,
        expires_at=now() + INVITATION_TTL,
    )
    db.session.add(invitation)
    db.session.flush()
    record_audit_event("team.invited", actor=inviter, company=company, subject=invitation, email=address, role=role)
    link = link_for(token)
    send_team_invitation(
        address,
        company_name=company.title,
        inviter_name=inviter.display_name,
        role=role,
        accept_url=link,
        valid_for=f"{INVITATION_TTL.days} days",
    )
    return token


def find_invitation(token: str | None) -> CompanyInvitation:
    """The open, unexpired invitation with this token, or 404 (unknown, used, revoked or expired
    all look the same)."""
    if not token or len(token) > 100:
        raise TeamRefused(404, "invitation_not_found", "This invitation link is not valid any more.")
    invitation = db.session.scalar(select(CompanyInvitation).where(CompanyInvitation.token_hash == hash_token(token)))
    if invitation is None or not invitation.is_open or invitation.expires_at <= now():
        raise TeamRefused(404, "invitation_not_found", "This invitation link is not valid any more.")
    return invitation


def accept_invitation(token: str | None, user: User) -> CompanyMember:
    """Make `user` a member of the invitation's company with its role, once.

    Refused when the invitation is for another email (403, audited) or no longer open (404).
    The invitation is claimed with one conditional UPDATE (… WHERE accepted_at IS NULL), so of
    many simultaneous accepts exactly one makes the membership; the others see it used.
    """
    invitation = find_invitation(token)
    if invitation.email != user.email:
        raise TeamRefused(
            403,
            "wrong_account",
            "This invitation is for another email address. Sign in as that address to accept it.",
            audit_action="team.invitation_refused",
            company_id=invitation.company_id,
            invitation_id=invitation.id,
        )
    claimed = db.session.execute(  # type: ignore[attr-defined]  # a CursorResult for UPDATE
        update(CompanyInvitation)
        .where(
            CompanyInvitation.id == invitation.id,
            CompanyInvitation.accepted_at.is_(None),
            CompanyInvitation.revoked_at.is_(None),
        )
        .values(accepted_at=now(), accepted_by_user_id=user.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise TeamRefused(404, "invitation_not_found", "This invitation link is not valid any more.")
    company = invitation.company
    if _role_of(company, user) is not None:
        raise TeamRefused(409, "already_member", f"You are already on the {company.title} team.")
    member = CompanyMember(company_id=company.id, user_id=user.id, role=invitation.role)
    db.session.add(member)
    try:
        db.session.flush()
    except IntegrityError:
        raise TeamRefused(409, "already_member", f"You are already on the {company.title} team.") from None
    record_audit_event("team.joined", actor=user, company=company, subject=member, role=member.role)
    db.session.refresh(user)
    return member


def revoke_invitation(company: Company, actor: User, invitation_id: int) -> CompanyInvitation:
    """Withdraw an open invitation of `company` (404 for another company's)."""
    invitation = db.session.scalar(
        select(CompanyInvitation).where(
            CompanyInvitation.id == invitation_id, CompanyInvitation.company_id == company.id
        )
    )
    if invitation is None or not invitation.is_open:
        raise _not_on_team(company, "invitation", invitation_id)
    invitation.revoked_at = now()
    record_audit_event("team.invitation_revoked", actor=actor, company=company, subject=invitation)
    db.session.flush()
    return invitation


def _not_on_team(company: Company, kind: str, target_id: int) -> TeamRefused:
    # Another company's member (or nobody): 404, and the attempt is audited (an admin of
    # company A poking at company B's ids).
    return TeamRefused(
        404,
        "not_found",
        "Not found.",
        audit_action="team.target_refused",
        company_id=company.id,
        target=kind,
        target_id=target_id,
    )


def _member(company: Company, member_id: int) -> CompanyMember:
    member = db.session.scalar(
        select(CompanyMember)
        .where(CompanyMember.id == member_id, CompanyMember.company_id == company.id)
        .with_for_update(of=CompanyMember)
    )
    if member is None:
        raise _not_on_team(company, "member", member_id)
    return member


def change_role(company: Company, actor: User, member_id: int, role: str | None) -> CompanyMember:
    """Give a member another role (admin or member). The owner's role changes only by
    transferring ownership."""
    member = _member(company, member_id)
    if role not in INVITABLE_ROLES:
        raise TeamRefused(422, "invalid_role", "Choose admin or member.", field="role")
    if member.role == "owner":
        raise TeamRefused(409, "owner_role", "Transfer ownership to change the owner's role.", field="role")
    previous, member.role = member.role, role
    record_audit_event(
        "team.role_changed",
        actor=actor,
        company=company,
        subject=member,
        user_id=member.user_id,
        before=previous,
        after=role,
    )
    db.session.flush()
    return member


def remove_member(company: Company, actor: User, member_id: int) -> None:
    """Take a member off the team (never the owner)."""
    member = _member(company, member_id)
    if member.role == "owner":
        raise TeamRefused(409, "owner_removal", "The owner can't be removed: transfer ownership first.")
    record_audit_event(
        "team.member_removed", actor=actor, company=company, subject=member, user_id=member.user_id, role=member.role
    )
    db.session.delete(member)
    db.session.flush()


def transfer_ownership(company: Company, owner: User, member_id: int) -> CompanyMember:
    """Make an existing member the owner; the old owner becomes an admin."""
    member = _member(company, member_id)
    current = db.session.scalar(
        select(CompanyMember)
        .where(CompanyMember.company_id == company.id, CompanyMember.user_id == owner.id)
        .with_for_update(of=CompanyMember)
    )
    if current is None or current.role != "owner":
        raise TeamRefused(403, "not_owner", "Only the owner transfers ownership.")
    if member.id == current.id:
        raise TeamRefused(422, "same_owner", "You already own this company.", field="member_id")
    current.role, member.role = "admin", "owner"
    record_audit_event(
        "team.ownership_transferred",
        actor=owner,
        company=company,
        subject=member,
        from_user_id=owner.id,
        to_user_id=member.user_id,
    )
    db.session.flush()
    return member
