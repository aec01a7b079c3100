"""An account's life after sign-up: proving the email address, resetting a forgotten
password, changing name and email, and deleting the account.

Emailed links are `account_tokens` rows (app/models/account_token.py): a random token in the
link, its SHA-256 in the row, one purpose, an expiry, single use. Using a link is one
conditional UPDATE (`used_at IS NULL AND expires_at > now`), so a link clicked twice at once
works once. A link opened in a browser signed in as someone else is refused: it belongs to
the other account.

Everything here flushes and never commits; emails go through the outbox (app/services/mail.py)
and so only if the caller commits. Refusals are AccountError (422, naming the field) or
LinkError (410 for a used or expired link, 404 for an unknown one, 403 for another account's).
"""

import hashlib
import secrets
import unicodedata
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update

from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.models import AccountToken, CompanyMember, Membership, Order, Payout, User, WhopIdentity
from app.models.order import UNDER_WAY_STATUSES
from app.models.product import ACCESS_STATUSES
from app.services.accounts import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    check_password,
    find_user_by_email,
    hash_password,
    normalize_email,
)
from app.services.audit import record_audit_event
from app.services.ledger import company_balances
from app.services.mail import app_url, send_template
from app.services.sessions import revoke_user_sessions

# The links we email, by purpose: how long one stays valid, its email template, and the
# account_links endpoint it opens.
LINKS: dict[str, tuple[timedelta, str, str]] = {
    "verify_email": (timedelta(hours=48), "verify_email", "verify_email"),
    "reset_password": (timedelta(hours=1), "password_reset", "reset_password"),
    "change_email": (timedelta(hours=24), "email_change", "confirm_email_change"),
}
MAX_NAME_LENGTH = 80
MAX_PASSWORD_LENGTH = 1000
TOKEN_BYTES = 32
# Orders still under way: an account with one of these (as buyer or seller) cannot be deleted.
OPEN_ORDER_STATUSES = UNDER_WAY_STATUSES
DELETED_NAME = "Deleted user"


class LinkError(ServiceError):
    """An emailed link that cannot be used (any more)."""

    def __init__(self, status: int, message: str):
        super().__init__(status, "link_refused", message, field="token")


def _describe(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def hash_link_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_link(user: User, purpose: str, email: str, valid_for: timedelta) -> str:
    """A fresh link token for `user` and `purpose` to mail to `email` (valid `valid_for`);
    earlier unused ones of that purpose end. Flushed."""
    moment = now()
    db.session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > moment,
        )
        .values(expires_at=moment)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=hash_link_token(token),
            email=email,
            created_at=moment,
            expires_at=moment + valid_for,
        )
    )
    db.session.flush()
    return token


def find_link(token: str | None, purpose: str, signed_in: User | None = None) -> AccountToken:
    """The usable link row for `token`, without using it; LinkError otherwise."""
    if not token or not isinstance(token, str) or len(token) > 128:
        raise LinkError(404, "This link is not valid. Check that you copied all of it.")
    row = db.session.scalar(
        select(AccountToken).where(AccountToken.token_hash == hash_link_token(token), AccountToken.purpose == purpose)
    )
    if row is None:
        raise LinkError(404, "This link is not valid. Check that you copied all of it.")
    if signed_in is not None and row.user_id != signed_in.id:
        raise LinkError(403, "This link belongs to another account. Sign out, then open it again.")
    if row.used_at is not None:
        raise LinkError(410, "This link has already been used. Ask for a new one.")
    if row.expires_at <= now():
        raise LinkError(410, "This link has expired. Ask for a new one.")
    return row


def _use(token: str | None, purpose: str, signed_in: User | None) -> tuple[AccountToken, User]:
    """Use the link once (conditional UPDATE); (row, its user). LinkError when it can't be."""
    row = find_link(token, purpose, signed_in)
    used = db.session.scalar(
        update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None), AccountToken.expires_at > now())
        .values(used_at=now())
        .returning(AccountToken.id)
        .execution_options(synchronize_session=False)
    )
    if used is None:
        raise LinkError(410, "This link has already been used. Ask for a new one.")
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        raise LinkError(410, "This account is closed.")
    return row, user


def _email_link(user: User, purpose: str, to: str | None = None) -> None:
    """Issue `user` a `purpose` link (LINKS: how long it is valid, which endpoint it opens) and
    email it with the purpose's template: to the account's address, or to `to` (a new address
    being confirmed)."""
    valid_for, template, endpoint = LINKS[purpose]
    token = issue_link(user, purpose, to or user.email, valid_for)
    send_template(
        to or user,
        template,
        user=user if to else None,
        link=app_url(f"account_links.{endpoint}", token=token),
        valid_for=_describe(valid_for),
    )


# -- email verification ------------------------------------------------------------------------------


def send_verification_email(user: User) -> bool:
    """Email `user` a link that confirms their address (valid LINKS["verify_email"]; earlier links
    end). Returns False and sends nothing when the address is already confirmed."""
    if user.email_verified:
        return False
    _email_link(user, "verify_email")
    return True


def verify_email(token: str | None, signed_in: User | None = None) -> User:
    """Confirm the address a verification link was sent to; audited. LinkError when the link
    is unknown, used, expired, another account's, or for an address the account no longer has."""
    row, user = _use(token, "verify_email", signed_in)
    if row.email != user.email:
        raise LinkError(410, "This link was for an address your account no longer uses.")
    if user.email_verified_at is None:
        user.email_verified_at = now()
    record_audit_event("account.email_verified", actor=user, subject=user, email=user.email)
    db.session.flush()
    return user


# -- password reset ----------------------------------------------------------------------------------


def request_password_reset(raw_email: str | None) -> None:
    """Email a single-use reset link (valid LINKS["reset_password"]) to the account with this
    address, if there is one. The caller's answer must be the same either way: this returns
    nothing and only refuses an address that is not one (AccountError on "email")."""
    email = normalize_email(raw_email)
    user = find_user_by_email(email)
    if user is None or not user.active:
        return
    _email_link(user, "reset_password")
    record_audit_event("auth.password_reset_requested", actor=user, subject=user)


def _check_new_password(password: str | None, field: str) -> str:
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(field, f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(field, f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    return password


def reset_password(token: str | None, new_password: str | None, signed_in: User | None = None) -> User:
    """Set a new password with a reset link (used up) and end every session of the account;
    audited. The link proves the mailbox, so the address counts as confirmed. Refuses a short
    password before touching the link (AccountError), and a bad link (LinkError)."""
    password = _check_new_password(new_password, "password")
    row, user = _use(token, "reset_password", signed_in)
    user.password_hash = hash_password(password)
    if row.email == user.email and user.email_verified_at is None:
        user.email_verified_at = now()
    ended = revoke_user_sessions(user, "password_changed")
    record_audit_event("auth.password_reset", actor=user, subject=user, sessions_ended=ended)
    db.session.flush()
    return user


# -- settings: name and email --------------------------------------------------------------------------


def clean_display_name(raw: str | None) -> str:
    """A display name: 1 to MAX_NAME_LENGTH printable characters (AccountError on "display_name")."""
    name = " ".join((raw or "").split())
    if not name:
        raise AccountError("display_name", "Enter your name.")
    if len(name) > MAX_NAME_LENGTH:
        raise AccountError("display_name", f"Use at most {MAX_NAME_LENGTH} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise AccountError("display_name", "Use letters, numbers and punctuation only.")
    return name


def update_profile(user: User, display_name: str | None) -> User:
    """Rename `user`; flushed."""
    user.display_name = clean_display_name(display_name)
    db.session.flush()
    return user


def request_email_change(user: User, new_email: str | None, current_password: str | None) -> str:
    """Email a confirmation link to the new address; the account keeps its address until the
    link is opened. Needs the current password. Returns the normalised new address."""
    email = normalize_email(new_email)
    if email == user.email:
        raise AccountError("email", "That is already your email address.")
    if not check_password(user, current_password):
        raise AccountError("current_password", "That isn't your current password.")
    if find_user_by_email(email) is not None:
        raise AccountError("email", "Another account uses this email address.")
    _email_link(user, "change_email", to=email)
    record_audit_event("account.email_change_requested", actor=user, subject=user, new_email=email)
    return email


def confirm_email_change(token: str | None, signed_in: User | None = None) -> User:
    """Apply the new address an email-change link was sent to (now confirmed), and tell the old
    address; audited. LinkError for a bad link, AccountError when the address was taken since."""
    row, user = _use(token, "change_email", signed_in)
    if find_user_by_email(row.email) is not None:
        raise AccountError("email", "Another account uses this email address now.")
    old = user.email
    user.email, user.email_verified_at = row.email, now()
    db.session.flush()
    send_template(
        old,
        "email_changed",
        user=user,
        new_email=user.email,
        reset_link=app_url("account_links.forgot_password"),
    )
    record_audit_event("account.email_changed", actor=user, subject=user, old_email=old, new_email=user.email)
    return user


# -- deletion ------------------------------------------------------------------------------------------


def _count(model: type[Any], *where: ColumnElement[bool]) -> int:
    """How many rows of `model` match, across every company (account deletion looks at all of them)."""
    return (
        db.session.scalar(
            select(func.count()).select_from(model).where(*where).execution_options(skip_tenant_scope=True)
        )
        or 0
    )


def deletion_blockers(user: User) -> list[str]:
    """Why `user`'s account cannot be deleted now (empty when it can)."""
    reasons = []
    open_purchases = _count(Order, Order.buyer_id == user.id, Order.status.in_(OPEN_ORDER_STATUSES))
    if open_purchases:
        reasons.append(f"You have {open_purchases} order(s) in progress as a buyer.")
    subscriptions = _count(Membership, Membership.buyer_id == user.id, Membership.status.in_(ACCESS_STATUSES))
    if subscriptions:
        reasons.append(f"You have {subscriptions} active membership(s) or subscription(s): cancel them first.")
    for membership in user.memberships:
        company = membership.company
        if membership.role != "owner" or company.kind != "seller":
            continue
        open_sales = _count(Order, Order.company_id == company.id, Order.status.in_(OPEN_ORDER_STATUSES))
        if open_sales:
            reasons.append(f"{company.title} has {open_sales} order(s) in progress.")
        balances = company_balances(company.id)
        if any(balances.values()):
            reasons.append(f"{company.title} still holds money (escrow, pending or available): withdraw it first.")
        pending_payouts = _count(Payout, Payout.company_id == company.id, Payout.status == "pending")
        if pending_payouts:
            reasons.append(f"{company.title} has a payout on its way.")
    return reasons


def delete_account(user: User, password: str | None, confirmation: str | None) -> User:
    """Delete `user`'s account, keeping what the books need: the row stays (orders, payments,
    refunds and the ledger refer to it, untouched) with its personal data replaced, and every
    session, emailed link, Whop link and company membership of it ends; audited.

    Refused (AccountError) without the account's password (Whop-only accounts: without the
    word DELETE), and while deletion_blockers() has reasons: orders in progress, active
    memberships, money held by a company the user owns, a payout on its way.
    """
    if (confirmation or "").strip() != "DELETE":
        raise AccountError("confirmation", "Type DELETE to confirm.")
    if user.password_hash is not None and not check_password(user, password):
        raise AccountError("password", "That isn't your current password.")
    reasons = deletion_blockers(user)
    if reasons:
        raise ServiceError(409, "account_busy", " ".join(reasons), field="confirmation")
    old_email = user.email
    revoke_user_sessions(user, "deactivated")
    db.session.execute(delete(AccountToken).where(AccountToken.user_id == user.id))
    db.session.execute(delete(WhopIdentity).where(WhopIdentity.user_id == user.id))
    db.session.execute(delete(CompanyMember).where(CompanyMember.user_id == user.id))
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.display_name = DELETED_NAME
    user.password_hash = None
    user.active = False
    user.is_admin = False
    user.email_verified_at = None
    user.deleted_at = now()
    record_audit_event("account.deleted", actor=user, subject=user, email_domain=old_email.rpartition("@")[2])
    db.session.flush()
    db.session.expire(user, ["memberships"])
    return user
