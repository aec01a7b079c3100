"""Signed-in sessions: start one per sign-in, find the active one for a cookie's token, end them.

A session is a `user_sessions` row. The browser holds a random token (in Flask-Login's session
cookie and, with "Keep me signed in", its remember cookie); the row holds only the token's
SHA-256, so a database leak signs nobody in. A session is active while it is not revoked, not
expired and its user is active; anything else means signed out.

Lifetimes (settings, see README "Sessions"):
- "Keep me signed in": `REMEMBER_COOKIE_DURATION` (30 days) from sign-in, fixed.
- otherwise: ends after `USER_SESSION_IDLE_TIMEOUT` (8 h) without a request and at the latest
  `USER_SESSION_MAX_AGE` (7 days) after sign-in. Idle time is measured from `last_seen_at`,
  which is written at most every `TOUCH_INTERVAL` (5 min), so a session may end up to that
  much before a full idle timeout has passed.
"""

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import joinedload

from app.clock import now
from app.extensions import db, rows_matched
from app.models import User, UserSession
from app.services.audit import record_audit_event

TOUCH_INTERVAL = timedelta(minutes=5)
TOKEN_BYTES = 32


def hash_session_token(token: str) -> str:
    """The stored form of a session token (hex SHA-256; the token has 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _lifetimes() -> tuple[timedelta, timedelta, timedelta]:
    config = current_app.config
    return (config["REMEMBER_COOKIE_DURATION"], config["USER_SESSION_IDLE_TIMEOUT"], config["USER_SESSION_MAX_AGE"])


def _plain_expiry(created_at: datetime, moment: datetime) -> datetime:
    """Where a session without "Keep me signed in" ends if nothing happens after `moment`."""
    _, idle, max_age = _lifetimes()
    return min(moment + idle, created_at + max_age)


def start_user_session(
    user: User, *, method: str, remember: bool = False, ip_address: str | None = None, user_agent: str | None = None
) -> tuple[UserSession, str]:
    """Create an active session for `user`; returns (row, token). Flushed, not committed.

    The token is returned once and set on `user.session_token` (what Flask-Login stores);
    only its hash is written.
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    moment = now()
    remember_for, _, _ = _lifetimes()
    row = UserSession(
        user_id=user.id,
        token_hash=hash_session_token(token),
        sign_in_method=method,
        remember=bool(remember),
        ip_address=(ip_address or None) and ip_address[:45],
        user_agent=summarize_user_agent(user_agent),
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + remember_for if remember else _plain_expiry(moment, moment),
    )
    db.session.add(row)
    db.session.flush()
    user.session_token = token
    return row, token


def find_active_session(token: str | None) -> tuple[User, UserSession] | None:
    """(user, row) for an active session with this token, else None. Exactly one indexed query, which
    also loads the user's memberships and their companies.

    Revoked, expired and unknown tokens, and sessions of deactivated users, all answer None.
    """
    if not token or not isinstance(token, str) or len(token) > 128:
        return None
    found = (
        db.session.execute(
            select(User, UserSession)
            .join(UserSession, UserSession.user_id == User.id)
            .where(
                UserSession.token_hash == hash_session_token(token),
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now(),
                User.active.is_(True),
            )
            # Every signed-in page shows the user's seller company (base.html): the memberships,
            # with their companies, come in this same statement rather than in one more.
            .options(joinedload(User.memberships))
        )
        .unique()
        .all()
    )
    if not found:
        return None
    user, row = found[0]
    user.session_token = token
    return user, row


def touch_user_session(row: UserSession) -> bool:
    """Record activity on `row` if the last record is older than TOUCH_INTERVAL.

    Slides a plain session's idle expiry forward (never past its maximum age); a remembered
    session keeps its fixed expiry. Returns True when it wrote something.
    """
    moment = now()
    if moment - row.last_seen_at < TOUCH_INTERVAL:
        return False
    values = {"last_seen_at": moment}
    if not row.remember:
        values["expires_at"] = _plain_expiry(row.created_at, moment)
    matched = rows_matched(
        update(UserSession)
        .where(
            UserSession.id == row.id,
            UserSession.revoked_at.is_(None),
            UserSession.last_seen_at < moment - TOUCH_INTERVAL,
        )
        .values(**values)
        # Recording activity grants nothing: cached identities stay valid (app/identity_cache.py).
        .execution_options(synchronize_session=False, generation_unaffected=True)
    )
    return matched == 1


def _revoke(conditions: Sequence[ColumnElement[bool]], reason: str) -> int:
    """Revoke the active sessions matching `conditions` in one UPDATE; returns how many."""
    moment = now()
    ended = db.session.scalars(
        update(UserSession)
        .where(*conditions, UserSession.revoked_at.is_(None), UserSession.expires_at > moment)
        .values(revoked_at=moment, revoked_reason=reason)
        .returning(UserSession.id)
        .execution_options(synchronize_session="fetch")
    ).all()
    return len(ended)


def revoke_user_sessions(user: User, reason: str, *, keep: UserSession | None = None) -> int:
    """End every active session of `user` (except `keep`, a row); returns how many ended."""
    conditions = [UserSession.user_id == user.id]
    if keep is not None:
        conditions.append(UserSession.id != keep.id)
    return _revoke(conditions, reason)


def end_user_session(row: UserSession, reason: str) -> bool:
    """End the one session `row` (if still active) for `reason`; returns whether it ended."""
    return _revoke([UserSession.id == row.id], reason) == 1


def sign_out_session(user: User, row: UserSession | None) -> None:
    """End the session `row` of `user` because they signed out; audited."""
    if row is not None:
        _revoke([UserSession.id == row.id, UserSession.user_id == user.id], "sign_out")
    record_audit_event("auth.sign_out", actor=user, subject=user, session_id=row.id if row is not None else None)


def sign_out_everywhere(user: User) -> int:
    """End every session of `user`, this one included; audited. Returns how many ended."""
    count = revoke_user_sessions(user, "sign_out_everywhere")
    record_audit_event("auth.sign_out_everywhere", actor=user, subject=user, sessions_ended=count)
    return count


def revoke_session_of(user: User, session_id: int) -> UserSession | None:
    """End `user`'s active session `session_id`; audited. None when `user` has no such
    active session (another user's, unknown, expired or already ended)."""
    row = db.session.scalar(select(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id))
    if row is None or not row.is_active_at(now()):
        return None
    end_user_session(row, "revoked")
    record_audit_event("auth.session_revoked", actor=user, subject=user, session_id=session_id)
    return row


def list_active_sessions(user: User) -> Sequence[UserSession]:
    """`user`'s active sessions, most recently used first."""
    return db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None), UserSession.expires_at > now())
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ).all()


# --------------------------------------------------------------------------- user agents

_BROWSERS = (  # checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari"
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)
_PRODUCT = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,39}")


def summarize_user_agent(raw: str | None) -> str | None:
    """A short, display-safe description of a User-Agent header ("Firefox on Linux"), or None.

    Only the summary is stored: the full header is a fingerprint we do not need.
    """
    if not raw:
        return None
    raw = raw[:512]
    browser = next((name for marker, name in _BROWSERS if marker in raw), None)
    system = next((name for marker, name in _SYSTEMS if marker in raw), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or f"Browser on {system}"
    match = _PRODUCT.match(raw.strip())
    return match.group(0) if match else "Unknown device"
