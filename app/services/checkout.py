"""Pricing a buyer's selection and turning paid Stripe Checkout Sessions into orders and memberships.

Prices are computed here from the database, never taken from the request. A local Checkout
row snapshots the price the buyer agreed to, with a random Stripe idempotency key, and is
committed before its Stripe Checkout Session is created (`open_*_checkout`, commit,
`create_checkout_session`). Stripe's `checkout.session.completed` webhook (not the browser)
completes it, exactly once: the checkout row is locked, its status checked, and orders,
payments and memberships have unique keys on the checkout / Stripe ids. A session is ours only
if it carries our checkout's key (or is the session we recorded): another deployment sharing
the Stripe account has checkouts with the same ids, never with the same keys.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import stripe
from flask import current_app
from sqlalchemy import select

from app import metrics
from app.clock import iso_z, now
from app.errors import FieldRefusal
from app.extensions import db
from app.models import Checkout, Company, Gig, GigPackage, Membership, Order, Payment, Plan, Product, User
from app.money import fee_cents, format_money
from app.payments import LineItem, PaymentsUnavailable, get_gateway
from app.services.affiliates.attribution import referral_metadata
from app.services.affiliates.commissions import record_payment_commission
from app.services.ledger import Entry, post_ledger_transaction
from app.services.licensing.issuing import (
    announce_license,
    issue_license_for_membership,
    sync_license_with_membership,
)
from app.services.mail import app_url, queue_email, send_template
from app.services.notifications import notify_user
from app.services.outbound.outbox import record_event
from app.services.plans import PlanRefused, choose_plan
from app.services.subscriptions import (
    buyer_memberships,
    extend_paid_through,
    from_stamp,
    refresh_access,
    start_grace,
)

money_log = logging.getLogger("app.money")

CHECKOUT_TTL = timedelta(minutes=60)
# A buyer starting the same selection again within this window gets the same checkout (and
# Stripe session): a double click or a retry never opens a second one. Well inside the TTL, so
# a reused checkout's session still has most of its hour.
REUSE_WINDOW = timedelta(minutes=10)
MAX_QUANTITY = 10


class CheckoutError(FieldRefusal):
    """A refusal the buyer can act on; `field` names the input at fault (422 unless said)."""

    refusal_code = "checkout_refused"


@dataclass
class GigQuote:
    gig: Gig
    package: GigPackage
    quantity: int
    extras: list[dict[str, Any]] = field(
        default_factory=list
    )  # dicts: id, title, unit_cents, quantity, extra_days, line_cents
    fee_bps: int = 0

    @property
    def subtotal_cents(self) -> int:
        return self.package.price_cents * self.quantity

    @property
    def extras_cents(self) -> int:
        return sum(line["line_cents"] for line in self.extras)

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.extras_cents

    @property
    def fee_cents(self) -> int:
        return fee_cents(self.total_cents, self.fee_bps)

    @property
    def delivery_days(self) -> int:
        return self.package.delivery_days + sum(line["extra_days"] * line["quantity"] for line in self.extras)


def _int(value: object, field_name: str, label: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise CheckoutError(field_name, f"{label} must be a whole number.") from None


def parse_gig_selection(form: Mapping[str, Any]) -> tuple[str, int, dict[int, int]]:
    """(package, quantity, {extra_id: quantity}) from a checkout form; values still unchecked."""
    package = (form.get("package") or "basic").strip()
    quantity = _int(form.get("quantity", 1), "quantity", "Quantity")
    extras = {}
    for key, value in form.items():
        if key.startswith("extra_") and str(value).strip() not in ("", "0"):
            extra_id = _int(key.removeprefix("extra_"), key, "Extra")
            extras[extra_id] = _int(value, key, "Extra quantity")
    return package, quantity, extras


def platform_fee_bps(company: Company) -> int:
    """The company's platform fee in basis points (its own rate, else PLATFORM_FEE_BPS)."""
    return company.fee_bps(current_app.config["PLATFORM_FEE_BPS"])


def _refuse_suspended(company: Company, listing: Gig | Product) -> None:
    """A suspended company's listings can't be bought; the attempt goes in the audit log."""
    if company.status == "suspended":
        refusal = CheckoutError(None, "This seller is suspended: their listings can't be bought right now.", status=409)
        refusal.audit = (
            "checkout.refused_suspended",
            company.id,
            {"listing": type(listing).__name__.lower(), "listing_id": listing.id},
        )
        raise refusal


def quote_gig(
    gig: Gig, package_ref: str, quantity: int, extra_quantities: Mapping[int, int], buyer: User | None = None
) -> GigQuote:
    """Price a selection of `gig`; raises CheckoutError for anything a buyer may not buy."""
    if gig.status != "published":
        raise CheckoutError("gig", "This gig isn't available to buy right now.", status=409)
    _refuse_suspended(gig.company, gig)
    if buyer is not None and gig.company.role_of(buyer) is not None:
        raise CheckoutError("gig", "You can't buy your own gig.", status=403)
    package = next((p for p in gig.packages if p.tier == package_ref or str(p.id) == str(package_ref)), None)
    if package is None:
        raise CheckoutError("package", "Choose one of this gig's packages.")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise CheckoutError("quantity", f"Quantity must be between 1 and {MAX_QUANTITY}.")
    extras_by_id = {extra.id: extra for extra in gig.extras}
    lines = []
    for extra_id, extra_quantity in sorted(extra_quantities.items()):
        extra = extras_by_id.get(extra_id)
        if extra is None:
            raise CheckoutError(f"extra_{extra_id}", "That extra isn't offered with this gig.")
        if not 0 <= extra_quantity <= extra.max_quantity:
            raise CheckoutError(f"extra_{extra_id}", f"{extra.title}: choose between 0 and {extra.max_quantity}.")
        if extra_quantity:
            lines.append(
                {
                    "id": extra.id,
                    "title": extra.title,
                    "unit_cents": extra.price_cents,
                    "quantity": extra_quantity,
                    "extra_days": extra.extra_days,
                    "line_cents": extra.price_cents * extra_quantity,
                }
            )
    return GigQuote(gig=gig, package=package, quantity=quantity, extras=lines, fee_bps=platform_fee_bps(gig.company))


def _urls(cancel_path: str) -> tuple[str, str]:
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    return (f"{base}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}", f"{base}{cancel_path}")


def _stripe_expiry(moment: datetime) -> int:
    return int(moment.timestamp())


def _lock_buyer(buyer: User) -> None:
    """Serialise one buyer's checkout starts (FOR UPDATE on PostgreSQL; SQLite transactions are serial)."""
    db.session.execute(select(User.id).where(User.id == buyer.id).with_for_update())


def _reusable_checkout(buyer: User, **selection: Any) -> Checkout | None:
    """The buyer's open checkout for exactly this selection started within REUSE_WINDOW, if any."""
    extras = selection.pop("extras")
    candidates = db.session.scalars(
        select(Checkout)
        .where(
            Checkout.buyer_id == buyer.id,
            Checkout.status == "open",
            Checkout.created_at >= now() - REUSE_WINDOW,
            *(getattr(Checkout, name) == value for name, value in selection.items()),
        )
        .order_by(Checkout.id.desc())
        .execution_options(populate_existing=True)
    ).all()
    return next((checkout for checkout in candidates if (checkout.extras or []) == extras), None)


def _reuse_or_open(buyer: User, selection: dict[str, Any], **snapshot: Any) -> Checkout:
    """The buyer's reusable open checkout for `selection`, else a new one of it with `snapshot`; flushed."""
    checkout = _reusable_checkout(buyer, **selection)
    if checkout is None:
        checkout = Checkout(buyer_id=buyer.id, **selection, **snapshot, expires_at=now() + CHECKOUT_TTL)
        db.session.add(checkout)
        db.session.flush()
    return checkout


def open_gig_checkout(buyer: User, quote: GigQuote) -> Checkout:
    """Step one of paying for a gig: the open Checkout snapshotting `quote`, with its random
    Stripe idempotency key. The caller commits it, then calls `create_checkout_session`.

    The buyer's open checkout for the same selection started in the last REUSE_WINDOW is
    returned instead of a new one (the buyer's row is locked first), so a double click, twenty
    clicks at once or a retry after Stripe was unreachable all lead to one Stripe session.
    """
    gig, package = quote.gig, quote.package
    _lock_buyer(buyer)
    selection: dict[str, Any] = {
        "kind": "gig",
        "gig_id": gig.id,
        "package_id": package.id,
        "quantity": quote.quantity,
        "total_cents": quote.total_cents,
        "fee_cents": quote.fee_cents,
        "extras": quote.extras,
    }
    return _reuse_or_open(
        buyer,
        selection,
        company_id=gig.company_id,
        title=f"{gig.title} — {package.title}",
        unit_price_cents=package.price_cents,
        subtotal_cents=quote.subtotal_cents,
        extras_cents=quote.extras_cents,
        fee_bps=quote.fee_bps,
        currency=current_app.config["CURRENCY"],
        delivery_days=quote.delivery_days,
        package_revisions=package.revisions,
    )


def quote_product(product: Product, buyer: User) -> int:
    """Refusals for buying `product`; returns the fee in basis points."""
    if not product.active:
        raise CheckoutError("product", "This product isn't on sale right now.", status=409)
    _refuse_suspended(product.company, product)
    if product.company.role_of(buyer) is not None:
        raise CheckoutError("product", "You can't buy your own product.", status=403)
    if product.company.kyc_status != "verified" or not product.company.stripe_account_id:
        raise CheckoutError("product", "This seller can't take payments yet.", status=409)
    return platform_fee_bps(product.company)


def trial_days_for(buyer: User, plan: Plan) -> int:
    """The plan's free trial, or 0 for a buyer who subscribed to the product before (one trial
    per buyer and product, whichever plan)."""
    if not plan.is_subscription or not plan.trial_days:
        return 0
    earlier = db.session.scalar(
        buyer_memberships(Membership.id, buyer.id, plan.product_id)
        .where(Membership.stripe_subscription_id.is_not(None))
        .limit(1)
    )
    return 0 if earlier is not None else plan.trial_days


def open_product_checkout(buyer: User, product: Product, plan: Plan | None = None) -> Checkout:
    """Step one of buying a product on one of its plans (default: its first enabled plan):
    the open Checkout with its random Stripe idempotency key, reused as `open_gig_checkout`
    does. The caller commits it, then calls `create_checkout_session`. Refusals raise
    CheckoutError (or PlanRefused for `plan`), writing nothing."""
    bps = quote_product(product, buyer)
    plan = plan if plan is not None else choose_plan(product, None)
    if plan.product_id != product.id:
        raise PlanRefused("Choose one of this product's plans.")
    if not plan.enabled:
        raise PlanRefused("That plan isn't on sale any more. Choose another.", status=409)
    one_time_fee = 0 if plan.is_subscription else fee_cents(plan.price_cents, bps)
    _lock_buyer(buyer)
    selection: dict[str, Any] = {
        "kind": "product",
        "product_id": product.id,
        "plan_id": plan.id,
        "trial_days": trial_days_for(buyer, plan),
        "total_cents": plan.price_cents,
        "fee_bps": bps,
        "fee_cents": one_time_fee,
        "extras": [],
    }
    title = product.title if len(product.plans) <= 1 else f"{product.title} — {plan.name}"
    return _reuse_or_open(
        buyer,
        selection,
        company_id=product.company_id,
        title=title[:200],
        quantity=1,
        unit_price_cents=plan.price_cents,
        subtotal_cents=plan.price_cents,
        extras_cents=0,
        currency=plan.currency,
    )


def create_checkout_session(checkout: Checkout, cancel_path: str) -> Checkout:
    """Step two: the Stripe Checkout Session of an open checkout, created with the checkout's
    stored key and recorded on it; returns the checkout (the caller commits and sends the buyer
    to `checkout.stripe_session_url`).

    A checkout that already has its session is returned as it is. Every parameter comes from
    the checkout's snapshot, so a retry sends Stripe the same request and gets the same
    session. Raises PaymentsUnavailable when Stripe can't be reached: the checkout stays open
    without a session, nothing is charged, and retrying is safe.
    """
    if checkout.stripe_session_url:
        return checkout
    buyer = db.session.get_one(User, checkout.buyer_id)
    success_url, cancel_url = _urls(cancel_path)
    common: dict[str, Any] = dict(
        local_checkout_id=checkout.id,
        idempotency_key=checkout.idempotency_key,
        currency=checkout.currency,
        success_url=success_url,
        cancel_url=cancel_url,
        customer_email=buyer.email,
        expires_at=_stripe_expiry(checkout.expires_at),
    )
    gateway = get_gateway()
    if checkout.kind == "gig":
        package = checkout.package
        line_items = [LineItem(f"{checkout.title} ({package.tier})", checkout.unit_price_cents, checkout.quantity)]
        line_items += [LineItem(line["title"], line["unit_cents"], line["quantity"]) for line in checkout.extras]
        session = gateway.create_gig_checkout(
            line_items=line_items,
            metadata={
                "gig_id": checkout.gig_id,
                "buyer_id": buyer.id,
                "company_id": checkout.company_id,
                **referral_metadata(checkout),
            },
            **common,
        )
    else:
        product, plan = checkout.product, checkout.plan
        billing = plan.billing if plan is not None else product.billing
        common.update(
            destination_account=product.company.stripe_account_id,
            metadata={
                "product_id": product.id,
                "plan_id": checkout.plan_id,
                "buyer_id": buyer.id,
                "company_id": checkout.company_id,
                **referral_metadata(checkout),
            },
        )
        if billing != "one_time":
            session = gateway.create_subscription_checkout(
                name=checkout.title,
                unit_amount=checkout.unit_price_cents,
                interval=billing,
                application_fee_bps=checkout.fee_bps,
                trial_days=checkout.trial_days or None,
                **common,
            )
        else:
            session = gateway.create_product_checkout(
                line_items=[LineItem(checkout.title, checkout.unit_price_cents, 1)],
                application_fee_amount=checkout.fee_cents,
                **common,
            )
    checkout.stripe_session_id, checkout.stripe_session_url = session.id, session.url
    db.session.flush()
    return checkout


def checkout_payment_state(checkout: Checkout) -> str:
    """What Stripe says about paying this checkout, for the return page: "paid", "processing"
    (complete, money not yet confirmed), "unpaid" (still open), "expired", or "unknown" when
    Stripe can't be reached right now."""
    if not checkout.stripe_session_id:
        return "expired" if checkout.status == "expired" or checkout.is_expired(now()) else "unpaid"
    try:
        session = get_gateway().retrieve_checkout_session(checkout.stripe_session_id)
    except (PaymentsUnavailable, stripe.StripeError):
        return "unknown"
    if session.status == "complete":
        return "paid" if session.payment_status in ("paid", "no_payment_required") else "processing"
    if session.status == "expired" or checkout.status == "expired":
        return "expired"
    return "unpaid"


def _locked_checkout(checkout_id: int) -> Checkout | None:
    return db.session.execute(select(Checkout).where(Checkout.id == checkout_id).with_for_update()).scalar_one_or_none()


def _our_checkout(
    metadata: Mapping[str, Any], fallback_id: object = None, session_id: str | None = None
) -> Checkout | None:
    """Our locked Checkout named by Stripe metadata, or None when it isn't ours: the id must
    name a checkout whose key is the metadata's `checkout_key` (or whose recorded session is
    `session_id`). Metadata without a key (sessions created before keys existed) is trusted by
    id only where no session id can confirm it."""
    raw_id = str(metadata.get("checkout_id") or fallback_id or "")
    if not raw_id.isdigit():
        return None
    checkout = _locked_checkout(int(raw_id))
    if checkout is None:
        return None
    key = metadata.get("checkout_key")
    if key is not None:
        return checkout if key == checkout.idempotency_key else None
    if session_id is not None:
        return checkout if checkout.stripe_session_id == session_id else None
    return checkout


def _checkout_of_session(session: Mapping[str, Any]) -> Checkout | None:
    return _our_checkout(session.get("metadata") or {}, session.get("client_reference_id"), session.get("id"))


def _notify_company(company: Company, kind: str, title: str, link: str | None = None) -> None:
    for manager in company.managers():
        notify_user(manager, kind, title, link=link)


def complete_checkout(session: Mapping[str, Any]) -> Order | Membership | None:
    """Turn a paid Checkout Session into an order (gig) or membership (product), once.

    Returns the Order or Membership, or None when the session isn't ours or isn't paid.
    Safe to call any number of times and concurrently.
    """
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return None
    checkout = _checkout_of_session(session)
    if checkout is None:
        return None
    if checkout.status == "completed":
        return _result_of(checkout)
    if session.get("mode") != "subscription" and session.get("amount_total") != checkout.total_cents:
        raise ValueError(
            f"checkout {checkout.id}: Stripe charged {session.get('amount_total')}, we quoted {checkout.total_cents}"
        )
    checkout.status, checkout.completed_at = "completed", now()
    checkout.stripe_session_id = checkout.stripe_session_id or session["id"]
    result: Order | Membership
    if checkout.kind == "gig":
        result = _create_order(checkout, session)
    elif session.get("mode") == "subscription":
        result = ensure_subscription_membership(checkout, session["subscription"])
    else:
        result = _create_lifetime_membership(checkout, session)
    db.session.flush()
    return result


def _result_of(checkout: Checkout) -> Order | Membership | None:
    if checkout.kind == "gig":
        return db.session.scalar(select(Order).where(Order.checkout_id == checkout.id))
    return db.session.scalar(select(Membership).where(Membership.checkout_id == checkout.id))


def _charge_of(payment_intent_id: str | None) -> str | None:
    if not payment_intent_id:
        return None
    charge = get_gateway().retrieve_payment_intent(payment_intent_id).latest_charge
    return charge.id if isinstance(charge, stripe.Charge) else charge  # an id unless expanded


def _from_checkout(checkout: Checkout, *same_named: str) -> dict[str, Any]:
    """The columns a row made from a completed checkout copies: its company, buyer and the
    checkout, then each of `same_named`, a column of the checkout and the row alike."""
    copied = {name: getattr(checkout, name) for name in same_named}
    return {"company_id": checkout.company_id, "buyer_id": checkout.buyer_id, "checkout_id": checkout.id, **copied}


def _record_checkout_payment(checkout: Checkout, session: Mapping[str, Any], kind: str, **paid_for: int) -> Payment:
    """The buyer's one-time payment of a completed checkout, for the order or membership named
    in `paid_for` (`order_id=` or `membership_id=`), with its Stripe intent and charge. Flushed."""
    payment = Payment(
        **_from_checkout(checkout, "fee_cents", "currency"),
        kind=kind,
        amount_cents=checkout.total_cents,
        stripe_payment_intent_id=session.get("payment_intent"),
        stripe_charge_id=_charge_of(session.get("payment_intent")),
        **paid_for,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


# What a gig order keeps of its checkout, column for column.
_ORDER_TERMS = (
    "gig_id",
    "package_id",
    "title",
    "quantity",
    "extras",
    "total_cents",
    "fee_cents",
    "currency",
    "delivery_days",
)


def _create_order(checkout: Checkout, session: Mapping[str, Any]) -> Order:
    if checkout.delivery_days is None:
        raise ValueError(f"checkout {checkout.id}: a gig checkout without its delivery time")
    package = checkout.package
    order = Order(
        **_from_checkout(checkout, *_ORDER_TERMS),
        status="awaiting_requirements",
        package_tier=package.tier,
        seller_amount_cents=checkout.total_cents - checkout.fee_cents,
        revisions_allowed=checkout.package_revisions,
        due_at=now() + timedelta(days=checkout.delivery_days),
    )
    db.session.add(order)
    db.session.flush()
    payment = _record_checkout_payment(checkout, session, "gig", order_id=order.id)
    post_ledger_transaction(
        f"payment:{payment.id}",
        "gig_payment",
        [
            Entry("platform_cash", checkout.total_cents),
            Entry("seller_escrow", -order.seller_amount_cents, checkout.company_id),
            Entry("platform_fee_revenue", -checkout.fee_cents),
        ],
        currency=checkout.currency,
        description=f"Order #{order.id} paid into escrow",
        order_id=order.id,
        payment_id=payment.id,
    )
    record_payment_commission(payment)
    record_event(
        order.company_id,
        "order.created",
        {
            "order_id": order.id,
            "gig_id": order.gig_id,
            "package": order.package_tier,
            "buyer_id": order.buyer_id,
            "amount_cents": order.total_cents,
            "currency": order.currency,
            "status": order.status,
            "due_at": iso_z(order.due_at),
        },
    )
    _announce_payment(payment)
    notify_user(
        checkout.buyer,
        "order.created",
        f"Order #{order.id} placed: {order.title}",
        body="Tell the seller what you need to get started.",
        link=f"/orders/{order.id}",
    )
    _notify_company(order.company, "order.created", f"New order #{order.id}: {order.title}", link=f"/orders/{order.id}")
    for manager in order.company.managers():
        send_template(
            manager,
            "order_placed",
            order=order,
            buyer_name=checkout.buyer.display_name,
            amount=format_money(order.total_cents, order.currency),
            link=app_url("orders.workspace", order_id=order.id),
        )
    return order


def _create_lifetime_membership(checkout: Checkout, session: Mapping[str, Any]) -> Membership:
    membership = Membership(
        **_from_checkout(checkout, "product_id", "plan_id"),
        status="active",
    )
    db.session.add(membership)
    db.session.flush()
    payment = _record_checkout_payment(checkout, session, "product", membership_id=membership.id)
    _post_direct_charge_fee(payment, f"{checkout.title} sold")
    record_payment_commission(payment)
    _announce_payment(payment)
    refresh_access(membership)
    issue_license_for_membership(membership)
    _announce_membership(membership, checkout)
    return membership


def _post_direct_charge_fee(payment: Payment, description: str) -> None:
    """Destination charges pay the seller directly; the platform's ledger sees only its fee."""
    post_ledger_transaction(
        f"payment:{payment.id}",
        f"{payment.kind}_fee",
        [
            Entry("platform_cash", payment.fee_cents),
            Entry("platform_fee_revenue", -payment.fee_cents),
        ],
        currency=payment.currency,
        description=description,
        payment_id=payment.id,
    )


def _announce_payment(payment: Payment) -> None:
    """The outbound `payment.succeeded` event, and the buyer's emailed receipt."""
    _email_receipt(payment)
    metrics.PAYMENTS.labels(kind=payment.kind, outcome="succeeded").inc()
    money_log.info(
        "payment %s succeeded",
        payment.id,
        extra={
            "event": "payment.succeeded",
            "payment_id": payment.id,
            "kind": payment.kind,
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
            "seller_company_id": payment.company_id,
        },
    )
    record_event(
        payment.company_id,
        "payment.succeeded",
        {
            "payment_id": payment.id,
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
            "order_id": payment.order_id,
            "membership_id": payment.membership_id,
            "kind": payment.kind,
        },
    )


def _email_receipt(payment: Payment) -> None:
    buyer = db.session.get_one(User, payment.buyer_id)
    checkout = db.session.get(Checkout, payment.checkout_id) if payment.checkout_id else None
    company = db.session.get_one(Company, payment.company_id)
    if payment.order_id is not None:
        link = app_url("orders.workspace", order_id=payment.order_id)
    else:
        link = app_url("account.home")
    send_template(
        buyer,
        "payment_receipt",
        item=checkout.title if checkout is not None else "Your purchase",
        seller_name=company.title,
        amount=format_money(payment.amount_cents, payment.currency),
        paid_on=now().strftime("%B %-d, %Y"),
        reference=f"TP-{payment.id:06d}",
        link=link,
    )


def _membership_data(membership: Membership) -> dict[str, Any]:
    renews = membership.current_period_end if membership.status in ("trialing", "active") else None
    return {
        "membership_id": membership.id,
        "product_id": membership.product_id,
        "plan_id": membership.plan_id,
        "buyer_id": membership.buyer_id,
        "status": membership.status,
        "renews_at": iso_z(renews) if renews and not membership.cancel_at_period_end else None,
        "access_ends_at": iso_z(membership.access_ends_at),
    }


def library_link(membership: Membership) -> str:
    """The buyer's library, at this product."""
    return f"/account/library#product-{membership.product_id}"


def _email_buyer(membership: Membership, subject: str, text: str) -> None:
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    queue_email(
        membership.buyer,
        subject,
        f"{text}\n\nOpen it in your library: {base}{library_link(membership)}\n",
    )


def _announce_membership(membership: Membership, checkout: Checkout) -> None:
    record_event(membership.company_id, "membership.activated", _membership_data(membership))
    notify_user(checkout.buyer, "membership.activated", f"You now have {checkout.title}", link=library_link(membership))
    trial = (
        f" Your free trial runs until {membership.paid_through:%b %d, %Y}."
        if membership.status == "trialing" and membership.paid_through
        else ""
    )
    _email_buyer(membership, f"You now have {checkout.title}", f"Thanks for buying {checkout.title}.{trial}")
    _notify_company(checkout.product.company, "membership.activated", f"New customer for {checkout.title}")


def _period_end(subscription: Mapping[str, Any]) -> datetime | None:
    items = (subscription.get("items") or {}).get("data") or []
    stamp = subscription.get("current_period_end") or (items[0].get("current_period_end") if items else None)
    return from_stamp(stamp)


def _apply_subscription(membership: Membership, subscription: Mapping[str, Any]) -> None:
    """What a subscription object says about the paid period: its current period end, whether
    it ends there, and — while `active` or `trialing` — that the period (or trial) is paid."""
    membership.current_period_end = _period_end(subscription) or membership.current_period_end
    membership.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    stripe_status = subscription.get("status")
    if stripe_status == "trialing":
        extend_paid_through(membership, from_stamp(subscription.get("trial_end")) or membership.current_period_end)
    elif stripe_status == "active":
        extend_paid_through(membership, membership.current_period_end)


def ensure_subscription_membership(checkout: Checkout, subscription_id: str) -> Membership:
    """The membership of a subscription checkout, created on first sight (from either the
    session or an invoice event, whichever arrives first)."""
    membership = db.session.scalar(select(Membership).where(Membership.checkout_id == checkout.id))
    if membership is not None:
        return membership
    subscription = get_gateway().retrieve_subscription(subscription_id).to_dict()
    membership = Membership(
        **_from_checkout(checkout, "product_id", "plan_id"),
        status=_membership_status(subscription["status"]),
        stripe_subscription_id=subscription_id,
    )
    _apply_subscription(membership, subscription)
    if membership.status == "past_due":
        start_grace(membership)
    refresh_access(membership)
    db.session.add(membership)
    db.session.flush()
    issue_license_for_membership(membership)
    _announce_membership(membership, checkout)
    return membership


_STATUS_MAP = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "canceled": "canceled",
    "incomplete_expired": "expired",
    "incomplete": "past_due",
    "paused": "past_due",
}


def _membership_status(stripe_status: str) -> str:
    return _STATUS_MAP.get(stripe_status, "past_due")


def membership_for_subscription(subscription_id: str | None, metadata: Mapping[str, Any] | None) -> Membership | None:
    """The membership of a Stripe subscription (row locked), creating it from its checkout if
    needed; None without a subscription id (`== None` would match every membership without one)."""
    if not subscription_id:
        return None
    membership = db.session.scalar(
        select(Membership).where(Membership.stripe_subscription_id == subscription_id).with_for_update(of=Membership)
    )
    if membership is not None or metadata is None or not metadata.get("checkout_id"):
        return membership
    checkout = _our_checkout(metadata)
    if checkout is None:
        return None
    if checkout.status != "completed":
        checkout.status, checkout.completed_at = "completed", now()
    return ensure_subscription_membership(checkout, subscription_id)


def _subscription_line_period(invoice: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """(start, end) of the period the invoice's subscription lines pay for. Not the invoice's
    own period_start/period_end: for a renewal those name the period that just ended."""
    lines = (invoice.get("lines") or {}).get("data") or []
    periods = [line.get("period") or {} for line in lines if line.get("subscription") or line.get("parent")]
    starts = [from_stamp(period.get("start")) for period in periods]
    ends = [from_stamp(period.get("end")) for period in periods]
    return (
        min((s for s in starts if s), default=None),
        max((e for e in ends if e), default=None),
    )


def record_invoice_paid(invoice: Mapping[str, Any]) -> Membership | None:
    """A paid subscription invoice: payment + fee in the ledger (once per invoice), and access
    through the period its lines pay for. A `$0` invoice (a trial's) leaves the membership as
    it is and never shortens its trial; a paid renewal ends a past_due grace period."""
    subscription_id, metadata = _invoice_subscription(invoice)
    membership = membership_for_subscription(subscription_id, metadata)
    if membership is None:
        return None
    _, paid_until = _subscription_line_period(invoice)
    extend_paid_through(membership, paid_until)
    if paid_until and (membership.current_period_end is None or paid_until > membership.current_period_end):
        membership.current_period_end = paid_until
    amount = invoice.get("amount_paid") or 0
    if amount and membership.status in ("trialing", "active", "past_due"):
        recovered = membership.status == "past_due"
        membership.status, membership.grace_ends_at = "active", None
        if recovered:
            notify_user(
                membership.buyer,
                "membership.recovered",
                f"Payment for {membership.product.title} went through",
                link=library_link(membership),
            )
    if amount and db.session.scalar(select(Payment.id).where(Payment.stripe_invoice_id == invoice["id"])) is None:
        checkout = db.session.get_one(Checkout, membership.checkout_id)
        payment = Payment(
            company_id=membership.company_id,
            kind="subscription",
            buyer_id=membership.buyer_id,
            checkout_id=checkout.id,
            membership_id=membership.id,
            amount_cents=amount,
            fee_cents=fee_cents(amount, checkout.fee_bps),
            currency=invoice["currency"],
            stripe_invoice_id=invoice["id"],
        )
        db.session.add(payment)
        db.session.flush()
        _post_direct_charge_fee(payment, f"{checkout.title} invoice {invoice['id']}")
        record_payment_commission(payment)
        _announce_payment(payment)
    sync_license_with_membership(membership)
    db.session.flush()
    return membership


def record_invoice_failed(invoice: Mapping[str, Any]) -> Membership | None:
    """A failed renewal: the membership goes past_due with SUBSCRIPTION_GRACE_DAYS of access
    after its paid period (once: retries that fail again do not move it), and the buyer is
    told until when. Access never reaches into the unpaid period beyond the grace."""
    subscription_id, metadata = _invoice_subscription(invoice)
    membership = membership_for_subscription(subscription_id, metadata)
    metrics.PAYMENTS.labels(kind="subscription", outcome="failed").inc()
    money_log.info(
        "subscription payment failed",
        extra={
            "event": "payment.failed",
            "kind": "subscription",
            "invoice": invoice.get("id"),
            "amount_cents": invoice.get("amount_due"),
        },
    )
    if membership is None:
        return None
    if membership.status in ("active", "trialing", "past_due"):
        first_failure = membership.grace_ends_at is None
        membership.status = "past_due"
        start_grace(membership)
        if first_failure:
            until = f"{membership.grace_ends_at:%b %d, %Y %H:%M} UTC"
            title = f"Payment for {membership.product.title} failed"
            text = f"We couldn't charge your card. You keep access until {until}; update your card to keep it after."
            notify_user(membership.buyer, "membership.payment_failed", title, body=text, link=library_link(membership))
            send_template(
                membership.buyer,
                "subscription_payment_failed",
                product_title=membership.product.title,
                until=until,
                link=app_url("account.library") + f"#product-{membership.product_id}",
            )
    sync_license_with_membership(membership)
    db.session.flush()
    return membership


def sync_subscription(subscription: Mapping[str, Any], deleted: bool = False) -> Membership | None:
    """customer.subscription.created/updated/deleted → the membership's status and periods.

    When the subscription ends, access (member area, files, key) ends at once and
    `membership.deactivated` and `license.deactivated` go out, once."""
    membership = membership_for_subscription(subscription["id"], subscription.get("metadata"))
    if membership is None:
        return None
    status = "canceled" if deleted else _membership_status(subscription["status"])
    ended = membership.status in ("canceled", "expired")
    if ended and status not in ("canceled", "expired"):
        status = membership.status  # an older update arriving after the end changes nothing
    _apply_subscription(membership, subscription)
    if status == "past_due":
        start_grace(membership)
    elif status in ("trialing", "active"):
        membership.grace_ends_at = None
    changed = status != membership.status
    membership.status = status
    if changed and status in ("canceled", "expired"):
        membership.canceled_at = now()
    license = sync_license_with_membership(membership)
    if changed and status in ("canceled", "expired"):
        record_event(
            membership.company_id, "membership.deactivated", {**_membership_data(membership), "reason": status}
        )
        if license is not None:
            announce_license(license, "license.deactivated")
        title = f"Your access to {membership.product.title} has ended"
        notify_user(membership.buyer, "membership.deactivated", title, link=library_link(membership))
        send_template(
            membership.buyer,
            "subscription_ended",
            product_title=membership.product.title,
            link=app_url("buy.product", slug=membership.product.slug),
        )
    db.session.flush()
    return membership


def record_invoice_upcoming(invoice: Mapping[str, Any]) -> Membership | None:
    """Stripe's notice a few days before a subscription renews: the buyer is told by email
    when and for how much (once per invoice event; the inbound event is processed once)."""
    subscription_id, metadata = _invoice_subscription(invoice)
    membership = membership_for_subscription(subscription_id, metadata)
    if membership is None or membership.status not in ("active", "trialing", "past_due"):
        return None
    renews_at = invoice.get("next_payment_attempt") or invoice.get("period_end")
    renews_on = from_stamp(renews_at) or membership.current_period_end or now()
    amount = invoice.get("amount_due")
    send_template(
        membership.buyer,
        "subscription_renewing",
        product_title=membership.product.title,
        renews_on=renews_on.strftime("%B %-d, %Y"),
        amount=format_money(amount, invoice.get("currency") or "usd") if amount else None,
        link=app_url("account.home"),
    )
    return membership


def _invoice_subscription(invoice: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription_id = invoice.get("subscription") or details.get("subscription")
    return subscription_id, details.get("metadata") or {}
