"""Whop: linked Whop accounts, seller links to Whop companies and experiences, Whop payments,
and the member areas (posts and files) that members see on Tradepost and inside Whop."""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.mixins import CreatedAt, user_reference
from app.models.types import UTCDateTime, string_enum
from app.tenancy import TenantOwned

IDENTITY_ORIGINS = ("oauth", "iframe", "webhook")
WHOP_PAYMENT_STATUSES = ("succeeded", "refunded")


class WhopIdentity(CreatedAt, Model):
    """One Whop account linked to one Tradepost user (either side at most once)."""

    __tablename__ = "whop_identities"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    whop_user_id: Mapped[str] = mapped_column(String(64), unique=True)
    username: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    # How the identity first appeared; "iframe" and "webhook" ones own a user made for them.
    created_via: Mapped[str] = mapped_column(string_enum(IDENTITY_ORIGINS, "created_via"))
    # Fernet-encrypted; rotated on every refresh.
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")


class WhopCompanyLink(TenantOwned, CreatedAt, Model):
    """A seller company's Whop company (biz_…), whose admins may open the Whop dashboard view."""

    __tablename__ = "whop_company_links"
    __table_args__ = (UniqueConstraint("company_id", name="uq_whop_company_links_company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    whop_company_id: Mapped[str] = mapped_column(String(64), unique=True)

    company = relationship("Company")


class WhopProductLink(TenantOwned, CreatedAt, Model):
    """A product shown inside Whop: its experience (exp_…) and the Whop product (prod_…)
    whose memberships grant access to it."""

    __tablename__ = "whop_product_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), unique=True)
    whop_experience_id: Mapped[str] = mapped_column(String(64), unique=True)
    whop_product_id: Mapped[str | None] = mapped_column(String(64), unique=True)

    product = relationship("Product", lazy="joined")


class WhopPayment(TenantOwned, CreatedAt, Model):
    """A Whop payment for a linked product, kept so a later refund finds its membership."""

    __tablename__ = "whop_payments"
    __table_args__ = (CheckConstraint("amount_cents >= 0", name="amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    whop_payment_id: Mapped[str] = mapped_column(String(64), unique=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("memberships.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(string_enum(WHOP_PAYMENT_STATUSES, "status"), default="succeeded")


class MemberPost(TenantOwned, CreatedAt, Model):
    """A post in a product's member area, written by the seller in Markdown."""

    __tablename__ = "member_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = user_reference()
    title: Mapped[str] = mapped_column(String(160))
    body_md: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # Members of plans with a lower tier rank (or none) don't see it; None = every member.
    min_tier_rank: Mapped[int | None] = mapped_column()


class MemberFile(TenantOwned, CreatedAt, Model):
    """A downloadable file in a product's member area (bytes in storage under `storage_key`)."""

    __tablename__ = "member_files"
    __table_args__ = (CheckConstraint("size_bytes > 0", name="size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    uploaded_by_id: Mapped[int | None] = user_reference()
    filename: Mapped[str] = mapped_column(String(160))
    storage_key: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    min_tier_rank: Mapped[int | None] = mapped_column()
