"""Reviews: the buyer rates a completed order once, the seller replies once.

The gig's `rating_sum` / `rating_count` change in the same transaction as the review row,
with an UPDATE that adds to the stored values (never read-modify-write in Python), so
concurrent reviews of one gig cannot lose a rating; `reviews.order_id` is unique, so an
order is reviewed at most once even when two requests race.
"""

from collections.abc import Sequence

from sqlalchemy import select, update

from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.models import Gig, Order, Review, User
from app.pagecache import bump_catalog_version
from app.services.legends.awards import on_review
from app.services.notifications import notify_user
from app.services.orders import actor_for, lock_order, seller_recipients

MAX_REVIEW_CHARS = 2000


class ReviewError(ServiceError):
    """A refused review: `status` 409 (not now / already done) or 422 (`field` at fault)."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(status, "review_refused", message, field=field)


def review_of(order_id: int) -> Review | None:
    """The buyer's review of the order, or None."""
    return db.session.scalar(select(Review).where(Review.order_id == order_id))


def _clean_text(text: str | None, field: str, label: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ReviewError(422, f"Write {label}.", field)
    if len(text) > MAX_REVIEW_CHARS:
        raise ReviewError(422, f"Keep it under {MAX_REVIEW_CHARS:,} characters.", field)
    return text


def leave_review(order: Order, buyer: User, rating: object, body: str | None) -> Review:
    """The buyer's review of a completed order; updates the gig's rating aggregates atomically."""
    order = lock_order(order.id)
    if order.buyer_id != buyer.id:
        raise ReviewError(403, "Only the buyer can review this order.")
    if order.status != "completed":
        raise ReviewError(409, "You can review an order once it is completed.")
    if review_of(order.id) is not None:
        raise ReviewError(409, "You have already reviewed this order.")
    try:
        stars = int(str(rating).strip())
    except (TypeError, ValueError):
        stars = 0
    if not 1 <= stars <= 5:
        raise ReviewError(422, "Choose between 1 and 5 stars.", "rating")
    body = _clean_text(body, "body", "a few words about your experience")
    review = Review(
        company_id=order.company_id, order_id=order.id, gig_id=order.gig_id, buyer_id=buyer.id, rating=stars, body=body
    )
    db.session.add(review)
    db.session.execute(
        update(Gig)
        .where(Gig.id == order.gig_id)
        .values(rating_sum=Gig.rating_sum + stars, rating_count=Gig.rating_count + 1)
    )
    db.session.flush()
    on_review(order.company_id, buyer.id, f"review:{review.id}")
    bump_catalog_version()
    for user in seller_recipients(order):
        notify_user(
            user,
            "review.created",
            f"{buyer.display_name} left {stars}★ on order #{order.id}",
            body=body[:200],
            link=f"/orders/{order.id}",
        )
    return review


def reply_to_review(review: Review, seller_user: User, text: str | None) -> Review:
    """The seller's one public reply to a review of their gig."""
    review = db.session.execute(
        select(Review)
        .where(Review.id == review.id)
        .with_for_update(of=Review)
        .execution_options(populate_existing=True)
    ).scalar_one()
    order = db.session.get_one(Order, review.order_id)
    actor = actor_for(order, seller_user)
    if actor is None or actor.role != "seller":
        raise ReviewError(403, "Only the seller can reply to this review.")
    if review.reply is not None:
        raise ReviewError(409, "You have already replied to this review.")
    review.reply = _clean_text(text, "reply", "a reply")
    review.replied_at = now()
    db.session.flush()
    return review


def gig_reviews(gig_id: int, limit: int = 20) -> Sequence[Review]:
    """The gig's most recent reviews, newest first."""
    return db.session.scalars(
        select(Review).where(Review.gig_id == gig_id).order_by(Review.created_at.desc(), Review.id.desc()).limit(limit)
    ).all()
