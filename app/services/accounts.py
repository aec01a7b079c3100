"""Accounts: sign-up, sign-in and admin rights."""

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select

from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.models import User
from app.services.audit import record_audit_event
from app.services.sessions import revoke_user_sessions

MIN_PASSWORD_LENGTH = 10


def _hasher() -> PasswordHasher:
    """The app's Argon2 hasher (RFC 9106 low-memory defaults; cheaper parameters in tests)."""
    hasher = current_app.extensions.get("password_hasher")
    if hasher is None:
        profile = current_app.config.get("ARGON2_PROFILE")
        hasher = PasswordHasher.from_parameters(getattr(profiles, profile)) if profile else PasswordHasher()
        current_app.extensions["password_hasher"] = hasher
        # Verified against when an email is unknown, so a miss costs as much as a hit.
        current_app.extensions["password_dummy_hash"] = hasher.hash("tradepost-timing-equaliser")
    return hasher


class AccountError(ServiceError):
    """A refusal a person can act on; `field` names the form field at fault (422)."""

    def __init__(self, field: str, message: str):
        super().__init__(422, "account_refused", message, field=field)


class VerificationRequired(ServiceError):
    """Selling and withdrawing wait until the account's email address is confirmed (403)."""

    def __init__(self, action: str):
        super().__init__(
            403,
            "email_unverified",
            f"Confirm your email address before {action}: open the link we emailed you, or send a new one.",
        )


def require_verified_email(user: User, action: str) -> None:
    """Refuse (VerificationRequired) unless `user` has confirmed their email address."""
    if not user.email_verified:
        raise VerificationRequired(action)


def normalize_email(raw: str | None) -> str:
    """Validated, normalised and lower-cased email, or AccountError."""
    try:
        result = validate_email((raw or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError("email", str(exc)) from None
    return result.normalized.lower()


def find_user_by_email(email: str) -> User | None:
    """The user with this (normalised) email, or None."""
    return db.session.scalar(select(User).where(User.email == email))


def hash_password(password: str) -> str:
    """An Argon2 hash of `password` with the app's parameters."""
    return _hasher().hash(password)


def register_user(email: str | None, password: str | None, display_name: str | None, intent: str = "hire") -> User:
    """Create a user with an Argon2 password hash; raises AccountError and writes nothing on bad input."""
    email = normalize_email(email)
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if intent not in ("hire", "sell"):
        raise AccountError("intent", "Choose whether you want to hire or to sell.")
    if find_user_by_email(email) is not None:
        raise AccountError("email", "An account with this email already exists. Sign in instead.")
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=(display_name or "").strip() or email.split("@")[0],
        intent=intent,
    )
    db.session.add(user)
    db.session.flush()
    record_audit_event("auth.sign_up", actor=user, subject=user)
    return user


def authenticate_user(email: str | None, password: str | None) -> User | None:
    """The user whose password matches, or None. Both outcomes are written to the audit log."""
    try:
        email = normalize_email(email)
    except AccountError:
        email = (email or "").strip().lower()
    user = find_user_by_email(email)
    hasher = _hasher()
    try:
        dummy = current_app.extensions["password_dummy_hash"]
        hasher.verify(user.password_hash if user and user.password_hash else dummy, password or "")
        ok = user is not None and user.password_hash is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or user.password_hash is None:
        record_audit_event("auth.sign_in_failed", actor=user, email=email)
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password or "")
    user.last_sign_in_at = now()
    record_audit_event("auth.sign_in", actor=user, subject=user)
    return user


def check_password(user: User, password: str | None) -> bool:
    """Whether `password` is `user`'s current password (False for accounts without one)."""
    if user.password_hash is None:
        return False
    try:
        return _hasher().verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def change_password(user: User, current_password: str | None, new_password: str | None) -> int:
    """Give `user` a new password once the current one checks out, and end every session of
    the user (the caller signs the browser that asked in again). Audited. Raises AccountError
    naming the field and writes nothing when the current password is wrong or the new one short.
    """
    if user.password_hash is None:
        raise AccountError("current_password", "This account has no password yet: you sign in with Whop.")
    try:
        _hasher().verify(user.password_hash, current_password or "")
    except (VerificationError, InvalidHashError):
        raise AccountError("current_password", "That isn't your current password.") from None
    new_password = new_password or ""
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise AccountError("new_password", f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    user.password_hash = hash_password(new_password)
    ended = revoke_user_sessions(user, "password_changed")
    record_audit_event("auth.password_changed", actor=user, subject=user, sessions_ended=ended)
    return ended


def grant_admin(email: str) -> User:
    """Make the user with this email an admin; raises AccountError if there is none."""
    user = find_user_by_email(normalize_email(email))
    if user is None:
        raise AccountError("email", f"No user with email {email}.")
    user.is_admin = True
    record_audit_event("admin.granted", subject=user)
    db.session.flush()
    return user
