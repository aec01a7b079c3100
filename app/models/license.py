"""License keys: a product's license policy, the keys buyers hold, and the machines using them.

A key is stored twice: `key_hash` (sha256 of the normalised key, unique) is what the public
API looks keys up by; `key_encrypted` (app/crypto.py, see services/licensing/license_keys.py) lets the buyer and
the seller read the key again in their pages. The plain key never reaches the database.
"""

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import now
from app.extensions import Model
from app.models.mixins import CreatedAt, Timestamps
from app.models.types import UTCDateTime, between, string_enum
from app.tenancy import TenantOwned

LICENSE_STATUSES = ("active", "suspended", "revoked")
KEY_FORMATS = ("grouped", "compact")
MAX_ACTIVATIONS_LIMIT = 1000
MAX_DURATION_DAYS = 3650


class LicensePolicy(TenantOwned, Timestamps, Model):
    """How keys of one product behave; a product without an enabled policy issues no keys."""

    __tablename__ = "license_policies"
    __table_args__ = (
        between("max_activations", 1, MAX_ACTIVATIONS_LIMIT),
        between("duration_days", 1, MAX_DURATION_DAYS, nullable=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    max_activations: Mapped[int] = mapped_column(default=1)
    duration_days: Mapped[int | None] = mapped_column()
    key_prefix: Mapped[str] = mapped_column(String(6), default="TP")
    key_format: Mapped[str] = mapped_column(string_enum(KEY_FORMATS, "key_format"), default="grouped")

    product = relationship("Product")


class LicenseTerms:
    """When a key works, from its `status`, `expires_at` and `access_ends_at`: shared by the
    License model and the plain rows the public API reads (services/licensing/records.py)."""

    __slots__ = ()

    if TYPE_CHECKING:
        status: str
        expires_at: datetime | None
        access_ends_at: datetime | None

    @property
    def effective_expires_at(self):
        """The earlier of the key's own expiry and the end of its subscription's access."""
        ends = [moment for moment in (self.expires_at, self.access_ends_at) if moment is not None]
        return min(ends) if ends else None

    def is_expired(self, at=None):
        ends = self.effective_expires_at
        return ends is not None and (at or now()) >= ends

    def display_status(self, at=None):
        """active / suspended / revoked / expired, as a person would say it."""
        if self.status == "active" and self.is_expired(at):
            return "expired"
        return self.status


class License(TenantOwned, Timestamps, LicenseTerms, Model):
    """One key per membership. Valid while active and before its effective expiry."""

    __tablename__ = "licenses"
    __table_args__ = (
        between("max_activations", 1, MAX_ACTIVATIONS_LIMIT),
        CheckConstraint("activation_count >= 0", name="activation_count"),
        CheckConstraint("reset_count >= 0", name="reset_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("memberships.id"), unique=True)
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_encrypted: Mapped[str] = mapped_column(Text)
    key_hint: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(string_enum(LICENSE_STATUSES, "status"), default="active")
    max_activations: Mapped[int] = mapped_column(default=1)
    activation_count: Mapped[int] = mapped_column(default=0)
    reset_count: Mapped[int] = mapped_column(default=0)
    # The key's own end (policy duration from purchase, extended by the seller); None = never.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For subscription keys: the end of the paid period (plus grace), or when access ended.
    access_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    product = relationship("Product")
    buyer = relationship("User")
    membership = relationship("Membership")
    activations = relationship(
        "LicenseActivation",
        back_populates="license",
        order_by="LicenseActivation.created_at",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class LicenseActivation(TenantOwned, CreatedAt, Model):
    """A machine (identified by the client's fingerprint) using a license key."""

    __tablename__ = "license_activations"
    __table_args__ = (UniqueConstraint("license_id", "fingerprint", name="uq_license_activations_fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))

    license = relationship("License", back_populates="activations")
