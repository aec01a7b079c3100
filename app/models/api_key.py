"""API keys of the public REST API (/api/v1), and the answers kept for its Idempotency-Key.

A key is `tp_sk_live_<secret>` or `tp_sk_test_<secret>` (the prefix makes a leaked key easy
to scan for). Only `key_hash` (sha256 of the whole key, unique) is stored: the key is shown
once, when it is created, and looked up by its hash afterwards. `key_hint` keeps the last
four characters so people can tell their keys apart.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import now
from app.extensions import Model
from app.models.mixins import CreatedAt, user_reference
from app.models.types import UTCDateTime, string_enum
from app.tenancy import TenantOwned

API_KEY_MODES = ("live", "test")
# Every scope a key may hold; the API checks one per endpoint.
API_SCOPES = (
    "products:read",
    "memberships:read",
    "payments:read",
    "orders:read",
    "customers:read",
    "licenses:read",
    "licenses:write",
    "webhooks:read",
    "webhooks:write",
    "affiliates:read",
    "legends:read",
)
READ_SCOPES = tuple(scope for scope in API_SCOPES if scope.endswith(":read"))


class ApiKey(TenantOwned, CreatedAt, Model):
    """One secret key of a company: its scopes, mode, expiry, last use and revocation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    mode: Mapped[str] = mapped_column(string_enum(API_KEY_MODES, "mode"), default="live")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(4))
    # Space-separated, each one of API_SCOPES.
    scopes: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = user_reference()
    # The key this one replaced when it was rolled (the old one stays valid for the overlap).
    rolled_from_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    # The app installation the key belongs to (apps); NULL for keys made by people.
    app_installation_id: Mapped[int | None] = mapped_column(Integer, index=True)

    created_by = relationship("User")

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def prefix(self) -> str:
        return f"tp_sk_{self.mode}_"

    @property
    def display(self) -> str:
        """How pages show the key: its prefix and last four characters."""
        return f"{self.prefix}…{self.key_hint}"

    def is_expired(self, at: datetime | None = None) -> bool:
        return self.expires_at is not None and (at or now()) >= self.expires_at

    def is_usable(self, at: datetime | None = None) -> bool:
        return self.revoked_at is None and not self.is_expired(at)

    def display_status(self, at: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired(at) else "active"


class ApiIdempotencyKey(CreatedAt, Model):
    """The stored answer of one POST made with an `Idempotency-Key`, per API key (24 h).

    Written in the same transaction as the POST's effect, so two requests with the same key
    make one effect: the second waits on the unique index, then replays the first's answer.
    """

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key", name="uq_api_idempotency_keys_key"),
        Index("ix_api_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # sha256 of method, path and body: the same key with another request is refused (409).
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column()
    response_body: Mapped[str] = mapped_column(Text)
