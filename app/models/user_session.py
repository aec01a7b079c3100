"""Signed-in sessions: one row per sign-in, checked on every request (see app/session_auth.py)."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import now
from app.extensions import Model
from app.models.mixins import CreatedAt
from app.models.types import UTCDateTime, string_enum

SIGN_IN_METHODS = ("password", "sign_up", "whop")
# Why a session ended early; expiry needs no reason (expires_at says it).
REVOKE_REASONS = ("sign_out", "sign_out_everywhere", "password_changed", "revoked", "replaced", "deactivated")


class UserSession(CreatedAt, Model):
    """A browser's signed-in session. The cookie holds a random token; only its SHA-256 is stored.

    Active while `revoked_at` is NULL, `expires_at` is in the future and the user is active.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (
        CheckConstraint("(revoked_at IS NULL) = (revoked_reason IS NULL)", name="revoked_with_reason"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        Index("ix_user_sessions_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sign_in_method: Mapped[str] = mapped_column(string_enum(SIGN_IN_METHODS, "sign_in_method"))
    remember: Mapped[bool] = mapped_column(default=False)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(120))
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(string_enum(REVOKE_REASONS, "revoked_reason", 24))

    def is_active_at(self, moment):
        return self.revoked_at is None and self.expires_at > moment

    def __repr__(self):
        return f"<UserSession {self.id} user={self.user_id}>"
