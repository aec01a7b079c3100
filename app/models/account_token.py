"""Single-use links we email: verify an address, reset a password, confirm a new address."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.mixins import CreatedAt
from app.models.types import UTCDateTime, string_enum

TOKEN_PURPOSES = ("verify_email", "reset_password", "change_email")


class AccountToken(CreatedAt, Model):
    """One emailed link. The link holds a random token; only its SHA-256 is stored.

    Usable while `used_at` is NULL and `expires_at` is in the future; using it sets `used_at`
    with a conditional UPDATE, so two clicks at once cannot both succeed. `email` is the
    address the link was sent to (for change_email: the new address, applied on use).
    """

    __tablename__ = "account_tokens"
    __table_args__ = (Index("ix_account_tokens_user_id_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(string_enum(TOKEN_PURPOSES, "purpose", 16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self):
        return f"<AccountToken {self.id} {self.purpose} user={self.user_id}>"
