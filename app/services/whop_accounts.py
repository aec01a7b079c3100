"""Tradepost accounts and Whop accounts: sign-in with Whop, linking, unlinking, token storage.

A Whop account (``user_…``) maps to at most one Tradepost user through a ``WhopIdentity``.
Whop refresh tokens are stored encrypted (app/crypto.py) and replaced on every refresh (Whop rotates
them). An existing Tradepost account is never linked on email alone: the person proves it
with the account's password first (see ``confirm_whop_link``). Users met only through
Whop's iframe or webhooks get an account of their own with an address under
``users.whop.invalid`` and no password, which a real account adopts when it links.
"""

from collections.abc import Mapping
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app
from requests import RequestException
from sqlalchemy import select, update

from app.clock import now
from app.crypto import DecryptionError, decrypt, encrypt
from app.errors import ServiceError
from app.extensions import db
from app.models import Membership, User, WhopIdentity
from app.services.accounts import AccountError, authenticate_user, find_user_by_email, normalize_email
from app.services.audit import record_audit_event
from app.services.sessions import revoke_user_sessions

PLACEHOLDER_EMAIL_DOMAIN = "users.whop.invalid"


class WhopAccountError(ServiceError):
    """A refusal a person can act on: `code` for tests and logs, `message` for the page."""

    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(status, code, message)


# --------------------------------------------------------------------------- token storage


def encrypt_token(value: str | None) -> str | None:
    """The stored, encrypted form of a token (None stays None)."""
    return encrypt(value) if value else None


def decrypt_token(ciphertext: str | None) -> str | None:
    """The token inside `ciphertext`, or None when it is missing or was made with another key."""
    if not ciphertext:
        return None
    try:
        return decrypt(ciphertext)
    except DecryptionError:
        return None


# --------------------------------------------------------------------------- lookups


def find_identity(whop_user_id: str) -> WhopIdentity | None:
    """The link of the Whop user `user_…` to a Tradepost user, or None."""
    return db.session.scalar(select(WhopIdentity).where(WhopIdentity.whop_user_id == whop_user_id))


def identity_of(user: User) -> WhopIdentity | None:
    """The user's link to a Whop account, or None."""
    return db.session.scalar(select(WhopIdentity).where(WhopIdentity.user_id == user.id))


def is_placeholder_email(email: str | None) -> bool:
    """Whether `email` is one we made up for a Whop user we know no address of."""
    return (email or "").endswith("@" + PLACEHOLDER_EMAIL_DOMAIN)


def _is_whop_made(identity: WhopIdentity) -> bool:
    """True when the identity's user was created for Whop and has no other way to sign in."""
    return identity.created_via != "oauth" and identity.user.password_hash is None


def _verified_email(profile: Mapping[str, Any]) -> str | None:
    if not profile.get("email") or profile.get("email_verified") is not True:
        return None
    try:
        return normalize_email(profile["email"])
    except AccountError:
        return None


def _display_name(profile: Mapping[str, Any]) -> str:
    return (profile.get("name") or profile.get("preferred_username") or "").strip()[:80] or "Whop member"


def _new_user(display_name: str, email: str) -> User:
    user = User(email=email, password_hash=None, display_name=display_name, intent="hire")
    db.session.add(user)
    db.session.flush()
    return user


def _placeholder_email(whop_user_id: str) -> str:
    return f"{whop_user_id.lower()}@{PLACEHOLDER_EMAIL_DOMAIN}"


# --------------------------------------------------------------------------- sign-in & linking


def ensure_whop_user(whop_user_id: str, *, via: str, name: str | None = None, username: str | None = None) -> User:
    """The Tradepost user of a Whop user, creating a password-less one (and its identity) on
    first sight. `via` is "iframe" or "webhook". Flushed, not committed."""
    identity = find_identity(whop_user_id)
    if identity is not None:
        return identity.user
    user = _new_user(_display_name({"name": name, "preferred_username": username}), _placeholder_email(whop_user_id))
    db.session.add(WhopIdentity(user_id=user.id, whop_user_id=whop_user_id, username=username, created_via=via))
    db.session.flush()
    record_audit_event("whop.user_created", actor=user, subject=user, whop_user_id=whop_user_id, via=via)
    return user


def sign_in_with_whop(profile: Mapping[str, Any], refresh_token: str | None = None) -> tuple[str, User]:
    """Resolve a Whop sign-in (OpenID userinfo `profile`) to a user.

    Returns ``("signed_in", user)`` for a linked account, ``("created", user)`` for a new
    account made from the profile, or ``("needs_password", user)`` when an existing account
    owns the verified email: nothing is written then, the caller asks for the password and
    calls ``confirm_whop_link``. Raises WhopAccountError for a deactivated account.
    """
    whop_user_id = profile["sub"]
    identity = find_identity(whop_user_id)
    if identity is not None:
        user = identity.user
        if not user.active:
            raise WhopAccountError("inactive", "This account is deactivated.", 403)
        _refresh_identity(identity, profile, refresh_token)
        email = _verified_email(profile)
        if is_placeholder_email(user.email) and email and find_user_by_email(email) is None:
            user.email = email
            user.email_verified_at = now()  # Whop vouches for it (email_verified)
        user.last_sign_in_at = identity.last_sign_in_at = now()
        record_audit_event("auth.whop_sign_in", actor=user, subject=user, whop_user_id=whop_user_id)
        return "signed_in", user

    email = _verified_email(profile)
    existing = find_user_by_email(email) if email else None
    if existing is not None:
        return "needs_password", existing

    user = _new_user(_display_name(profile), email or _placeholder_email(whop_user_id))
    if email:
        user.email_verified_at = now()  # Whop vouches for it (email_verified)
    identity = WhopIdentity(user_id=user.id, whop_user_id=whop_user_id, created_via="oauth")
    db.session.add(identity)
    _refresh_identity(identity, profile, refresh_token)
    user.last_sign_in_at = identity.last_sign_in_at = now()
    record_audit_event("auth.sign_up", actor=user, subject=user, via="whop")
    record_audit_event("auth.whop_sign_in", actor=user, subject=user, whop_user_id=whop_user_id)
    return "created", user


def _refresh_identity(identity: WhopIdentity, profile: Mapping[str, Any], refresh_token: str | None) -> None:
    identity.username = (profile.get("preferred_username") or identity.username or "")[:64] or None
    identity.email = _verified_email(profile) or identity.email
    if refresh_token:
        identity.refresh_token_encrypted = encrypt_token(refresh_token)
    db.session.flush()


def link_whop_identity(user: User, profile: Mapping[str, Any], refresh_token: str | None = None) -> WhopIdentity:
    """Link the Whop account in `profile` to `user` (who has proved they own `user`).

    A Whop account already linked elsewhere is refused, unless that other account was only
    made for Whop (iframe/webhook, no password): then `user` adopts it and its Whop
    memberships. Relinking the same account refreshes it. Audited as "whop.linked".
    """
    whop_user_id = profile["sub"]
    own = identity_of(user)
    if own is not None and own.whop_user_id != whop_user_id:
        raise WhopAccountError(
            "already_linked", "Your account is already linked to another Whop account. Unlink it first."
        )
    identity = find_identity(whop_user_id)
    if identity is not None and identity.user_id != user.id:
        if not _is_whop_made(identity):
            raise WhopAccountError("taken", "That Whop account is linked to another Tradepost account.")
        _adopt(identity, user)
    if identity is None:
        identity = WhopIdentity(user_id=user.id, whop_user_id=whop_user_id, created_via="oauth")
        db.session.add(identity)
    _refresh_identity(identity, profile, refresh_token)
    record_audit_event("whop.linked", actor=user, subject=user, whop_user_id=whop_user_id)
    return identity


def _adopt(identity: WhopIdentity, user: User) -> None:
    """Move a Whop-made account's identity and Whop memberships to `user`; retire it."""
    old_user = identity.user
    db.session.execute(
        update(Membership)
        .where(Membership.buyer_id == old_user.id, Membership.source == "whop")
        .values(buyer_id=user.id)
        .execution_options(synchronize_session=False)
    )
    identity.user_id = user.id
    identity.created_via = "oauth"
    old_user.active = False
    revoke_user_sessions(old_user, "deactivated")
    db.session.flush()
    db.session.expire(identity)
    record_audit_event("whop.account_adopted", actor=user, subject=old_user, whop_user_id=identity.whop_user_id)


def confirm_whop_link(user_id: int, password: str | None, pending: Mapping[str, Any]) -> User | None:
    """Link the pending Whop account after checking the password of account `user_id`.

    `pending` holds the profile fields and the encrypted refresh token stashed at callback.
    Returns the user, or None on a wrong password (audited as a failed sign-in).
    """
    user = db.session.get(User, user_id)
    if user is None:
        return None
    if authenticate_user(user.email, password) is None:
        return None
    profile = {
        "sub": pending["whop_user_id"],
        "preferred_username": pending.get("username"),
        "email": pending.get("email"),
        "email_verified": bool(pending.get("email")),
    }
    identity = link_whop_identity(user, profile)
    if pending.get("refresh_token_encrypted"):
        identity.refresh_token_encrypted = pending["refresh_token_encrypted"]
    identity.last_sign_in_at = now()
    record_audit_event("auth.whop_sign_in", actor=user, subject=user, whop_user_id=identity.whop_user_id)
    return user


def unlink_whop_identity(user: User) -> None:
    """Remove the user's Whop link. Refused when it is the account's only way to sign in."""
    identity = identity_of(user)
    if identity is None:
        raise WhopAccountError("not_linked", "Your account isn't linked to Whop.", 404)
    if user.password_hash is None:
        raise WhopAccountError(
            "only_sign_in",
            "You sign in only with Whop, so the link can't be removed: it is how you get into your account.",
        )
    whop_user_id = identity.whop_user_id
    db.session.delete(identity)
    db.session.flush()
    record_audit_event("whop.unlinked", actor=user, subject=user, whop_user_id=whop_user_id)


# --------------------------------------------------------------------------- token refresh


def _oauth_session(**kwargs: Any) -> OAuth2Session:
    config = current_app.config
    return OAuth2Session(config["WHOP_CLIENT_ID"], config["WHOP_CLIENT_SECRET"], **kwargs)


def sync_whop_profile(identity: WhopIdentity) -> WhopAccountError | None:
    """Refresh the identity's tokens (storing the rotated refresh token) and re-read its profile.

    Returns None when done, else the WhopAccountError saying what went wrong: "reconnect" when
    Whop refuses the stored refresh token (which is then forgotten), "unreachable", "mismatch".
    It is returned, not raised, because what changed before the failure (a rotated or a
    forgotten refresh token) must be committed either way.
    """
    try:
        _sync_whop_profile(identity)
    except WhopAccountError as exc:
        return exc
    return None


def _sync_whop_profile(identity: WhopIdentity) -> WhopIdentity:
    refresh_token = decrypt_token(identity.refresh_token_encrypted)
    if not refresh_token:
        raise WhopAccountError("reconnect", "Sign in with Whop again to refresh your Whop profile.")
    base = current_app.config["WHOP_API_BASE"].rstrip("/")
    try:
        with _oauth_session() as session:
            token = session.refresh_token(base + "/oauth/token", refresh_token=refresh_token)
            identity.refresh_token_encrypted = encrypt_token(token["refresh_token"])
            response = session.get(base + "/oauth/userinfo", timeout=10)
            response.raise_for_status()
            profile = response.json()
    except OAuthError:
        identity.refresh_token_encrypted = None
        db.session.flush()
        raise WhopAccountError(
            "reconnect", "Whop no longer accepts this link. Sign in with Whop again to reconnect."
        ) from None
    except RequestException:
        raise WhopAccountError("unreachable", "Whop can't be reached right now. Try again soon.", 503) from None
    if profile.get("sub") != identity.whop_user_id:
        raise WhopAccountError("mismatch", "Whop answered for a different account.", 502)
    _refresh_identity(identity, profile, None)
    return identity
