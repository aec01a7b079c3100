"""Affiliate programs (issue 18): a seller company's program, personal referral codes, clicks,
referrals (a buyer bound to an affiliate within a program) and commissions (ledger money).

Money never lives here: a commission row mirrors ledger transactions (`commission:<id>`,
`commission:<id>:clear`, `commission:<id>:reverse:<n>`) that move part of the seller's share to
the affiliate's payout company (see app/services/affiliates/commissions.py).
"""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.mixins import CreatedAt, Timestamps, user_reference
from app.models.types import UTCDateTime, between, string_enum
from app.tenancy import TenantOwned

COMMISSION_KINDS = ("percent", "fixed")
RECURRING_RULES = ("first_only", "first_n", "every")
LISTING_TYPES = ("gig", "product")
REFERRAL_STATUSES = ("pending", "completed", "refused")
# Why a referral pays nothing. `already_bound`: the buyer was bound earlier in this program
# (first conversion wins); its payments earn the bound affiliate instead.
REFUSAL_REASONS = (
    "self_referral",
    "own_team",
    "banned",
    "expired",
    "outside_program",
    "program_off",
    "already_bound",
)
COMMISSION_STATUSES = ("pending", "available", "paid", "reversed")
REVERSAL_REASONS = ("refunded", "dispute_lost", "cancelled")
COMPLETED = text("status = 'completed'")


class AffiliateProgram(TenantOwned, Timestamps, Model):
    """A seller company's affiliate program (at most one per company). Commission is either a
    share of each referred payment in basis points (`percent`) or a fixed amount per payment
    (`fixed`), never more than the seller's share of that payment."""

    __tablename__ = "affiliate_programs"
    __table_args__ = (
        UniqueConstraint("company_id", name="uq_affiliate_programs_company"),
        CheckConstraint("commission_bps >= 0 AND commission_bps <= 10000", name="commission_bps"),
        CheckConstraint("commission_cents >= 0", name="commission_cents"),
        between("attribution_days", 1, 365),
        between("recurring_n", 1, 120, nullable=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    commission_kind: Mapped[str] = mapped_column(string_enum(COMMISSION_KINDS, "commission_kind"), default="percent")
    commission_bps: Mapped[int] = mapped_column(default=1000)
    commission_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    attribution_days: Mapped[int] = mapped_column(default=30)
    recurring_rule: Mapped[str] = mapped_column(string_enum(RECURRING_RULES, "recurring_rule"), default="first_only")
    # How many payments of a subscription earn a commission under `first_n`.
    recurring_n: Mapped[int | None] = mapped_column()
    # True: every gig and product of the company; False: only the AffiliateProgramListing rows.
    all_listings: Mapped[bool] = mapped_column(Boolean, default=True)
    terms: Mapped[str] = mapped_column(Text, default="")

    company = relationship("Company", lazy="joined")
    listings = relationship("AffiliateProgramListing", lazy="selectin", cascade="all, delete-orphan")


class AffiliateProgramListing(TenantOwned, Model):
    """One gig or product included in a program that does not include all listings."""

    __tablename__ = "affiliate_program_listings"
    __table_args__ = (
        UniqueConstraint("program_id", "listing_type", "listing_id", name="uq_affiliate_program_listings"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("affiliate_programs.id", ondelete="CASCADE"), index=True)
    listing_type: Mapped[str] = mapped_column(string_enum(LISTING_TYPES, "listing_type"))
    listing_id: Mapped[int] = mapped_column()


class ReferralCode(CreatedAt, Model):
    """A user's personal referral code (one per user, created on first need), used in
    `<listing URL>?ref=<code>` and `/r/<code>`. URL-safe, random, unique."""

    __tablename__ = "referral_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)

    user = relationship("User", lazy="joined")


class AffiliateAccount(CreatedAt, Model):
    """The payout company that owns a user's affiliate earnings in the ledger (entries carry a
    company id), created on the user's first commission and onboarded with Stripe Connect
    Express like any seller company to withdraw through the existing payouts."""

    __tablename__ = "affiliate_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), unique=True)

    company = relationship("Company", lazy="joined")


class ReferralClick(TenantOwned, Model):
    """A landing through an affiliate link, written by the click flush from the Redis queue.
    `company_id` is the seller whose listing or shop was opened. The IP is kept only as an HMAC
    with a server secret; bots are never stored."""

    __tablename__ = "referral_clicks"
    __table_args__ = (
        Index("ix_referral_clicks_company_created", "company_id", "created_at"),
        Index("ix_referral_clicks_affiliate_created", "affiliate_user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("referral_codes.id", ondelete="CASCADE"))
    affiliate_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The random id the click carried in the visitor's cookie (links a referral to its click).
    token: Mapped[str] = mapped_column(String(32), unique=True)
    listing_type: Mapped[str | None] = mapped_column(string_enum(LISTING_TYPES, "listing_type"))
    listing_id: Mapped[int | None] = mapped_column()
    ip_hash: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    referrer: Mapped[str] = mapped_column(String(500), default="")
    landing_path: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Referral(TenantOwned, CreatedAt, Model):
    """An affiliate's claim on one checkout of a buyer, decided on the server when the checkout
    starts: `pending` (valid), or `refused` with a reason (it pays nothing). On the first
    webhook-confirmed payment a pending referral becomes `completed`: the buyer is bound to the
    affiliate in this program, once (unique while completed) — or, when someone else bound
    them first, `refused`/`already_bound` and the payments earn the bound affiliate."""

    __tablename__ = "referrals"
    __table_args__ = (
        Index(
            "uq_referrals_program_buyer_completed",
            "program_id",
            "buyer_id",
            unique=True,
            sqlite_where=COMPLETED,
            postgresql_where=COMPLETED,
        ),
        Index("ix_referrals_affiliate_created", "affiliate_user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int | None] = mapped_column(ForeignKey("affiliate_programs.id", ondelete="CASCADE"), index=True)
    affiliate_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id", ondelete="CASCADE"), unique=True)
    click_id: Mapped[int | None] = mapped_column(ForeignKey("referral_clicks.id", ondelete="SET NULL"))
    listing_type: Mapped[str] = mapped_column(string_enum(LISTING_TYPES, "listing_type"))
    listing_id: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(string_enum(REFERRAL_STATUSES, "status"), default="pending")
    refusal_reason: Mapped[str | None] = mapped_column(string_enum(REFUSAL_REASONS, "refusal_reason", length=24))
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"))


class Commission(TenantOwned, CreatedAt, Model):
    """One referred payment's commission (unique per payment: a replayed webhook finds it).
    `amount_cents` is what was earned; `reversed_cents` what refunds clawed back so far
    (status `reversed` once all of it). `company_id` is the seller who pays it;
    `payee_company_id` the affiliate's payout company that receives it."""

    __tablename__ = "commissions"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount"),
        CheckConstraint("base_amount_cents >= amount_cents", name="base"),
        CheckConstraint("reversed_cents >= 0 AND reversed_cents <= amount_cents", name="reversed"),
        Index("ix_commissions_affiliate_created", "affiliate_user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("affiliate_programs.id", ondelete="CASCADE"), index=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"), index=True)
    affiliate_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    payee_company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("memberships.id"))
    listing_type: Mapped[str] = mapped_column(string_enum(LISTING_TYPES, "listing_type"))
    listing_id: Mapped[int] = mapped_column()
    # 1 for the first payment of the referred checkout, 2 for its first renewal, ...
    payment_number: Mapped[int] = mapped_column(default=1)
    base_amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reversed_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(string_enum(COMMISSION_STATUSES, "status"), default="pending")
    # When a payment's commission clears (products, subscriptions); NULL for a gig order's,
    # which clears with the order's own clearance after completion.
    clears_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"))
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversal_reason: Mapped[str | None] = mapped_column(string_enum(REVERSAL_REASONS, "reversal_reason"))

    @property
    def net_cents(self) -> int:
        """What the affiliate keeps of this commission after reversals."""
        return self.amount_cents - self.reversed_cents


class AffiliateBan(TenantOwned, CreatedAt, Model):
    """A seller banned this affiliate from its program: new referrals are refused (`banned`)
    and the affiliate's pending referrals pay nothing. Unbanning deletes the row."""

    __tablename__ = "affiliate_bans"
    __table_args__ = (UniqueConstraint("program_id", "affiliate_user_id", name="uq_affiliate_bans_program_affiliate"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("affiliate_programs.id", ondelete="CASCADE"))
    affiliate_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(300), default="")
    banned_by_user_id: Mapped[int | None] = user_reference()
