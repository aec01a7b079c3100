"""Product reviews: a buyer who paid for a product rates it once (1–5 stars and a few words).

Who may review is decided by the payments table: a payment of this buyer for a membership in
this product that was not refunded in full. A trial that never turned into a payment, or a
Whop membership (paid at Whop), does not count. `product_reviews` is unique on (product,
buyer), so a buyer reviews a product at most once even when two requests race.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.errors import ServiceError
from app.extensions import db
from app.models import Membership, Payment, Product, ProductReview, User
from app.services.legends.awards import on_review
from app.services.notifications import notify_user

MAX_PRODUCT_REVIEW_CHARS = 2000
PAID_STATUSES = ("succeeded", "partially_refunded", "disputed")


class ProductReviewError(ServiceError):
    """A refused product review: 403 (never paid), 409 (already reviewed) or 422 (`field`)."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(status, "product_review_refused", message, field=field)


@dataclass(frozen=True)
class ProductRating:
    """A product's average stars (one decimal) and how many reviews it has."""

    average: float | None
    count: int


def has_paid_for(product: Product, user: User) -> bool:
    """Whether `user` paid for `product` (a payment for one of their memberships in it that was
    not refunded in full)."""
    return (
        db.session.scalar(
            select(Payment.id)
            .join(Membership, Membership.id == Payment.membership_id)
            .where(
                Membership.product_id == product.id,
                Membership.buyer_id == user.id,
                Payment.buyer_id == user.id,
                Payment.status.in_(PAID_STATUSES),
                Payment.amount_cents > Payment.refunded_cents,
            )
            .limit(1)
            .execution_options(skip_tenant_scope=True)
        )
        is not None
    )


def review_by(product: Product, user: User) -> ProductReview | None:
    """The user's review of the product, or None."""
    return db.session.scalar(
        select(ProductReview)
        .where(ProductReview.product_id == product.id, ProductReview.buyer_id == user.id)
        .execution_options(skip_tenant_scope=True)
    )


def can_review(product: Product, user: User) -> bool:
    """Whether the product page should offer `user` the review form."""
    return (
        bool(getattr(user, "is_authenticated", False))
        and review_by(product, user) is None
        and has_paid_for(product, user)
    )


def leave_product_review(product: Product, buyer: User, rating: object, body: str | None) -> ProductReview:
    """The buyer's review of a product they paid for. Raises ProductReviewError, writing
    nothing, for someone who never paid (403), a second review (409), stars outside 1–5 or an
    empty or over-long text (422, naming the field). Flushed; tells the seller's managers."""
    if not has_paid_for(product, buyer):
        raise ProductReviewError(403, "Only buyers who paid for this product can review it.")
    if review_by(product, buyer) is not None:
        raise ProductReviewError(409, "You have already reviewed this product.")
    # One ASCII digit: int() would also take "٣" or " +3 ".
    choice = str(rating or "").strip()
    if choice not in ("1", "2", "3", "4", "5"):
        raise ProductReviewError(422, "Choose between 1 and 5 stars.", "rating")
    stars = int(choice)
    text = (body or "").strip()
    if not text:
        raise ProductReviewError(422, "Write a few words about the product.", "body")
    if len(text) > MAX_PRODUCT_REVIEW_CHARS:
        raise ProductReviewError(
            422, f"Review is too long: {len(text):,} characters, at most {MAX_PRODUCT_REVIEW_CHARS:,}.", "body"
        )
    review = ProductReview(
        company_id=product.company_id, product_id=product.id, buyer_id=buyer.id, rating=stars, body=text
    )
    try:
        with db.session.begin_nested():
            db.session.add(review)
            db.session.flush()
    except IntegrityError:
        raise ProductReviewError(409, "You have already reviewed this product.") from None
    on_review(product.company_id, buyer.id, f"product_review:{review.id}")
    title = f"{buyer.display_name} left {stars}★ on {product.title}"[:200]
    for manager in product.company.managers():
        notify_user(manager, "product_review.created", title, body=text[:200], link=f"/products/{product.slug}")
    return review


def product_reviews(product_id: int, limit: int = 20) -> Sequence[ProductReview]:
    """The product's most recent reviews, newest first."""
    return db.session.scalars(
        select(ProductReview)
        .where(ProductReview.product_id == product_id)
        .order_by(ProductReview.created_at.desc(), ProductReview.id.desc())
        .limit(limit)
        .execution_options(skip_tenant_scope=True)
    ).all()


def product_rating(product_id: int) -> ProductRating:
    """The product's average stars and review count, in one query."""
    total, count = db.session.execute(
        select(func.coalesce(func.sum(ProductReview.rating), 0), func.count(ProductReview.id))
        .where(ProductReview.product_id == product_id)
        .execution_options(skip_tenant_scope=True)
    ).one()
    return ProductRating(round(int(total) / count, 1) if count else None, int(count))
