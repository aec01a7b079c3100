"""Companies are tenants: the platform itself, and one company per seller."""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.mixins import CreatedAt, user_reference
from app.models.types import UTCDateTime, string_enum
from app.payments.gateway import new_idempotency_key
from app.tenancy import TenantOwned

COMPANY_KINDS = ("platform", "seller")
COMPANY_STATUSES = ("active", "suspended")
KYC_STATUSES = ("unstarted", "pending", "verified", "failed")
MEMBER_ROLES = ("owner", "admin", "member")
MANAGER_ROLES = ("owner", "admin")  # who runs the company: onboarding, money, keys, webhooks
INVITABLE_ROLES = ("admin", "member")  # an owner is made by transferring ownership, never invited
PAYOUT_SCHEDULES = ("manual", "daily", "weekly", "monthly")


class Company(CreatedAt, Model):
    __tablename__ = "companies"
    __table_args__ = (
        CheckConstraint(
            "platform_fee_bps IS NULL OR (platform_fee_bps >= 0 AND platform_fee_bps <= 10000)",
            name="platform_fee_bps",
        ),
        CheckConstraint("payout_minimum_cents IS NULL OR payout_minimum_cents >= 0", name="payout_minimum"),
        Index("uq_companies_stripe_account_key", "stripe_account_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(string_enum(COMPANY_KINDS, "kind"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"))
    title: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(string_enum(COMPANY_STATUSES, "status"), default="active")
    stripe_account_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The idempotency key of "create this company's Connect account", committed with the
    # company: every attempt (a retry, a double click) asks Stripe for the same account.
    stripe_account_key: Mapped[str] = mapped_column(String(64), default=new_idempotency_key, nullable=False)
    kyc_status: Mapped[str] = mapped_column(string_enum(KYC_STATUSES, "kyc_status"), default="unstarted")
    payouts_enabled: Mapped[bool] = mapped_column(default=False)
    platform_fee_bps: Mapped[int | None] = mapped_column()
    payout_minimum_cents: Mapped[int | None] = mapped_column(BigInteger)
    # Public profile, shown on the company's gig and product pages.
    logo_url: Mapped[str | None] = mapped_column(String(500))
    website: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # "manual": only the withdrawal form; otherwise the scheduler pays out the available
    # balance once per day / ISO week / month (app/tasks/payouts.py).
    payout_schedule: Mapped[str] = mapped_column(
        string_enum(PAYOUT_SCHEDULES, "payout_schedule"), default="manual", server_default="manual"
    )
    # Why an admin suspended the company (shown to its members), while it is suspended.
    suspended_reason: Mapped[str | None] = mapped_column(String(500))

    parent = relationship("Company", remote_side=[id])
    members = relationship("CompanyMember", back_populates="company", lazy="selectin")

    def fee_bps(self, platform_default: int) -> int:
        """This company's fee in basis points, or the platform default when unset."""
        return platform_default if self.platform_fee_bps is None else self.platform_fee_bps

    def payout_minimum(self, platform_default: int) -> int:
        """Smallest withdrawal in cents for this company."""
        return platform_default if self.payout_minimum_cents is None else self.payout_minimum_cents

    def role_of(self, user):
        """The user's role in this company, or None."""
        for member in self.members:
            if member.user_id == user.id:
                return member.role
        return None

    @property
    def is_suspended(self):
        return self.status == "suspended"

    def managers(self):
        """The users who run this company (its owners and admins, MANAGER_ROLES), by user id."""
        return sorted(
            (member.user for member in self.members if member.role in MANAGER_ROLES), key=lambda user: user.id
        )

    def is_manager(self, user):
        """True when `user` is one of this company's owners or admins."""
        return self.role_of(user) in MANAGER_ROLES

    def __repr__(self):
        return f"<Company {self.id} {self.kind} {self.slug}>"


class CompanyMember(CreatedAt, Model):
    __tablename__ = "company_members"
    __table_args__ = (UniqueConstraint("company_id", "user_id", name="uq_company_members_company_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(string_enum(MEMBER_ROLES, "role"))

    company = relationship("Company", back_populates="members", lazy="joined")
    user = relationship("User", back_populates="memberships")


class CompanyInvitation(TenantOwned, CreatedAt, Model):
    """An emailed invitation to join a company with a role. Only the hash of its token is
    stored; it is used once (`accepted_at`), before `expires_at`, by the user whose email it
    names."""

    __tablename__ = "company_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(string_enum(INVITABLE_ROLES, "role"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_user_id: Mapped[int | None] = user_reference()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_user_id: Mapped[int | None] = user_reference()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    company = relationship("Company", lazy="joined")

    @property
    def is_open(self):
        return self.accepted_at is None and self.revoked_at is None
