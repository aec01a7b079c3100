"""What the emulated Stripe does: the state changes behind API calls, hosted pages and
sandbox controls, and the events they emit.

Every function here runs inside ``atomic()``; an error raised as ``StripeError`` rolls the
whole change back unless the error says the attempt itself must be kept (a declined card
leaves a failed charge behind, as at Stripe).
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app, g, has_request_context

from app.sandbox.stripe import objects as so
from app.sandbox.stripe.store import Store

API_VERSION = "2026-10-28.endive"
ACCOUNT_LINK_TTL = 300
SESSION_MIN_TTL = 30 * 60
SESSION_MAX_TTL = 24 * 60 * 60

CARD_SUCCESS = "4242424242424242"
CARD_DECLINE = "4000000000000002"
CARD_INSUFFICIENT_FUNDS = "4000000000009995"
PAYMENT_METHOD_CARDS = {
    "pm_card_visa": CARD_SUCCESS,
    "pm_card_chargeDeclined": CARD_DECLINE,
    "pm_card_chargeDeclinedInsufficientFunds": CARD_INSUFFICIENT_FUNDS,
}
DECLINES = {
    CARD_DECLINE: ("generic_decline", "Your card was declined."),
    CARD_INSUFFICIENT_FUNDS: ("insufficient_funds", "Your card has insufficient funds."),
}


class StripeError(Exception):
    """An API error in Stripe's wire format."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        keep_changes: bool = False,
        extra: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.keep_changes = keep_changes
        self.extra = extra or {}

    def body(self) -> dict:
        error = {"type": self.type, "code": self.code, "message": self.message, "param": self.param}
        error.update(self.extra)
        return {"error": {k: v for k, v in error.items() if v is not None}}


def invalid(message: str, param: str | None = None, code: str | None = "parameter_invalid") -> StripeError:
    return StripeError(400, message, code=code, param=param)


def missing(type_label: str, object_id: str, param: str | None = None) -> StripeError:
    status = 400 if param else 404
    return StripeError(status, f"No such {type_label}: '{object_id}'", code="resource_missing", param=param)


def store() -> Store:
    return current_app.extensions["sandbox_store"]


@contextmanager
def atomic() -> Iterator[Store]:
    """One write transaction; webhook delivery is woken once it has committed."""
    st = store()
    outer = st.connection().in_transaction
    kept = None
    with st.transaction():
        try:
            yield st
        except StripeError as err:
            if outer or not err.keep_changes:
                raise
            kept = err
    if not outer:
        current_app.extensions["sandbox_deliverer"].notify()
    if kept is not None:
        raise kept


def load(type_: str, object_id: str, label: str | None = None, param: str | None = None) -> dict:
    obj = store().get(type_, object_id)
    if obj is None:
        raise missing(label or type_, object_id, param)
    return obj


def _of_request(name: str) -> str | None:
    """What the API request being served noted under ``name`` in ``g``; None outside a request."""
    return g.get(name) if has_request_context() else None


def emit(type_: str, obj: dict, previous_attributes: dict | None = None) -> dict:
    """Record an event about ``obj`` (a snapshot) and queue it for webhook delivery."""
    deliver = current_app.config["SANDBOX_DELIVER_WEBHOOKS"]
    event = so.event(
        type_=type_,
        obj=obj,
        api_version=API_VERSION,
        request_id=_of_request("stripe_request_id"),
        idempotency_key=_of_request("stripe_idempotency_key"),
        pending_webhooks=1 if deliver else 0,
        previous_attributes=previous_attributes,
    )
    st = store()
    st.insert(event)
    if deliver:
        st.enqueue_delivery(event["id"])
    return event


def add_interval(timestamp: int, interval: str, count: int = 1) -> int:
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    if interval == "day":
        moment += dt.timedelta(days=count)
    elif interval == "week":
        moment += dt.timedelta(weeks=count)
    else:
        months = count * (12 if interval == "year" else 1)
        month_index = moment.month - 1 + months
        year, month = moment.year + month_index // 12, month_index % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        moment = moment.replace(year=year, month=month, day=day)
    return int(moment.timestamp())


def percent_of(amount: int, percent: float | str) -> int:
    return int((Decimal(amount) * Decimal(str(percent)) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def require_transfers_capability(account_id: str, param: str) -> dict:
    account = load("account", account_id, "destination", param)
    if account["capabilities"].get("transfers") != "active":
        raise StripeError(
            400,
            "Your destination account needs to have at least one of the following capabilities "
            "enabled: transfers, crypto_transfers, legacy_payments",
            code="insufficient_capabilities_for_transfer",
            param=param,
        )
    return account


# -- accounts -------------------------------------------------------------------------------


def complete_onboarding(account_id: str, outcome: str) -> dict:
    """The seller finished the hosted onboarding form: verified, or failed verification."""
    account = load("account", account_id, "account")
    previous = {
        "charges_enabled": account["charges_enabled"],
        "payouts_enabled": account["payouts_enabled"],
        "details_submitted": account["details_submitted"],
        "requirements": account["requirements"],
    }
    account["details_submitted"] = True
    if outcome == "verified":
        account["charges_enabled"] = True
        account["payouts_enabled"] = True
        account["requirements"] = so.requirements([], None)
        account["capabilities"] = dict.fromkeys(account["capabilities"], "active")
        account["tos_acceptance"]["date"] = so.now()
        account["tos_acceptance"]["ip"] = "127.0.0.1"
    elif outcome == "failed":
        account["charges_enabled"] = False
        account["payouts_enabled"] = False
        due = ["individual.verification.document"]
        account["requirements"] = so.requirements(
            due,
            "requirements.past_due",
            errors=[
                {
                    "code": "verification_failed_other",
                    "reason": "The identity document could not be verified.",
                    "requirement": "individual.verification.document",
                }
            ],
        )
        account["capabilities"] = dict.fromkeys(account["capabilities"], "inactive")
    else:
        raise invalid("outcome must be one of: verified, failed", "outcome")
    store().save(account)
    emit("account.updated", account, previous)
    return account


# -- payments -------------------------------------------------------------------------------


def card_for(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits not in (CARD_SUCCESS, *DECLINES):
        raise StripeError(
            402, "Your card number is incorrect.", type_="card_error", code="incorrect_number", param="number"
        )
    return digits


def settle_payment(intent: dict, card: str, email: str | None, name: str | None) -> dict:
    """Charge ``card`` for a payment intent: a succeeded or failed charge, fee, events.

    Returns the charge. A decline raises a card error that keeps the failed attempt.
    """
    st = store()
    payment_method = so.new_id("pm_")
    card_details = {"payment_method": payment_method, "last4": card[-4:], "billing_email": email, "billing_name": name}
    decline = DECLINES.get(card)
    if decline:
        decline_code, message = decline
        failed = so.charge(intent=intent, **card_details, failure_code="card_declined", failure_message=message)
        st.insert(failed)
        intent.update(
            status="requires_payment_method",
            latest_charge=failed["id"],
            last_payment_error={
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline_code,
                "message": message,
                "charge": failed["id"],
                "payment_method": {"id": payment_method, "object": "payment_method"},
            },
        )
        st.save(intent)
        emit("charge.failed", failed)
        emit("payment_intent.payment_failed", intent)
        raise StripeError(
            402,
            message,
            type_="card_error",
            code="card_declined",
            keep_changes=True,
            extra={"decline_code": decline_code, "charge": failed["id"], "payment_intent": intent},
        )
    txn = so.balance_transaction(
        amount=intent["amount"],
        currency=intent["currency"],
        source="",
        type_="charge",
        description=intent["description"],
    )
    charge = so.charge(intent=intent, **card_details, balance_transaction=txn["id"])
    txn["source"] = charge["id"]
    st.insert(txn)
    destination = (intent.get("transfer_data") or {}).get("destination")
    fee = None
    if intent["application_fee_amount"] and destination:
        fee_txn = so.balance_transaction(
            amount=intent["application_fee_amount"],
            currency=intent["currency"],
            source="",
            type_="application_fee",
            description=None,
        )
        fee = so.application_fee(
            account=destination,
            amount=intent["application_fee_amount"],
            charge_id=charge["id"],
            currency=intent["currency"],
            balance_transaction=fee_txn["id"],
        )
        fee_txn["source"] = fee["id"]
        st.insert(fee_txn)
        st.insert(fee)
        charge["application_fee"] = fee["id"]
    st.insert(charge)
    intent.update(
        status="succeeded",
        amount_received=intent["amount"],
        latest_charge=charge["id"],
        payment_method=payment_method,
        last_payment_error=None,
    )
    st.save(intent)
    emit("charge.succeeded", charge)
    if fee:
        emit("application_fee.created", fee)
    emit("payment_intent.succeeded", intent)
    return charge


def confirm_payment_intent(intent: dict, payment_method: str) -> dict:
    if intent["status"] == "succeeded":
        raise StripeError(
            400,
            "This PaymentIntent's payment_method could not be updated because it has a status of succeeded.",
            code="payment_intent_unexpected_state",
        )
    card = PAYMENT_METHOD_CARDS.get(payment_method)
    if card is None:
        raise missing("PaymentMethod", payment_method, "payment_method")
    settle_payment(intent, card, intent["receipt_email"], None)
    return store().get("payment_intent", intent["id"])


# -- checkout -------------------------------------------------------------------------------


def expire_if_due(session: dict) -> dict:
    if session["status"] == "open" and session["expires_at"] <= so.now():
        return expire_session(session)
    return session


def expire_session(session: dict) -> dict:
    if session["status"] != "open":
        raise StripeError(
            400,
            f'Only Checkout Sessions with a status in ["open"] can be expired. '
            f'This Checkout Session has a status of "{session["status"]}".',
            code="checkout_session_unexpected_state",
        )
    session["status"] = "expired"
    session["url"] = None
    store().save(session)
    emit("checkout.session.expired", session)
    return session


def pay_checkout_session(
    session_id: str, card_number: str, email: str | None, name: str | None, processing: bool = False
) -> dict:
    """The buyer submitted the hosted checkout form. Returns the completed session.

    ``processing``: paid with a delayed method (a bank debit): the session completes with
    ``payment_status`` "unpaid" and its payment intent "processing", as Stripe does."""
    st = store()
    session = expire_if_due(load("checkout.session", session_id, "checkout session"))
    if session["status"] != "open":
        raise StripeError(
            400, f"This Checkout Session is {session['status']}.", code="checkout_session_unexpected_state"
        )
    private = st.get_private(session_id)
    email = email or session["customer_email"]
    card = card_for(card_number)
    if processing:
        if session["mode"] != "payment":
            raise invalid("Delayed payment methods are emulated for `payment` mode only.", "outcome")
        _start_processing_payment(session, private, email)
    elif session["mode"] == "payment":
        _pay_payment_session(session, private, card, email, name)
    else:
        _pay_subscription_session(session, private, card, email, name)
    session = st.get("checkout.session", session_id)
    session.update(status="complete", customer_details=so.customer_details(email, name), url=None)
    st.save(session)
    emit("checkout.session.completed", session)
    return session


def _session_payment_intent(session: dict, private: dict, email: str | None) -> dict:
    """A new payment intent for a payment-mode session, from the session's payment_intent_data."""
    data = private["payment_intent_data"]
    return so.payment_intent(
        amount=session["amount_total"],
        currency=session["currency"],
        description=data.get("description"),
        metadata=data.get("metadata", {}),
        transfer_group=data.get("transfer_group"),
        application_fee_amount=data.get("application_fee_amount"),
        destination=data.get("destination"),
        receipt_email=email,
    )


def _start_processing_payment(session: dict, private: dict, email: str | None) -> None:
    st = store()
    intent = _session_payment_intent(session, private, email)
    intent.update(status="processing", payment_method_types=["us_bank_account"])
    st.insert(intent)
    emit("payment_intent.processing", intent)
    session.update(payment_intent=intent["id"], payment_status="unpaid")
    st.save(session)


def _pay_payment_session(session: dict, private: dict, card: str, email: str | None, name: str | None) -> None:
    st = store()
    intent = st.get("payment_intent", session["payment_intent"]) if session["payment_intent"] else None
    if intent is None:
        intent = _session_payment_intent(session, private, email)
        st.insert(intent)
        session["payment_intent"] = intent["id"]
        st.save(session)
    settle_payment(intent, card, email, name)
    session.update(payment_status="paid")
    st.save(session)


def _pay_subscription_session(session: dict, private: dict, card: str, email: str | None, name: str | None) -> None:
    if card in DECLINES:
        raise StripeError(402, DECLINES[card][1], type_="card_error", code="card_declined")
    st = store()
    data = private["subscription_data"]
    customer = so.customer(email=email)
    customer["name"] = name
    st.insert(customer)
    emit("customer.created", customer)

    start = so.now()
    trial_days = data.get("trial_period_days")
    trial_end = start + trial_days * 86400 if trial_days else None
    item_data = private["line_items"][0]
    recurring = item_data["price"]["recurring"]
    period_end = trial_end or add_interval(start, recurring["interval"], recurring["interval_count"])
    subscription_id = so.new_id("sub_")
    items = [
        so.subscription_item(
            subscription_id=subscription_id,
            price_obj=item["price"],
            quantity=item["quantity"],
            period_start=start,
            period_end=period_end,
        )
        for item in private["line_items"]
    ]
    sub = so.subscription(
        subscription_id=subscription_id,
        customer_id=customer["id"],
        currency=session["currency"],
        items=items,
        metadata=data.get("metadata", {}),
        application_fee_percent=data.get("application_fee_percent"),
        destination=data.get("destination"),
        trial_start=start if trial_end else None,
        trial_end=trial_end,
        start=start,
    )
    amount = 0 if trial_end else session["amount_total"]
    invoice = so.invoice(
        sub=sub,
        customer=customer,
        amount=amount,
        billing_reason="subscription_create",
        period_start=start,
        period_end=start if trial_end else period_end,
        paid=True,
        line_period=(start, period_end),
    )
    sub["latest_invoice"] = invoice["id"]
    st.insert(sub)
    st.insert(invoice)
    _bump_invoice_sequence(customer)
    emit("customer.subscription.created", sub)
    if amount:
        _charge_invoice(sub, invoice, customer, card, name)
    emit("invoice.paid", invoice)
    session.update(
        customer=customer["id"],
        subscription=sub["id"],
        invoice=invoice["id"],
        payment_status="paid" if amount else "no_payment_required",
    )
    st.save(session)


def _bump_invoice_sequence(customer: dict) -> None:
    customer["next_invoice_sequence"] += 1
    store().save(customer)


def _charge_invoice(sub: dict, invoice: dict, customer: dict, card: str, name: str | None) -> dict:
    destination = (sub.get("transfer_data") or {}).get("destination")
    fee_percent = sub.get("application_fee_percent")
    intent = so.payment_intent(
        amount=invoice["amount_due"],
        currency=invoice["currency"],
        customer=customer["id"],
        description="Subscription creation"
        if invoice["billing_reason"] == "subscription_create"
        else "Subscription update",
        metadata={},
        transfer_group=None,
        application_fee_amount=percent_of(invoice["amount_due"], fee_percent) if fee_percent and destination else None,
        destination=destination,
        receipt_email=customer["email"],
    )
    store().insert(intent)
    return settle_payment(intent, card, customer["email"], name)


# -- subscriptions --------------------------------------------------------------------------


def advance_subscription(subscription_id: str, outcome: str) -> dict:
    """Move a subscription into its next billing period, with a paid or failed renewal."""
    if outcome not in ("paid", "failed"):
        raise invalid("outcome must be one of: paid, failed", "outcome")
    st = store()
    sub = load("subscription", subscription_id, "subscription")
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError(
            400, f"Subscription {subscription_id} is {sub['status']}.", code="subscription_unexpected_state"
        )
    customer = load("customer", sub["customer"], "customer")
    previous = {
        "status": sub["status"],
        "items": copy.deepcopy(sub["items"]),
        "latest_invoice": sub["latest_invoice"],
    }
    amount = 0
    for item in sub["items"]["data"]:
        recurring = item["price"]["recurring"]
        start = item["current_period_end"]
        item["current_period_start"] = start
        item["current_period_end"] = add_interval(start, recurring["interval"], recurring["interval_count"])
        amount += item["price"]["unit_amount"] * item["quantity"]
    first = sub["items"]["data"][0]
    invoice = so.invoice(
        sub=sub,
        customer=customer,
        amount=amount,
        billing_reason="subscription_cycle",
        period_start=previous["items"]["data"][0]["current_period_start"],
        period_end=first["current_period_start"],
        paid=outcome == "paid",
        line_period=(first["current_period_start"], first["current_period_end"]),
    )
    st.insert(invoice)
    _bump_invoice_sequence(customer)
    sub["latest_invoice"] = invoice["id"]
    sub["status"] = "active" if outcome == "paid" else "past_due"
    st.save(sub)
    if outcome == "paid":
        if amount:
            card = st.get_private(customer["id"]).get("card", CARD_SUCCESS)  # a card from the portal
            _charge_invoice(sub, invoice, customer, card, customer["name"])
        emit("invoice.paid", invoice)
    else:
        emit("invoice.payment_failed", invoice)
    emit("customer.subscription.updated", sub, previous)
    return sub


def cancel_subscription(sub: dict) -> dict:
    if sub["status"] == "canceled":
        return sub
    moment = so.now()
    previous = {"status": sub["status"], "canceled_at": None, "ended_at": None}
    sub.update(status="canceled", canceled_at=moment, ended_at=moment)
    sub["cancellation_details"]["reason"] = "cancellation_requested"
    store().save(sub)
    emit("customer.subscription.deleted", sub, previous)
    return sub


# -- disputes -------------------------------------------------------------------------------


def open_dispute(charge_id: str, reason: str = "fraudulent") -> dict:
    st = store()
    charge = load("charge", charge_id, "charge")
    if charge["status"] != "succeeded":
        raise invalid("Only succeeded charges can be disputed.", "charge")
    if st.find("dispute", {"$.charge": charge_id, "$.status": "needs_response"}):
        raise invalid(f"Charge {charge_id} already has an open dispute.", "charge")
    amount = charge["amount"] - charge["amount_refunded"]
    if amount <= 0:
        raise invalid(f"Charge {charge_id} has been fully refunded.", "charge")
    dispute = so.dispute(charge_obj=charge, amount=amount, reason=reason)
    st.insert(dispute)
    charge["disputed"] = True
    st.save(charge)
    emit("charge.dispute.created", dispute)
    return dispute


def close_dispute(charge_id: str, outcome: str) -> dict:
    if outcome not in ("won", "lost"):
        raise invalid("outcome must be one of: won, lost", "outcome")
    st = store()
    open_disputes = st.find("dispute", {"$.charge": charge_id, "$.status": "needs_response"})
    if not open_disputes:
        raise invalid(f"Charge {charge_id} has no open dispute.", "charge")
    dispute = open_disputes[-1]
    dispute["status"] = outcome
    dispute["evidence_details"]["has_evidence"] = True
    dispute["evidence_details"]["submission_count"] = 1
    st.save(dispute)
    emit("charge.dispute.closed", dispute, {"status": "needs_response"})
    return dispute
