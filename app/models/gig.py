"""Gigs: a seller's service with basic/standard/premium packages, extras and questions."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.mixins import Timestamps, user_reference
from app.models.types import UTCDateTime, between, string_enum
from app.tenancy import TenantOwned

GIG_STATUSES = ("draft", "review", "published", "rejected", "paused")
TIERS = ("basic", "standard", "premium")
QUESTION_KINDS = ("short_text", "long_text", "single_choice")
REVISION_KINDS = ("edit", "submission")
REVISION_STATUSES = ("pending", "approved", "rejected", "withdrawn")
MIN_PRICE_CENTS, MAX_PRICE_CENTS = 500, 1_000_000
MAX_IMAGES = 5


def _parts(model):
    """One gig's packages, extras, questions or images: in editor order, deleted with the gig."""
    return relationship(
        model, back_populates="gig", cascade="all, delete-orphan", order_by=f"{model}.position", lazy="selectin"
    )


class Gig(TenantOwned, Timestamps, Model):
    __tablename__ = "gigs"
    __table_args__ = (Index("ix_gigs_status_category", "status", "category_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(140), unique=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    description_md: Mapped[str] = mapped_column(Text, default="")
    description_html: Mapped[str] = mapped_column(Text, default="")
    faq: Mapped[list] = mapped_column(JSON, default=list)
    tags: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(string_enum(GIG_STATUSES, "status"), default="draft")
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    basic_price_cents: Mapped[int | None] = mapped_column(BigInteger, index=True)
    min_delivery_days: Mapped[int | None] = mapped_column()
    rating_sum: Mapped[int] = mapped_column(default=0)
    rating_count: Mapped[int] = mapped_column(default=0)
    orders_completed: Mapped[int] = mapped_column(default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    company = relationship("Company", lazy="joined")
    category = relationship("Category", lazy="joined")
    packages = _parts("GigPackage")
    extras = _parts("GigExtra")
    questions = _parts("GigQuestion")
    images = _parts("GigImage")

    @property
    def rating(self):
        """Average stars to one decimal, or None without reviews."""
        return round(self.rating_sum / self.rating_count, 1) if self.rating_count else None

    @property
    def tag_list(self):
        return [t for t in (self.tags or "").split(",") if t]

    def package(self, tier):
        return next((p for p in self.packages if p.tier == tier), None)

    def __repr__(self):
        return f"<Gig {self.id} {self.status} {self.slug}>"


class GigPart(TenantOwned):
    """A row of one gig's editor (package, extra, question, image): its gig, and its place in the list."""

    gig_id: Mapped[int] = mapped_column(ForeignKey("gigs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)


class GigPackage(GigPart, Model):
    __tablename__ = "gig_packages"
    __table_args__ = (
        UniqueConstraint("gig_id", "tier", name="uq_gig_packages_gig_tier"),
        between("price_cents", 500, 1000000, name="price"),
        between("delivery_days", 1, 90),
        between("revisions", 0, 10, nullable=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tier: Mapped[str] = mapped_column(string_enum(TIERS, "tier"))
    title: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    price_cents: Mapped[int] = mapped_column(BigInteger)
    delivery_days: Mapped[int] = mapped_column()
    revisions: Mapped[int | None] = mapped_column()  # None = unlimited

    gig = relationship("Gig", back_populates="packages")


class GigExtra(GigPart, Model):
    __tablename__ = "gig_extras"
    __table_args__ = (
        between("price_cents", 100, 1000000, name="price"),
        between("extra_days", 0, 90),
        between("max_quantity", 1, 10),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(80))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    extra_days: Mapped[int] = mapped_column(default=0)
    max_quantity: Mapped[int] = mapped_column(default=1)

    gig = relationship("Gig", back_populates="extras")


class GigQuestion(GigPart, Model):
    __tablename__ = "gig_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(string_enum(QUESTION_KINDS, "kind"), default="short_text")
    choices: Mapped[list] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(default=True)

    gig = relationship("Gig", back_populates="questions")


class GigImage(GigPart, Model):
    __tablename__ = "gig_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    size_bytes: Mapped[int] = mapped_column()

    gig = relationship("Gig", back_populates="images")


class GigRevision(TenantOwned, Timestamps, Model):
    """A version of a gig's content that went to review, kept apart from the live gig.

    kind "edit": a change to a gig that has been live. The live gig stays as it is while the
    revision is `pending`; approving it applies `content` to the gig in one transaction,
    rejecting or withdrawing it leaves the gig unchanged. At most one is pending per gig (a
    partial unique index); the seller keeps editing that one.
    kind "submission": the snapshot of a not-yet-live gig an admin rejected, so the next review
    can show the reason and what changed since (always `rejected`).

    `content` has the shape of the gig editor's cleaned input (see services/gigs.py
    `gig_content`), with `images` as stored-image descriptors.
    """

    __tablename__ = "gig_revisions"
    __table_args__ = (
        Index(
            "uq_gig_revisions_pending_gig",
            "gig_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_gig_revisions_status_submitted_at", "status", "submitted_at"),
        CheckConstraint("status = 'pending' OR decided_at IS NOT NULL", name="decided"),
        CheckConstraint("status <> 'rejected' OR rejection_reason IS NOT NULL", name="reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gig_id: Mapped[int] = mapped_column(ForeignKey("gigs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(string_enum(REVISION_KINDS, "kind"), default="edit")
    status: Mapped[str] = mapped_column(string_enum(REVISION_STATUSES, "status"), default="pending")
    content: Mapped[dict] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_by_id: Mapped[int | None] = user_reference()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = user_reference()
    rejection_reason: Mapped[str | None] = mapped_column(Text)

    gig = relationship("Gig", lazy="joined")

    def __repr__(self):
        return f"<GigRevision {self.id} {self.kind} {self.status} gig={self.gig_id}>"
