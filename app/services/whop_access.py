"""Who may open a product's member area, Whop links, and Whop membership webhooks.

Access to a product = a membership that grants access (``Membership.grants_access``), whether
it came from a Stripe checkout or from Whop webhooks. The answer per (user, product) is cached
in Redis for five minutes; every flush that touches a membership marks its key stale, and the
keys are deleted at once and again after the commit, so access follows Stripe and Whop events
immediately on every path that changes memberships.
"""

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import event, func, or_, select
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from app import metrics
from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.models import Company, Membership, Order, Payment, Product, User, WhopCompanyLink, WhopPayment, WhopProductLink
from app.models.company import MEMBER_ROLES
from app.models.product import ACCESS_STATUSES
from app.money import to_minor
from app.queue import get_redis
from app.services.audit import record_audit_event
from app.services.notifications import notify_user
from app.services.subscriptions import buyer_memberships
from app.services.whop_accounts import ensure_whop_user, find_identity
from app.tenancy import tenant_scope

log = logging.getLogger(__name__)

ACCESS_TTL_SECONDS = 300
_STALE_KEYS = "whop_access_stale"
_WHOP_ID = re.compile(r"^[A-Za-z0-9_-]{3,64}$")
_ACTIVE_WHOP_STATUSES = {"active": "active", "trialing": "trialing", "past_due": "past_due"}
_ENDED_WHOP_STATUSES = {"canceled": "canceled", "cancelled": "canceled", "expired": "expired"}


class WhopLinkError(ServiceError):
    """Bad link input: `errors` maps form fields to messages (422)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(422, "invalid_whop_link", "; ".join(errors.values()), errors=errors)


# --------------------------------------------------------------------------- access + cache


def access_cache_key(user_id: int, product_id: int) -> str:
    """The Redis key caching whether the user may open the product."""
    return f"tp:access:{user_id}:{product_id}"


def has_access(user: User, product: Product) -> bool:
    """True when `user` holds a membership of `product` that grants access now (cached 5 min,
    never past the moment that access ends).

    With Redis down the answer comes from the database every time, and is not cached.
    """
    key = access_cache_key(user.id, product.id)
    redis = get_redis()
    try:
        cached = redis.get(key)
    except RedisError:
        log.warning("access cache unavailable; reading access from the database")
        return _membership_grants_access(user, product)
    if cached is not None:
        # b"0", b"1" (no end) or b"1:<unix time access ends>": a cached yes lapses with access.
        text = cached.decode() if isinstance(cached, bytes) else str(cached)
        yes, _, until = text.partition(":")
        return yes == "1" and (not until or now().timestamp() < float(until))
    ends = _access_ends(user, product)
    found = ends is not False
    value = b"1" if found else b"0"
    if isinstance(ends, datetime):
        value += b":" + str(ends.timestamp()).encode()
    try:
        redis.set(key, value, ex=ACCESS_TTL_SECONDS)
    except RedisError:
        log.warning("access cache unavailable; answer not cached")
    return found


def _access_ends(user: User, product: Product) -> datetime | None | bool:
    """When the user's access to the product ends: None (never), the latest end among their
    memberships that grant access now, or False when none does."""
    moment = now()
    ends = db.session.scalars(
        buyer_memberships(Membership.access_ends_at, user.id, product.id).where(
            Membership.status.in_(ACCESS_STATUSES),
            or_(Membership.access_ends_at.is_(None), Membership.access_ends_at > moment),
        )
    ).all()
    if not ends:
        return False
    return None if any(end is None for end in ends) else max(end for end in ends if end is not None)


def _membership_grants_access(user: User, product: Product) -> bool:
    return _access_ends(user, product) is not False


def is_seller_of(user: User, product: Product, roles: tuple[str, ...] = MEMBER_ROLES) -> bool:
    """True when `user` belongs to the company selling `product` with one of `roles`."""
    return product.company.role_of(user) in roles


def can_open_member_area(user: User, product: Product) -> bool:
    """Members with access, and the seller's own team, may open the product's member area."""
    return is_seller_of(user, product) or has_access(user, product)


def invalidate_access(user_id: int, product_id: int) -> None:
    """Forget the cached answer for (user, product) now."""
    try:
        get_redis().delete(access_cache_key(user_id, product_id))
    except Exception as exc:  # an outage must not fail the write; the entry expires in 5 min
        log.warning(
            "access cache not invalidated for user %s product %s (%s: Redis unreachable?)",
            user_id,
            product_id,
            type(exc).__name__,
        )


@event.listens_for(Session, "after_flush")
def _collect_stale_access(session: Session, _flush_context: UOWTransaction) -> None:
    touched = {
        (obj.buyer_id, obj.product_id)
        for obj in list(session.new) + list(session.dirty) + list(session.deleted)
        if isinstance(obj, Membership)
    }
    for user_id, product_id in touched:
        invalidate_access(user_id, product_id)
    session.info.setdefault(_STALE_KEYS, set()).update(touched)


@event.listens_for(Session, "after_commit")
def _drop_stale_access(session: Session) -> None:
    # Again after the commit: a reader between flush and commit may have cached the old answer.
    for user_id, product_id in session.info.pop(_STALE_KEYS, set()):
        invalidate_access(user_id, product_id)


@event.listens_for(Session, "after_soft_rollback")
def _forget_stale_access(session: Session, _previous_transaction: SessionTransaction) -> None:
    session.info.pop(_STALE_KEYS, None)


# --------------------------------------------------------------------------- seller links


def _whop_id(
    value: str | None, prefix: str, field: str, label: str, errors: dict[str, str], required: bool = True
) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            errors[field] = f"Enter the {label}."
        return None
    if not value.startswith(prefix) or not _WHOP_ID.match(value):
        errors[field] = f"A {label} looks like {prefix}XXXX."
    return value


def company_link_of(company: Company) -> WhopCompanyLink | None:
    """The company's link to a Whop company, or None."""
    return db.session.scalar(
        select(WhopCompanyLink)
        .where(WhopCompanyLink.company_id == company.id)
        .execution_options(skip_tenant_scope=True)
    )


def link_whop_company(company: Company, actor: User, whop_company_id: str | None) -> WhopCompanyLink | None:
    """Link `company` to a Whop company (biz_…); an empty id removes the link. Audited."""
    errors: dict[str, str] = {}
    whop_company_id = _whop_id(whop_company_id, "biz_", "whop_company_id", "Whop company id", errors, required=False)
    link = company_link_of(company)
    if whop_company_id and not errors:
        taken = db.session.scalar(
            select(WhopCompanyLink)
            .where(WhopCompanyLink.whop_company_id == whop_company_id)
            .execution_options(skip_tenant_scope=True)
        )
        if taken is not None and taken.company_id != company.id:
            errors["whop_company_id"] = "That Whop company is linked to another seller."
    if errors:
        raise WhopLinkError(errors)
    if not whop_company_id:
        if link is not None:
            db.session.delete(link)
    elif link is None:
        link = WhopCompanyLink(company_id=company.id, whop_company_id=whop_company_id)
        db.session.add(link)
    else:
        link.whop_company_id = whop_company_id
    db.session.flush()
    record_audit_event(
        "whop.company_linked" if whop_company_id else "whop.company_unlinked",
        actor=actor,
        company=company,
        whop_company_id=whop_company_id,
    )
    return link if whop_company_id else None


def product_link_of(product: Product) -> WhopProductLink | None:
    """The product's link to a Whop experience (and product), or None."""
    return db.session.scalar(
        select(WhopProductLink)
        .where(WhopProductLink.product_id == product.id)
        .execution_options(skip_tenant_scope=True)
    )


def link_whop_product(product: Product, actor: User, form: Mapping[str, str]) -> WhopProductLink | None:
    """Show `product` inside Whop: its experience (exp_…) and, optionally, the Whop product
    (prod_…) whose memberships grant access. An empty experience id removes the link."""
    errors: dict[str, str] = {}
    experience_id = _whop_id(
        form.get("whop_experience_id"), "exp_", "whop_experience_id", "Whop experience id", errors, required=False
    )
    whop_product_id = _whop_id(
        form.get("whop_product_id"), "prod_", "whop_product_id", "Whop product id", errors, required=False
    )
    if whop_product_id and not experience_id and "whop_experience_id" not in errors:
        errors["whop_experience_id"] = "Enter the Whop experience id as well."
    link = product_link_of(product)
    for column, value, field in (
        (WhopProductLink.whop_experience_id, experience_id, "whop_experience_id"),
        (WhopProductLink.whop_product_id, whop_product_id, "whop_product_id"),
    ):
        if value and field not in errors:
            taken = db.session.scalar(
                select(WhopProductLink).where(column == value).execution_options(skip_tenant_scope=True)
            )
            if taken is not None and taken.product_id != product.id:
                errors[field] = "That id is linked to another product."
    if errors:
        raise WhopLinkError(errors)
    if not experience_id:
        if link is not None:
            db.session.delete(link)
            db.session.flush()
            record_audit_event("whop.product_unlinked", actor=actor, company=product.company, subject=product)
        return None
    if link is None:
        link = WhopProductLink(company_id=product.company_id, product_id=product.id, whop_experience_id=experience_id)
        db.session.add(link)
    link.whop_experience_id, link.whop_product_id = experience_id, whop_product_id
    db.session.flush()
    record_audit_event(
        "whop.product_linked",
        actor=actor,
        company=product.company,
        subject=product,
        whop_experience_id=experience_id,
        whop_product_id=whop_product_id,
    )
    return link


def experience_link(experience_id: str) -> WhopProductLink | None:
    """The product link of a Whop experience id, or None."""
    return db.session.scalar(
        select(WhopProductLink)
        .where(WhopProductLink.whop_experience_id == experience_id)
        .execution_options(skip_tenant_scope=True)
    )


# --------------------------------------------------------------------------- Whop webhooks


def _link_for_whop_product(data: Mapping[str, Any]) -> WhopProductLink | None:
    whop_product_id = (data.get("product") or {}).get("id")
    if not whop_product_id:
        return None
    link = db.session.scalar(
        select(WhopProductLink)
        .where(WhopProductLink.whop_product_id == whop_product_id)
        .execution_options(skip_tenant_scope=True)
    )
    if link is None:
        return None
    company_link = company_link_of(link.product.company)
    whop_company_id = (data.get("company") or {}).get("id")
    if company_link is not None and whop_company_id and whop_company_id != company_link.whop_company_id:
        log.warning(
            "Whop event for %s names company %s, linked company is %s; ignored",
            whop_product_id,
            whop_company_id,
            company_link.whop_company_id,
        )
        return None
    return link


def _buyer(data: Mapping[str, Any]) -> User | None:
    user = data.get("user") or {}
    if not user.get("id"):
        return None
    return ensure_whop_user(user["id"], via="webhook", name=user.get("name"), username=user.get("username"))


def _upsert_membership(link: WhopProductLink, buyer: User, whop_membership_id: str, status: str) -> Membership:
    membership = db.session.scalar(
        select(Membership)
        .where(Membership.whop_membership_id == whop_membership_id)
        .execution_options(skip_tenant_scope=True)
    )
    if membership is None:
        membership = Membership(
            company_id=link.company_id,
            product_id=link.product_id,
            buyer_id=buyer.id,
            status=status,
            source="whop",
            whop_membership_id=whop_membership_id,
        )
        db.session.add(membership)
    elif membership.status != status:
        membership.status = status
    if status in ("canceled", "expired") and membership.canceled_at is None:
        membership.canceled_at = now()
    elif status not in ("canceled", "expired"):
        membership.canceled_at = None
    db.session.flush()
    return membership


def sync_whop_membership(data: Mapping[str, Any], activated: bool) -> Membership | None:
    """membership.activated / .deactivated → the Whop-sourced membership of the linked product.

    Events for products nobody linked are ignored (None). Running it twice for one event
    leaves the same state; the inbound pipeline stores each delivery id once.
    """
    link = _link_for_whop_product(data)
    if link is None or not data.get("id"):
        return None
    buyer = _buyer(data)
    if buyer is None:
        return None
    whop_status = (data.get("status") or "").lower()
    if activated:
        status = _ACTIVE_WHOP_STATUSES.get(whop_status, "active")
    else:
        status = _ENDED_WHOP_STATUSES.get(whop_status, "expired")
    return _upsert_membership(link, buyer, data["id"], status)


def _cents(amount: object, currency: str) -> int:
    """Whop's decimal amount (19.99) in minor units of `currency`; 0 when it is not a number."""
    try:
        return max(to_minor(Decimal(str(amount)), currency), 0)
    except (InvalidOperation, TypeError, ValueError):
        return 0


def record_whop_payment(data: Mapping[str, Any]) -> WhopPayment | None:
    """payment.succeeded → a WhopPayment (once per Whop payment id) and an active membership."""
    link = _link_for_whop_product(data)
    if link is None or not data.get("id"):
        return None
    existing = db.session.scalar(
        select(WhopPayment).where(WhopPayment.whop_payment_id == data["id"]).execution_options(skip_tenant_scope=True)
    )
    if existing is not None:
        return existing
    buyer = _buyer(data)
    membership = None
    whop_membership = data.get("membership") or {}
    if buyer is not None and whop_membership.get("id"):
        status = _ACTIVE_WHOP_STATUSES.get((whop_membership.get("status") or "").lower(), "active")
        membership = _upsert_membership(link, buyer, whop_membership["id"], status)
    currency = (data.get("currency") or "usd")[:3].lower()
    payment = WhopPayment(
        company_id=link.company_id,
        whop_payment_id=data["id"],
        membership_id=membership.id if membership else None,
        amount_cents=_cents(data.get("total"), currency),
        currency=currency,
    )
    db.session.add(payment)
    db.session.flush()
    metrics.PAYMENTS.labels(kind="whop", outcome="succeeded").inc()
    return payment


def record_whop_payment_failed(data: Mapping[str, Any]) -> Membership | None:
    """payment.failed → a renewal Whop could not charge: the buyer's Whop membership of the
    linked product goes past_due (access kept while Whop retries, as with Stripe) and the buyer
    is told once. No money is recorded, and no membership is made from a failed payment.
    Returns the membership, or None when the event is not about one of ours."""
    link = _link_for_whop_product(data)
    whop_membership_id = (data.get("membership") or {}).get("id")
    if link is None or not whop_membership_id:
        return None
    membership = db.session.scalar(
        select(Membership)
        .where(Membership.whop_membership_id == whop_membership_id, Membership.product_id == link.product_id)
        .execution_options(skip_tenant_scope=True)
    )
    if membership is None:
        return None
    if membership.status in ("active", "trialing"):
        membership.status = "past_due"
        notify_user(
            membership.buyer,
            "membership.payment_failed",
            f"Payment for {membership.product.title} failed",
            body=str(data.get("failure_message") or "Update your payment method on Whop to keep access.")[:500],
            link="/account",
        )
    db.session.flush()
    return membership


def record_whop_refund(data: Mapping[str, Any]) -> WhopPayment | None:
    """refund.created → a full refund marks the payment refunded and ends its membership."""
    whop_payment_id = (data.get("payment") or {}).get("id")
    payment = (
        db.session.scalar(
            select(WhopPayment)
            .where(WhopPayment.whop_payment_id == whop_payment_id)
            .execution_options(skip_tenant_scope=True)
        )
        if whop_payment_id
        else None
    )
    if payment is None or payment.status == "refunded":
        return payment
    if _cents(data.get("amount"), payment.currency) < payment.amount_cents:
        return payment
    payment.status = "refunded"
    if payment.membership_id is not None:
        membership = db.session.get_one(Membership, payment.membership_id)
        if membership.status != "canceled":
            membership.status = "canceled"
            membership.canceled_at = now()
    db.session.flush()
    return payment


# --------------------------------------------------------------------------- iframe views


class WhopViewDenied(ServiceError):
    """The Whop user may not open this view: `status`, and a `title` and message for the page."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(status, "whop_view_denied", message)
        self.title = title


def open_experience(experience_id: str, claims: Mapping[str, Any]) -> tuple[Product, User, bool]:
    """Resolve an experience view: ``(product, user, allowed)`` for the verified token claims.

    The Whop user gets a Tradepost account on first visit. Raises WhopViewDenied(404) for an
    experience no product is linked to.
    """
    link = experience_link(experience_id)
    if link is None or not link.product.active:
        raise WhopViewDenied(404, "Nothing here yet", "This Whop experience isn't connected to a Tradepost product.")
    user = ensure_whop_user(claims["sub"], via="iframe")
    if not user.active:
        raise WhopViewDenied(403, "Account unavailable", "This Tradepost account is deactivated.")
    return link.product, user, can_open_member_area(user, link.product)


def open_dashboard(whop_company_id: str, claims: Mapping[str, Any]) -> tuple[Company, User]:
    """The seller company behind a Whop company, for a Whop user who is its owner or admin."""
    link = db.session.scalar(
        select(WhopCompanyLink)
        .where(WhopCompanyLink.whop_company_id == whop_company_id)
        .execution_options(skip_tenant_scope=True)
    )
    if link is None:
        raise WhopViewDenied(404, "Nothing here yet", "This Whop company isn't connected to a Tradepost seller.")
    identity = find_identity(claims["sub"])
    if identity is None or not link.company.is_manager(identity.user):
        raise WhopViewDenied(
            403,
            "Admins only",
            "Only the seller's owners and admins can open this dashboard. Link your Whop account in Tradepost first.",
        )
    return link.company, identity.user


def dashboard_stats(company: Company, days: int = 30) -> dict[str, Any]:
    """Counts and revenue (cents) over the last `days` days for the seller dashboard."""
    since = now() - timedelta(days=days)
    with tenant_scope(company.id):
        orders = db.session.scalar(select(func.count(Order.id)).where(Order.created_at >= since))
        active_members = db.session.scalar(
            select(func.count(Membership.id)).where(Membership.status.in_(("trialing", "active", "past_due")))
        )
        new_members = db.session.scalar(select(func.count(Membership.id)).where(Membership.created_at >= since))
        stripe_revenue = db.session.execute(
            select(func.coalesce(func.sum(Payment.amount_cents - Payment.refunded_cents), 0)).where(
                Payment.created_at >= since
            )
        ).scalar_one()
        whop_revenue = db.session.execute(
            select(func.coalesce(func.sum(WhopPayment.amount_cents), 0)).where(
                WhopPayment.created_at >= since, WhopPayment.status == "succeeded"
            )
        ).scalar_one()
        recent_orders = db.session.scalars(select(Order).order_by(Order.created_at.desc()).limit(5)).all()
        recent_members = db.session.scalars(select(Membership).order_by(Membership.created_at.desc()).limit(5)).all()
        products = db.session.scalar(select(func.count(Product.id)).where(Product.active.is_(True)))
    return {
        "days": days,
        "orders": orders,
        "active_members": active_members,
        "new_members": new_members,
        "revenue_cents": int(stripe_revenue) + int(whop_revenue),
        "whop_revenue_cents": int(whop_revenue),
        "products": products,
        "recent_orders": recent_orders,
        "recent_members": recent_members,
    }
