"""The emulated Stripe customer portal: portal configurations and sessions (the API side, called
from api.py) and the hosted portal page a session's URL opens (standing in for
billing.stripe.com).

On the page the customer cancels a subscription at the end of its period, renews (resumes) it
before that, switches it to another price the configuration offers for its product, and
replaces the card — each change sending the events Stripe sends:

* cancel / resume — ``customer.subscription.updated`` (``cancel_at_period_end``,
  ``cancel_at``, ``canceled_at``, ``cancellation_details`` with their previous values)
* switch plan — ``customer.subscription.updated`` (``items`` changed; proration "none", as the
  default configuration: the new price is billed from the next period)
* update card — ``payment_method.attached``, then ``customer.updated``
  (``invoice_settings.default_payment_method``); the new card pays the renewals

Forms work without JavaScript and answer a successful POST with a 303 back to the page.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.sandbox.stripe import objects as so
from app.sandbox.stripe import ops
from app.sandbox.stripe.ops import StripeError, atomic, emit, invalid, load

bp = Blueprint("stripe_portal", __name__, template_folder="templates")

ENDED = ("canceled", "incomplete_expired")


# -- configurations and sessions (the API) -----------------------------------------------------


def default_configuration() -> dict:
    """The account's default configuration, created on first use as Stripe's dashboard does."""
    st = ops.store()
    found = st.find("billing_portal.configuration", {"$.is_default": True})
    if found:
        return found[0]
    return st.insert(so.billing_portal_configuration(is_default=True, products=[]))


def create_configuration(
    products: list[dict], default_return_url: str | None, metadata: dict, name: str | None = None
) -> dict:
    """A non-default configuration; each ``products`` entry names a product and its prices,
    which must exist and belong to it."""
    st = ops.store()
    for index, entry in enumerate(products):
        param = f"features[subscription_update][products][{index}]"
        for price_id in entry["prices"]:
            price = st.get("price", price_id)
            if price is None:
                raise ops.missing("price", price_id, f"{param}[prices]")
            if price["product"] != entry["product"]:
                raise invalid(f"The price {price_id} does not belong to product {entry['product']}.", param)
            if price["recurring"] is None:
                raise invalid(f"The price {price_id} is not recurring.", param)
    config = so.billing_portal_configuration(
        is_default=False, products=products, default_return_url=default_return_url, metadata=metadata, name=name
    )
    return st.insert(config)


def create_session(customer_id: str, return_url: str | None, configuration_id: str | None, locale: str | None) -> dict:
    load("customer", customer_id, "customer", "customer")
    if configuration_id:
        config = load("billing_portal.configuration", configuration_id, "configuration", "configuration")
    else:
        config = default_configuration()
    return_url = return_url or config["default_return_url"]
    if not return_url:
        raise invalid(
            "You must provide a `return_url` or set a default return URL on the configuration.",
            "return_url",
            code="parameter_missing",
        )
    public_url = current_app.config["SANDBOX_PUBLIC_URL"]
    token = so.new_id("", 32)
    session = so.billing_portal_session(
        configuration=config["id"],
        customer=customer_id,
        return_url=return_url,
        locale=locale,
        url_for_session=lambda _sid: public_url + url_for("stripe_portal.portal", token=token),
    )
    return ops.store().insert(session, {"token": token})


# -- what the customer does on the page --------------------------------------------------------


def _period_end(sub: dict) -> int:
    return sub["items"]["data"][0]["current_period_end"]


def _cancellation(sub: dict) -> dict:
    return {
        "cancel_at": sub["cancel_at"],
        "cancel_at_period_end": sub["cancel_at_period_end"],
        "canceled_at": sub["canceled_at"],
        "cancellation_details": dict(sub["cancellation_details"]),
    }


def _live_subscription(customer_id: str, subscription_id: str) -> dict:
    sub = ops.store().get("subscription", subscription_id)
    if sub is None or sub["customer"] != customer_id:
        raise StripeError(404, "No such subscription for this customer.", code="resource_missing")
    if sub["status"] in ENDED:
        raise StripeError(409, "This subscription has ended.", code="subscription_unexpected_state")
    return sub


def cancel_at_period_end(customer_id: str, subscription_id: str) -> dict:
    sub = _live_subscription(customer_id, subscription_id)
    if sub["cancel_at_period_end"]:
        return sub
    previous = _cancellation(sub)
    sub.update(cancel_at_period_end=True, cancel_at=_period_end(sub), canceled_at=so.now())
    sub["cancellation_details"]["reason"] = "cancellation_requested"
    ops.store().save(sub)
    emit("customer.subscription.updated", sub, previous)
    return sub


def resume(customer_id: str, subscription_id: str) -> dict:
    sub = _live_subscription(customer_id, subscription_id)
    if not sub["cancel_at_period_end"]:
        return sub
    previous = _cancellation(sub)
    sub.update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)
    sub["cancellation_details"]["reason"] = None
    ops.store().save(sub)
    emit("customer.subscription.updated", sub, previous)
    return sub


def switch_options(config: dict, sub: dict) -> list[dict]:
    """The prices the configuration lets this subscription switch to (not its current one)."""
    item = sub["items"]["data"][0]
    update = config["features"]["subscription_update"]
    if not update["enabled"] or sub["status"] in ENDED:
        return []
    st = ops.store()
    options = []
    for entry in update.get("products") or []:
        if entry["product"] != item["price"]["product"]:
            continue
        for price_id in entry["prices"]:
            price = st.get("price", price_id)
            if price is not None and price["id"] != item["price"]["id"] and price["active"]:
                options.append(price)
    return options


def switch_price(customer_id: str, subscription_id: str, config: dict, price_id: str) -> dict:
    sub = _live_subscription(customer_id, subscription_id)
    price = next((p for p in switch_options(config, sub) if p["id"] == price_id), None)
    if price is None:
        raise invalid("Choose one of the plans offered.", "price")
    previous = {"items": sub["items"]}
    old = sub["items"]["data"][0]
    item = so.subscription_item(
        subscription_id=sub["id"],
        price_obj=price,
        quantity=old["quantity"],
        period_start=old["current_period_start"],
        period_end=old["current_period_end"],
    )
    item["id"] = old["id"]
    sub["items"] = {**sub["items"], "data": [item]}
    ops.store().save(sub)
    emit("customer.subscription.updated", sub, previous)
    return sub


def update_card(customer_id: str, card_number: str, name: str | None) -> dict:
    """Attach a new card and make it the customer's default for invoices (renewals charge it).
    A card that would be declined is refused here, as Stripe's SetupIntent refuses it."""
    st = ops.store()
    customer = load("customer", customer_id, "customer")
    card = ops.card_for(card_number)
    if card in ops.DECLINES:
        raise StripeError(402, ops.DECLINES[card][1], type_="card_error", code="card_declined")
    method = so.payment_method(customer=customer_id, last4=card[-4:], email=customer["email"], name=name)
    st.insert(method, {"card": card})
    emit("payment_method.attached", method)
    previous = {"invoice_settings": {"default_payment_method": customer["invoice_settings"]["default_payment_method"]}}
    customer["invoice_settings"]["default_payment_method"] = method["id"]
    private = st.get_private(customer_id)
    private["card"] = card
    st.save(customer, private)
    emit("customer.updated", customer, previous)
    for sub in st.find("subscription", {"$.customer": customer_id}):
        if sub["default_payment_method"] and sub["status"] not in ENDED:
            old = {"default_payment_method": sub["default_payment_method"]}
            sub["default_payment_method"] = method["id"]
            st.save(sub)
            emit("customer.subscription.updated", sub, old)
    return method


# -- the hosted page ---------------------------------------------------------------------------


def _session_or_404(token: str) -> dict:
    public_url = current_app.config["SANDBOX_PUBLIC_URL"]
    found = ops.store().find(
        "billing_portal.session", {"$.url": public_url + url_for("stripe_portal.portal", token=token)}
    )
    if not found:
        abort(404)
    return found[0]


def _render(session: dict, status: int = 200, error: str | None = None, notice: str | None = None) -> tuple[str, int]:
    st = ops.store()
    customer = st.get("customer", session["customer"])
    config = st.get("billing_portal.configuration", session["configuration"])
    subscriptions = [
        s for s in st.find("subscription", {"$.customer": session["customer"]}) if s["status"] not in ENDED
    ]
    method_id = customer["invoice_settings"]["default_payment_method"]
    method = st.get("payment_method", method_id) if method_id else None
    return render_template(
        "stripe/portal.html",
        session=session,
        token=request.view_args["token"],
        customer=customer,
        config=config,
        subscriptions=subscriptions,
        options={sub["id"]: switch_options(config, sub) for sub in subscriptions},
        payment_method=method,
        error=error,
        notice=notice or request.args.get("done"),
    ), status


@bp.get("/p/session/<token>")
def portal(token: str) -> tuple[str, int]:
    return _render(_session_or_404(token))


def _act(token: str, action, done: str) -> Response | tuple[str, int]:
    session = _session_or_404(token)
    try:
        with atomic():
            action(session)
    except StripeError as err:
        return _render(session, err.status, err.message)
    return redirect(url_for("stripe_portal.portal", token=token, done=done), 303)


@bp.post("/p/session/<token>/subscriptions/<subscription_id>/cancel")
def cancel(token: str, subscription_id: str) -> Response | tuple[str, int]:
    return _act(token, lambda s: cancel_at_period_end(s["customer"], subscription_id), "canceled")


@bp.post("/p/session/<token>/subscriptions/<subscription_id>/renew")
def renew(token: str, subscription_id: str) -> Response | tuple[str, int]:
    return _act(token, lambda s: resume(s["customer"], subscription_id), "renewed")


@bp.post("/p/session/<token>/subscriptions/<subscription_id>/update")
def update(token: str, subscription_id: str) -> Response | tuple[str, int]:
    def action(session: dict) -> None:
        config = load("billing_portal.configuration", session["configuration"])
        switch_price(session["customer"], subscription_id, config, request.form.get("price", ""))

    return _act(token, action, "updated")


@bp.post("/p/session/<token>/payment-method")
def payment_method(token: str) -> Response | tuple[str, int]:
    number = request.form.get("card_number", "").strip()
    if not number:
        return _render(_session_or_404(token), 422, "Enter a card number.")
    name = request.form.get("name", "").strip() or None
    return _act(token, lambda s: update_card(s["customer"], number, name), "card")


@bp.app_template_filter("portal_date")
def portal_date(timestamp: int | None) -> str:
    if not timestamp:
        return ""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%B %-d, %Y")
