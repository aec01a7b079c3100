"""The Stripe gateway: the only code path that moves money, in production and sandbox alike.

One ``stripe.StripeClient`` per process, pointed at ``STRIPE_API_BASE`` (api.stripe.com in
production, the sandbox emulator locally and in tests). Amounts are integer minor units.

Every mutating call carries the idempotency key the caller passes: a random token
(`new_idempotency_key`) stored on the local row and committed before the call, so it is unique
per deployment (sequential ids repeat after a database reset, or on a second deployment
sharing one Stripe account) and the same on every retry of that operation — a retried request,
job or double click cannot move money twice. Never derived from the clock.

When Stripe cannot be reached, or fails on its side, calls raise `PaymentsUnavailable`; the
views answer 503 with what did not happen.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Required, TypedDict, Unpack, cast

import stripe
from flask import current_app

from app.errors import ServiceError

if TYPE_CHECKING:
    from stripe.params import AccountCreateParams, RefundCreateParams, TransferCreateParams
    from stripe.params.checkout import SessionCreateParams

DEFAULT_API_BASE = "https://api.stripe.com"
NETWORK_RETRIES = 2
# A webhook signature's timestamp may be at most this far from our clock, either way.
WEBHOOK_TOLERANCE_SECONDS = 300

PAYMENTS_UNAVAILABLE = "Payments are unavailable right now, so nothing was done. Please try again."

_gateway_lock = threading.Lock()


class PaymentsUnavailable(ServiceError):
    """Stripe could not be reached, or answered with an error on its side (5xx, rate limit): 503.

    The operation may or may not have happened at Stripe: retry it with the same idempotency
    key to find out, never with a new one. `detail` is what the library said, for the log.
    """

    def __init__(self, detail: str):
        super().__init__(503, "payments_unavailable", PAYMENTS_UNAVAILABLE)
        self.detail = detail


def new_idempotency_key() -> str:
    """A fresh random idempotency key (32 URL-safe characters) for a local row to keep."""
    return secrets.token_urlsafe(24)


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
        raise PaymentsUnavailable(str(exc)) from exc


def _retrieved(service: Any, object_id: str) -> Any:
    """``service.retrieve(object_id)``: one Stripe object by id, an outage raised as PaymentsUnavailable."""
    with _reachable():
        return service.retrieve(object_id)


@dataclass(frozen=True)
class LineItem:
    """One checkout line: a name, a unit price in minor units and a quantity."""

    name: str
    unit_amount: int
    quantity: int = 1
    description: str | None = None


def _cents(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer amount in minor units, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _key(value: str, name: str = "idempotency_key") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string kept on the local row")
    return value


def _metadata(values: Mapping[str, Any] | None, **ours: Any) -> dict[str, str]:
    merged = {k: str(v) for k, v in (values or {}).items() if v is not None}
    merged.update({k: str(v) for k, v in ours.items() if v is not None})
    return merged


def _line_items(
    items: Sequence[LineItem | Mapping[str, Any]], currency: str, recurring: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    if not items:
        raise ValueError("a checkout needs at least one line item")
    lines = []
    for raw in items:
        item = raw if isinstance(raw, LineItem) else LineItem(**raw)
        product_data: dict[str, Any] = {"name": item.name}
        if item.description:
            product_data["description"] = item.description
        price_data: dict[str, Any] = {
            "currency": currency,
            "unit_amount": _cents(item.unit_amount, "unit_amount"),
            "product_data": product_data,
        }
        if recurring:
            price_data["recurring"] = recurring
        lines.append({"price_data": price_data, "quantity": _cents(item.quantity, "quantity", 1)})
    return lines


def bps_to_percent(bps: int) -> str:
    """Basis points as Stripe's decimal percent string: 1050 → "10.5"."""
    value = (Decimal(_cents(bps, "application_fee_bps")) / 100).normalize()
    return format(value, "f")


class CheckoutCommon(TypedDict, total=False):
    """What every kind of Checkout Session takes: our checkout's id and idempotency key, where
    Stripe sends the buyer back to, and optionally extra metadata, the buyer's email and expiry."""

    local_checkout_id: Required[int | str]
    idempotency_key: Required[str]
    success_url: Required[str]
    cancel_url: Required[str]
    metadata: Mapping[str, Any] | None
    customer_email: str | None
    expires_at: int | None


class StripeGateway:
    """Typed calls to the Stripe API subset Tradepost uses. Thread-safe; share one per process."""

    def __init__(self, secret_key: str, api_base: str | None = None, webhook_secret: str | None = None):
        base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.api_base = base
        self.webhook_secret = webhook_secret
        self._http_client = stripe.new_default_http_client()
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": base, "connect": base, "files": base},
            max_network_retries=NETWORK_RETRIES,
            http_client=self._http_client,
        )

    def close(self) -> None:
        """Release the calling thread's pooled connections (tests, shutdown)."""
        self._http_client.close()

    # -- Connect ----------------------------------------------------------------------------------

    def create_connected_account(
        self, company_id: int | str, email: str | None, country: str = "US", *, idempotency_key: str
    ) -> stripe.Account:
        """Create the Express account of a seller company, at most once per key.

        Requests card_payments and transfers; ``metadata.company_id`` links it back to us. The
        key is the company's own (``companies.stripe_account_key``), so every attempt for one
        company asks for the same account.
        """
        params: AccountCreateParams = {
            "type": "express",
            "country": country,
            "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
            "metadata": {"company_id": str(company_id)},
        }
        if email is not None:
            params["email"] = email
        with _reachable():
            return self.client.v1.accounts.create(params=params, options={"idempotency_key": _key(idempotency_key)})

    def create_onboarding_link(
        self, account_id: str, refresh_url: str, return_url: str, *, idempotency_key: str
    ) -> stripe.AccountLink:
        """A single-use hosted onboarding URL for the account (expires within minutes).

        Links are single-use, so each request for one passes a fresh key.
        """
        with _reachable():
            return self.client.v1.account_links.create(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                },
                options={"idempotency_key": _key(idempotency_key)},
            )

    def retrieve_account(self, account_id: str) -> stripe.Account:
        """The account as Stripe sees it now (charges_enabled, payouts_enabled, requirements)."""
        return _retrieved(self.client.v1.accounts, account_id)

    # -- Checkout ---------------------------------------------------------------------------------

    def _create_checkout(
        self, kind: str, common: CheckoutCommon, line_items: list[dict[str, Any]], data: dict[str, Any]
    ) -> stripe.checkout.Session:
        """Create the session with what all three kinds share. `data` is the subscription_data
        (kind "subscription") or else the payment_intent_data; our metadata is added to it."""
        local_checkout_id, idempotency_key = common["local_checkout_id"], common["idempotency_key"]
        ours = _metadata(common.get("metadata"), checkout_id=local_checkout_id, checkout_key=idempotency_key, kind=kind)
        subscription = kind == "subscription"
        params = {
            "mode": "subscription" if subscription else "payment",
            "line_items": line_items,
            "success_url": common["success_url"],
            "cancel_url": common["cancel_url"],
            "client_reference_id": str(local_checkout_id),
            "customer_email": common.get("customer_email"),
            "expires_at": common.get("expires_at"),
            "metadata": ours,
            "subscription_data" if subscription else "payment_intent_data": {**data, "metadata": ours},
        }
        with _reachable():
            return self.client.v1.checkout.sessions.create(
                # Built from what the three kinds share plus `data`, so typed by a cast.
                params=cast("SessionCreateParams", {k: v for k, v in params.items() if v is not None}),
                options={"idempotency_key": _key(idempotency_key)},
            )

    def create_gig_checkout(
        self,
        *,
        line_items: Sequence[LineItem | Mapping[str, Any]],
        currency: str,
        transfer_group: str | None = None,
        **common: Unpack[CheckoutCommon],
    ) -> stripe.checkout.Session:
        """A Checkout Session paying the platform for a gig (escrow: separate charges and transfers).

        No money goes to the seller at payment time; the later transfer shares
        ``transfer_group`` (default ``checkout_<idempotency key>``). ``client_reference_id``
        and ``metadata.checkout_id`` carry our id, ``metadata.checkout_key`` the key, which
        tells our checkout from another deployment's with the same id.
        """
        group = transfer_group or f"checkout_{common['idempotency_key']}"
        return self._create_checkout("gig", common, _line_items(line_items, currency), {"transfer_group": group})

    def create_product_checkout(
        self,
        *,
        line_items: Sequence[LineItem | Mapping[str, Any]],
        currency: str,
        application_fee_amount: int,
        destination_account: str,
        **common: Unpack[CheckoutCommon],
    ) -> stripe.checkout.Session:
        """A Checkout Session for a one-time digital product: a destination charge.

        The seller's account receives the total minus ``application_fee_amount`` (the
        platform's cut, in minor units).
        """
        payment_intent_data = {
            "application_fee_amount": _cents(application_fee_amount, "application_fee_amount"),
            "transfer_data": {"destination": destination_account},
            "transfer_group": f"checkout_{common['idempotency_key']}",
        }
        return self._create_checkout("product", common, _line_items(line_items, currency), payment_intent_data)

    def create_subscription_checkout(
        self,
        *,
        name: str,
        unit_amount: int,
        currency: str,
        interval: Literal["month", "year"],
        application_fee_bps: int,
        destination_account: str,
        trial_days: int | None = None,
        quantity: int = 1,
        description: str | None = None,
        **common: Unpack[CheckoutCommon],
    ) -> stripe.checkout.Session:
        """A Checkout Session starting a subscription billed to the seller's account.

        Each invoice is a destination charge; the platform keeps ``application_fee_bps``
        basis points (sent as Stripe's ``application_fee_percent``). ``trial_days`` adds a
        free trial. The subscription's metadata carries our ids and key too.
        """
        if interval not in ("month", "year"):
            raise ValueError("interval must be 'month' or 'year'")
        subscription_data: dict[str, Any] = {
            "application_fee_percent": bps_to_percent(application_fee_bps),
            "transfer_data": {"destination": destination_account},
        }
        if trial_days:
            subscription_data["trial_period_days"] = _cents(trial_days, "trial_days", 1)
        items = _line_items(
            [LineItem(name, unit_amount, quantity, description)], currency, recurring={"interval": interval}
        )
        return self._create_checkout("subscription", common, items, subscription_data)

    def retrieve_checkout_session(self, session_id: str) -> stripe.checkout.Session:
        """The session now: status open|complete|expired, payment_status, payment_intent, subscription."""
        return _retrieved(self.client.v1.checkout.sessions, session_id)

    def expire_checkout_session(self, session_id: str) -> stripe.checkout.Session:
        """Close an open session so it can no longer be paid. Key: ``checkout-session:<id>:expire``
        (Stripe's session ids are unique everywhere)."""
        with _reachable():
            return self.client.v1.checkout.sessions.expire(
                session_id,
                options={"idempotency_key": f"checkout-session:{session_id}:expire"},
            )

    # -- money movement -----------------------------------------------------------------------------

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        idempotency_key: str,
        source_transaction: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> stripe.Transfer:
        """Pay a seller's connected account from the platform balance (escrow release, payouts).

        ``source_transaction`` (the buyer's charge) ties the transfer to those funds so it
        can run before they settle. The key is the one stored on the local row (a payout's
        ``idempotency_key``); the same key never transfers twice.
        """
        params: TransferCreateParams = {
            "amount": _cents(amount, "amount", 1),
            "currency": currency,
            "destination": destination,
            "transfer_group": transfer_group,
            "metadata": _metadata(metadata),
        }
        if source_transaction:
            params["source_transaction"] = source_transaction
        with _reachable():
            return self.client.v1.transfers.create(params=params, options={"idempotency_key": _key(idempotency_key)})

    def create_refund(
        self,
        *,
        idempotency_key: str,
        payment_intent: str | None = None,
        charge: str | None = None,
        amount: int | None = None,
        reverse_transfer: bool = False,
        refund_application_fee: bool = False,
        reason: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> stripe.Refund:
        """Refund all (``amount=None``) or part of a payment, once per key (a refund row's
        ``idempotency_key``).

        For destination charges, ``reverse_transfer`` pulls the seller's share back and
        ``refund_application_fee`` returns the platform's fee proportionally. Raises
        ``stripe.InvalidRequestError`` when the amount exceeds what is left to refund.
        """
        if (payment_intent is None) == (charge is None):
            raise ValueError("pass exactly one of payment_intent or charge")
        params: RefundCreateParams = {"metadata": _metadata(metadata)}
        if payment_intent is not None:
            params["payment_intent"] = payment_intent
        elif charge is not None:
            params["charge"] = charge
        if amount is not None:
            params["amount"] = _cents(amount, "amount", 1)
        if reverse_transfer:
            params["reverse_transfer"] = True
        if refund_application_fee:
            params["refund_application_fee"] = True
        if reason:
            params["reason"] = reason
        with _reachable():
            return self.client.v1.refunds.create(params=params, options={"idempotency_key": _key(idempotency_key)})

    def list_refunds(self, *, payment_intent: str, limit: int = 100) -> list[stripe.Refund]:
        """The refunds Stripe made on a payment intent, newest first (one page of up to ``limit``)."""
        with _reachable():
            return list(self.client.v1.refunds.list(params={"payment_intent": payment_intent, "limit": limit}).data)

    def retrieve_payment_intent(self, payment_intent_id: str) -> stripe.PaymentIntent:
        return _retrieved(self.client.v1.payment_intents, payment_intent_id)

    def retrieve_charge(self, charge_id: str) -> stripe.Charge:
        return _retrieved(self.client.v1.charges, charge_id)

    # -- subscriptions --------------------------------------------------------------------------------

    def retrieve_subscription(self, subscription_id: str) -> stripe.Subscription:
        return _retrieved(self.client.v1.subscriptions, subscription_id)

    def cancel_subscription(self, subscription_id: str, *, at_period_end: bool = False) -> stripe.Subscription:
        """Cancel now, or at the end of the paid period. Safe to repeat."""
        with _reachable():
            if at_period_end:
                return self.client.v1.subscriptions.update(
                    subscription_id,
                    params={"cancel_at_period_end": True},
                    options={"idempotency_key": f"subscription:{subscription_id}:cancel-at-period-end"},
                )
            return self.client.v1.subscriptions.cancel(subscription_id)

    # -- the customer portal -------------------------------------------------------------------------

    def create_billing_portal_session(
        self, *, customer: str, return_url: str, configuration: str | None = None
    ) -> stripe.billing_portal.Session:
        """A short-lived Billing Portal URL where the customer manages their subscriptions
        (cancel at period end, renew, switch plan, update the card) and comes back to
        ``return_url``. Creates nothing billable, so no idempotency key: each visit gets a fresh
        session. ``configuration`` defaults to the account's default portal configuration."""
        params: dict[str, Any] = {"customer": customer, "return_url": return_url}
        if configuration:
            params["configuration"] = configuration
        with _reachable():
            return self.client.v1.billing_portal.sessions.create(
                params=cast("stripe.params.billing_portal.SessionCreateParams", params)
            )

    def create_price(
        self,
        *,
        unit_amount: int,
        currency: str,
        interval: Literal["month", "year"],
        idempotency_key: str,
        product: str | None = None,
        product_name: str | None = None,
        nickname: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> stripe.Price:
        """A recurring price: of ``product`` (a Stripe product id), or of a new product named
        ``product_name``. Plans that a member may switch between are prices of one product."""
        if (product is None) == (product_name is None):
            raise ValueError("pass exactly one of product or product_name")
        params: dict[str, Any] = {
            "unit_amount": _cents(unit_amount, "unit_amount"),
            "currency": currency,
            "recurring": {"interval": interval},
            "metadata": _metadata(metadata),
        }
        if product:
            params["product"] = product
        else:
            params["product_data"] = {"name": product_name}
        if nickname:
            params["nickname"] = nickname
        with _reachable():
            return self.client.v1.prices.create(
                params=cast("stripe.params.PriceCreateParams", params),
                options={"idempotency_key": _key(idempotency_key)},
            )

    def create_portal_configuration(
        self, *, products: Sequence[Mapping[str, Any]], idempotency_key: str, default_return_url: str | None = None
    ) -> stripe.billing_portal.Configuration:
        """A customer-portal configuration letting members cancel at period end, update their
        card and switch among ``products`` (``[{"product": id, "prices": [price ids]}]``)."""
        features: dict[str, Any] = {
            "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
            "payment_method_update": {"enabled": True},
            "invoice_history": {"enabled": True},
            "subscription_update": {
                "enabled": bool(products),
                "default_allowed_updates": ["price"] if products else [],
                "proration_behavior": "none",
                "products": [{"product": p["product"], "prices": list(p["prices"])} for p in products],
            },
        }
        params: dict[str, Any] = {"features": features}
        if default_return_url:
            params["default_return_url"] = default_return_url
        with _reachable():
            return self.client.v1.billing_portal.configurations.create(
                params=cast("stripe.params.billing_portal.ConfigurationCreateParams", params),
                options={"idempotency_key": _key(idempotency_key)},
            )

    def retrieve_customer(self, customer_id: str) -> stripe.Customer:
        """A customer: email, ``invoice_settings.default_payment_method`` (the card renewals charge)."""
        return _retrieved(self.client.v1.customers, customer_id)

    def retrieve_payment_method(self, payment_method_id: str) -> stripe.PaymentMethod:
        """A payment method: its ``card`` (brand, last4, expiry) and customer."""
        return _retrieved(self.client.v1.payment_methods, payment_method_id)

    # -- webhooks -------------------------------------------------------------------------------------

    def construct_event(self, payload: bytes, sig_header: str | None) -> stripe.Event:
        """Verify a webhook's ``Stripe-Signature`` over the raw body and parse the event.

        Raises ``stripe.SignatureVerificationError`` (bad signature, or a timestamp more than
        five minutes in the past or the future) or ``ValueError`` (not JSON).
        """
        if not self.webhook_secret:
            raise stripe.SignatureVerificationError("No webhook secret configured", sig_header, payload)
        event = self.client.construct_event(
            payload, sig_header, self.webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
        # The library refuses old timestamps only; one from the future is as suspect.
        if _signature_timestamp(sig_header) > time.time() + WEBHOOK_TOLERANCE_SECONDS:
            raise stripe.SignatureVerificationError("Timestamp outside the tolerance zone", sig_header, payload)
        return event


def _signature_timestamp(sig_header: str | None) -> int:
    """The ``t=`` of a ``Stripe-Signature`` header the library has already verified."""
    for item in (sig_header or "").split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            return int(value)
    raise stripe.SignatureVerificationError("No timestamp in the signature header", sig_header)


def get_gateway() -> StripeGateway:
    """The app's gateway, built once from config and kept in ``app.extensions``."""
    app = current_app
    gateway = app.extensions.get("stripe_gateway")
    if gateway is None:
        with _gateway_lock:
            gateway = app.extensions.get("stripe_gateway")
            if gateway is None:
                gateway = StripeGateway(
                    app.config["STRIPE_SECRET_KEY"],
                    app.config.get("STRIPE_API_BASE") or DEFAULT_API_BASE,
                    app.config.get("STRIPE_WEBHOOK_SECRET"),
                )
                app.extensions["stripe_gateway"] = gateway
    return gateway
