"""The emulated Stripe API v1 subset Tradepost uses, at the paths the `stripe` library calls.

Requests arrive form-encoded exactly as the library sends them (``a[b][c]=``, ``a[0][x]=``);
responses and errors use Stripe's JSON shapes and HTTP statuses, so the library raises its
usual exceptions. POSTs honour ``Idempotency-Key``: a replay with the same parameters
returns the stored response, a replay with different parameters is an idempotency error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, g, request, url_for

from app.sandbox.stripe import objects as so
from app.sandbox.stripe import ops, portal
from app.sandbox.stripe.ops import StripeError, atomic, invalid, load

bp = Blueprint("stripe_api", __name__, url_prefix="/v1")

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")

SUPPORTED_CURRENCIES = {"usd", "eur", "gbp", "cad", "aud"}
INTERVALS = {"day", "week", "month", "year"}


# -- request decoding --------------------------------------------------------------------------


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Nested params from Stripe's form encoding: ``a[b]=1&a[c][0][d]=2`` → {"a": {...}}.

    Objects whose keys are all indexes become lists, in index order.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY_RE.match(key)
        if not match:
            raise invalid(f"Invalid parameter name: {key}", key, code="parameter_unknown")
        tokens = [match.group(1)] + re.findall(r"\[([^\[\]]*)\]", match.group(2))
        node: Any = root
        for token, following in zip(tokens, tokens[1:] + [None], strict=True):
            if token == "":
                token = str(len(node))
            if following is None:
                node[token] = value
            else:
                child = node.setdefault(token, {})
                if not isinstance(child, dict):
                    raise invalid(f"Invalid parameter: {key}", key)
                node = child
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def params() -> dict[str, Any]:
    if "stripe_params" not in g:
        if request.method == "GET" or request.method == "DELETE":
            pairs = parse_qsl(request.query_string.decode(), keep_blank_values=True)
        else:
            pairs = parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
        g.stripe_params = decode_form(pairs)
    return g.stripe_params


def label(prefix: str, name: str) -> str:
    """The param name Stripe reports: ``label("a[0][", "b")`` → ``a[0][b]``."""
    return f"{prefix}{name}]" if prefix else name


def get_str(
    data: dict, name: str, *, required: bool = False, prefix: str = "", choices: set[str] | None = None
) -> str | None:
    value = data.get(name)
    param = label(prefix, name)
    if value in (None, ""):
        if required:
            raise invalid(f"Missing required param: {param}.", param, code="parameter_missing")
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {param}", param)
    if choices is not None and value not in choices:
        raise invalid(f"Invalid {param}: must be one of {', '.join(sorted(choices))}", param)
    return value


def get_int(
    data: dict,
    name: str,
    *,
    required: bool = False,
    prefix: str = "",
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = get_str(data, name, required=required, prefix=prefix)
    param = label(prefix, name)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d+", raw):
        raise invalid(f"Invalid integer: {raw}", param)
    value = int(raw)
    if minimum is not None and value < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param)
    if maximum is not None and value > maximum:
        raise invalid(f"This value must be less than or equal to {maximum}.", param)
    return value


def get_bool(data: dict, name: str, *, prefix: str = "", default: bool = False) -> bool:
    raw = get_str(data, name, prefix=prefix)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise invalid(f"Invalid boolean: {raw}", label(prefix, name))
    return raw == "true"


def get_dict(data: dict, name: str, *, prefix: str = "") -> dict:
    value = data.get(name)
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {label(prefix, name)}", label(prefix, name))
    return value


def get_metadata(data: dict, current: dict | None = None, prefix: str = "") -> dict:
    metadata = dict(current or {})
    for key, value in get_dict(data, "metadata", prefix=prefix).items():
        if not isinstance(value, str):
            raise invalid("Invalid metadata value", f"{label(prefix, 'metadata')}[{key}]")
        if value == "":
            metadata.pop(key, None)
        else:
            metadata[key] = value[:500]
    if len(metadata) > 50:
        raise invalid("Metadata can have at most 50 keys.", label(prefix, "metadata"))
    return metadata


def _free_text(data: dict) -> dict[str, Any]:
    """The caller's own labels that payment intents and transfers both take: description, metadata, transfer group."""
    return {
        "description": get_str(data, "description"),
        "metadata": get_metadata(data),
        "transfer_group": get_str(data, "transfer_group"),
    }


def get_currency(data: dict, name: str = "currency", *, prefix: str = "", required: bool = True) -> str | None:
    value = get_str(data, name, required=required, prefix=prefix)
    if value is None:
        return None
    value = value.lower()
    if value not in SUPPORTED_CURRENCIES:
        raise invalid(f"Invalid currency: {value}.", label(prefix, name))
    return value


# -- plumbing ----------------------------------------------------------------------------------


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, indent=2), status=status, mimetype="application/json")


def error_response(err: StripeError) -> Response:
    return json_response(err.body(), err.status)


def injected_failure(when: str) -> Response | None:
    """A 500 for this request if a fault was injected for it (see app/sandbox/stripe/faults.py)."""
    if not current_app.extensions["sandbox_faults"].take(request.method, request.path, when):
        return None
    response = error_response(
        StripeError(500, f"Sandbox: injected failure ({when} the request was handled).", type_="api_error")
    )
    response.headers["Stripe-Should-Retry"] = "false"
    return response


@bp.before_request
def authenticate() -> Response | None:
    g.stripe_request_id = so.new_id("req_", 14)
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header.startswith("Bearer ") else ""
    if not key:
        return error_response(
            StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        )
    if not key.startswith("sk_test_"):
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key
        return error_response(StripeError(401, f"Invalid API Key provided: {shown}", code="api_key_invalid"))
    g.stripe_api_key = key
    return injected_failure("before")


@bp.after_request
def add_request_id(response: Response) -> Response:
    response.headers["Request-Id"] = g.get("stripe_request_id", "")
    response.headers["Stripe-Version"] = ops.API_VERSION
    return response


@bp.errorhandler(StripeError)
def handle_stripe_error(err: StripeError) -> Response:
    return error_response(err)


def _params_hash() -> str:
    pairs = sorted(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


def mutation(view: Callable[..., dict]) -> Callable[..., Response]:
    """Run a POST/DELETE view in one transaction, honouring the Idempotency-Key header.

    Validation errors are not stored (a corrected retry with the same key may succeed);
    successful results and card errors are, as at Stripe.
    """

    @wraps(view)
    def wrapper(**kwargs: Any) -> Response:
        key = request.headers.get("Idempotency-Key") or None
        g.stripe_idempotency_key = key
        api_key = g.stripe_api_key
        params_hash = _params_hash()
        with atomic() as st:
            if key:
                stored = st.get_idempotent(api_key, key)
                if stored is not None:
                    if (stored["method"], stored["path"], stored["params_hash"]) != (
                        request.method,
                        request.path,
                        params_hash,
                    ):
                        raise StripeError(
                            400,
                            "Keys for idempotent requests can only be used with the same parameters they "
                            f"were first used with. Try using a key other than '{key}' if you meant to "
                            "execute a different request.",
                            type_="idempotency_error",
                        )
                    response = Response(stored["body"], status=stored["status"], mimetype="application/json")
                    response.headers["Idempotent-Replayed"] = "true"
                    return response
            try:
                body, status = view(**kwargs), 200
            except StripeError as err:
                if not err.keep_changes:
                    raise
                body, status = err.body(), err.status
            text = json.dumps(body, indent=2)
            if key:
                st.put_idempotent(api_key, key, request.method, request.path, params_hash, status, text)
        return injected_failure("after") or Response(text, status=status, mimetype="application/json")

    return wrapper


def list_response(type_: str, path: str, filter_names: tuple[str, ...] = ()) -> Response:
    """A page of ``GET /v1/<path>``: objects of ``type_`` newest first, each query param named in
    ``filter_names`` that is given matching the object's field of the same name."""
    data = params()
    filters = {f"$.{name}": get_str(data, name) for name in filter_names}
    limit = get_int(data, "limit", minimum=1, maximum=100) or 10
    rows, has_more = ops.store().list(
        type_,
        filters={k: v for k, v in filters.items() if v is not None},
        limit=limit,
        starting_after=get_str(data, "starting_after"),
        ending_before=get_str(data, "ending_before"),
    )
    return json_response({"object": "list", "data": rows, "has_more": has_more, "url": f"/v1/{path}"})


@contextmanager
def updating(type_: str, object_id: str, event_type: str, *fields: str) -> Iterator[tuple[dict, dict]]:
    """``with updating(...) as (obj, data):`` — an update POST: yields the object, its
    ``metadata`` already merged from the params ``data``, for the block to change ``fields``;
    then saves it and emits ``event_type`` with the previous metadata and fields."""
    data = params()
    obj = load(type_, object_id)
    previous = {name: obj[name] for name in ("metadata", *fields)}
    obj["metadata"] = get_metadata(data, obj["metadata"])
    yield obj, data
    ops.store().save(obj)
    ops.emit(event_type, obj, previous)


# -- accounts ----------------------------------------------------------------------------------


@bp.post("/accounts")
@mutation
def create_account() -> dict:
    data = params()
    controller = get_dict(data, "controller")
    type_ = get_str(data, "type", choices={"express", "standard", "custom"})
    if type_ is None:
        dashboard = get_dict(controller, "stripe_dashboard", prefix="controller[")
        type_ = (
            {"express": "express", "full": "standard"}.get(dashboard.get("type"), "custom")
            if controller
            else "standard"
        )
    country = (get_str(data, "country") or "US").upper()
    if len(country) != 2:
        raise invalid(f"Invalid country: {country}", "country")
    requested = [
        name
        for name, cap in get_dict(data, "capabilities").items()
        if isinstance(cap, dict) and cap.get("requested") == "true"
    ]
    account = so.account(
        type_=type_,
        country=country,
        email=get_str(data, "email"),
        metadata=get_metadata(data),
        business_type=get_str(
            data, "business_type", choices={"individual", "company", "non_profit", "government_entity"}
        ),
        requested_capabilities=requested or ["card_payments", "transfers"],
    )
    ops.store().insert(account)
    return account


@bp.post("/accounts/<account_id>")
@mutation
def update_account(account_id: str) -> dict:
    with updating("account", account_id, "account.updated", "email") as (account, data):
        account["email"] = get_str(data, "email") or account["email"]
    return account


@bp.post("/account_links")
@mutation
def create_account_link() -> dict:
    data = params()
    account_id = get_str(data, "account", required=True)
    load("account", account_id, "account", "account")
    link_type = get_str(data, "type", required=True, choices={"account_onboarding", "account_update"})
    refresh_url = get_str(data, "refresh_url", required=True)
    return_url = get_str(data, "return_url", required=True)
    token = so.new_id("", 32)
    expires_at = so.now() + ops.ACCOUNT_LINK_TTL
    url = current_app.config["SANDBOX_PUBLIC_URL"] + url_for("stripe_pages.onboarding", token=token)
    link = so.account_link(url=url, expires_at=expires_at)
    ops.store().insert(
        {**link, "id": "acctlink_" + token},
        {"account": account_id, "type": link_type, "refresh_url": refresh_url, "return_url": return_url},
    )
    return link


# -- checkout sessions ---------------------------------------------------------------------------


def _line_items(data: dict, mode: str) -> tuple[list[dict], str]:
    raw_items = data.get("line_items")
    if not raw_items:
        raise invalid("Missing required param: line_items.", "line_items", code="parameter_missing")
    if not isinstance(raw_items, list):
        raise invalid("Invalid array", "line_items")
    items: list[dict] = []
    currencies = set()
    for index, raw in enumerate(raw_items):
        prefix = f"line_items[{index}]["
        if not isinstance(raw, dict):
            raise invalid("Invalid object", f"line_items[{index}]")
        if raw.get("price"):
            items.append(_stored_price_line_item(raw, index, mode))
            currencies.add(items[-1]["currency"])
            continue
        price_data = get_dict(raw, "price_data", prefix=prefix)
        if not price_data:
            raise invalid(
                "You must specify either `price` or `price_data` for each line item.",
                f"line_items[{index}][price_data]",
                code="parameter_missing",
            )
        pprefix = f"line_items[{index}][price_data]["
        currency = get_currency(price_data, prefix=pprefix)
        unit_amount = get_int(price_data, "unit_amount", required=True, prefix=pprefix, minimum=0, maximum=99_999_999)
        product_data = get_dict(price_data, "product_data", prefix=pprefix)
        name = get_str(product_data, "name", required=True, prefix=pprefix + "product_data][")
        recurring_data = get_dict(price_data, "recurring", prefix=pprefix)
        recurring = None
        if recurring_data:
            interval = get_str(
                recurring_data, "interval", required=True, prefix=pprefix + "recurring][", choices=INTERVALS
            )
            count = get_int(recurring_data, "interval_count", prefix=pprefix + "recurring][", minimum=1) or 1
            recurring = {
                "interval": interval,
                "interval_count": count,
                "meter": None,
                "trial_period_days": None,
                "usage_type": "licensed",
            }
        if mode == "payment" and recurring:
            raise invalid(
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
                f"line_items[{index}][price_data]",
            )
        if mode == "subscription" and not recurring:
            raise invalid(
                "You must specify at least one recurring price in `subscription` mode.",
                f"line_items[{index}][price_data][recurring]",
            )
        quantity = get_int(raw, "quantity", required=True, prefix=prefix, minimum=1, maximum=999_999)
        currencies.add(currency)
        item = so.line_item(
            currency=currency, description=name, unit_amount=unit_amount, quantity=quantity, recurring=recurring
        )
        description = get_str(product_data, "description")
        item["price"]["metadata"] = {"product_description": description} if description else {}
        items.append(item)
    if len(currencies) != 1:
        raise invalid("All line items must use the same currency.", "line_items")
    return items, currencies.pop()


def _transfer_destination(raw: dict, section: str) -> str | None:
    """`<section>[transfer_data][destination]`: a connected account able to take transfers, or None."""
    transfer_data = get_dict(raw, "transfer_data", prefix=section + "[")
    destination = get_str(transfer_data, "destination", prefix=section + "[transfer_data][")
    if destination:
        ops.require_transfers_capability(destination, f"{section}[transfer_data][destination]")
    return destination


def _stored_price_line_item(raw: dict, index: int, mode: str) -> dict:
    """A line item of a price made earlier (``POST /v1/prices``), named after its product."""
    prefix = f"line_items[{index}]["
    price_id = get_str(raw, "price", prefix=prefix)
    price = load("price", price_id, "price", f"line_items[{index}][price]")
    if (mode == "subscription") != (price["recurring"] is not None):
        raise invalid(
            f"The price {price_id} is {'not ' if price['recurring'] is None else ''}recurring; "
            f"it can't be used in `{mode}` mode.",
            f"line_items[{index}][price]",
        )
    quantity = get_int(raw, "quantity", required=True, prefix=prefix, minimum=1, maximum=999_999)
    name = ops.store().get_private(price_id).get("product_name") or price["product"]
    item = so.line_item(
        currency=price["currency"],
        description=name,
        unit_amount=price["unit_amount"],
        quantity=quantity,
        recurring=price["recurring"],
    )
    item["price"] = price
    return item


def _payment_intent_data(data: dict, amount_total: int) -> dict:
    raw = get_dict(data, "payment_intent_data")
    prefix = "payment_intent_data["
    fee = get_int(raw, "application_fee_amount", prefix=prefix, minimum=0)
    destination = _transfer_destination(raw, "payment_intent_data")
    if fee is not None and not destination:
        raise invalid(
            "`application_fee_amount` requires a connected account: set "
            "`payment_intent_data[transfer_data][destination]`.",
            "payment_intent_data[application_fee_amount]",
        )
    if fee is not None and fee > amount_total:
        raise invalid(
            "The application fee cannot exceed the total amount.", "payment_intent_data[application_fee_amount]"
        )
    return {
        "application_fee_amount": fee,
        "destination": destination,
        "transfer_group": get_str(raw, "transfer_group", prefix=prefix),
        "description": get_str(raw, "description", prefix=prefix),
        "metadata": get_metadata(raw, prefix=prefix),
    }


def _subscription_data(data: dict) -> dict:
    raw = get_dict(data, "subscription_data")
    prefix = "subscription_data["
    percent_raw = get_str(raw, "application_fee_percent", prefix=prefix)
    percent = None
    if percent_raw is not None:
        try:
            percent_value = Decimal(percent_raw)
        except InvalidOperation:
            raise invalid(f"Invalid decimal: {percent_raw}", "subscription_data[application_fee_percent]") from None
        if not Decimal(0) <= percent_value <= Decimal(100):
            raise invalid(
                "application_fee_percent must be between 0 and 100.", "subscription_data[application_fee_percent]"
            )
        percent = float(percent_value)
    destination = _transfer_destination(raw, "subscription_data")
    if percent is not None and not destination:
        raise invalid(
            "`application_fee_percent` requires `subscription_data[transfer_data][destination]`.",
            "subscription_data[application_fee_percent]",
        )
    return {
        "application_fee_percent": percent,
        "destination": destination,
        "trial_period_days": get_int(raw, "trial_period_days", prefix=prefix, minimum=1, maximum=730),
        "metadata": get_metadata(raw, prefix=prefix),
    }


@bp.post("/checkout/sessions")
@mutation
def create_checkout_session() -> dict:
    data = params()
    mode = get_str(data, "mode", required=True, choices={"payment", "subscription", "setup"})
    if mode == "setup":
        raise invalid("The sandbox supports `payment` and `subscription` mode only.", "mode")
    ui_mode = get_str(data, "ui_mode", choices={"hosted"})
    success_url = get_str(data, "success_url", required=ui_mode in (None, "hosted"))
    cancel_url = get_str(data, "cancel_url")
    items, currency = _line_items(data, mode)
    amount_total = sum(item["amount_total"] for item in items)
    if "payment_intent_data" in data and mode != "payment":
        raise invalid("You can not pass `payment_intent_data` in `subscription` mode.", "payment_intent_data")
    if "subscription_data" in data and mode != "subscription":
        raise invalid("You can only pass `subscription_data` in `subscription` mode.", "subscription_data")
    created = so.now()
    expires_at = (
        get_int(
            data, "expires_at", minimum=created + ops.SESSION_MIN_TTL - 5, maximum=created + ops.SESSION_MAX_TTL + 5
        )
        or created + ops.SESSION_MAX_TTL
    )
    customer_email = get_str(data, "customer_email")
    public_url = current_app.config["SANDBOX_PUBLIC_URL"]
    session = so.checkout_session(
        mode=mode,
        currency=currency,
        amount_total=amount_total,
        success_url=success_url,
        cancel_url=cancel_url,
        client_reference_id=get_str(data, "client_reference_id"),
        customer_email=customer_email,
        metadata=get_metadata(data),
        expires_at=expires_at,
        url_for_session=lambda sid: public_url + url_for("stripe_pages.checkout", session_id=sid),
    )
    private: dict[str, Any] = {"line_items": items}
    if mode == "payment":
        private["payment_intent_data"] = _payment_intent_data(data, amount_total)
    else:
        private["subscription_data"] = _subscription_data(data)
    st = ops.store()
    for item in items:  # Stripe makes a Price (and a Product) of each price_data, as here
        if st.get("price", item["price"]["id"]) is None:
            st.insert(item["price"], {"product_name": item["description"]})
    st.insert(session, private)
    return session


@bp.get("/checkout/sessions/<session_id>")
def retrieve_checkout_session(session_id: str) -> Response:
    with atomic():
        session = ops.expire_if_due(load("checkout.session", session_id, "checkout.session"))
    return json_response(session)


@bp.get("/checkout/sessions/<session_id>/line_items")
def list_checkout_line_items(session_id: str) -> Response:
    load("checkout.session", session_id, "checkout.session")
    items = ops.store().get_private(session_id)["line_items"]
    return json_response(
        {"object": "list", "data": items, "has_more": False, "url": f"/v1/checkout/sessions/{session_id}/line_items"}
    )


@bp.post("/checkout/sessions/<session_id>/expire")
@mutation
def expire_checkout_session(session_id: str) -> dict:
    return ops.expire_session(load("checkout.session", session_id, "checkout.session"))


@bp.get("/checkout/sessions")
def list_checkout_sessions() -> Response:
    return list_response("checkout.session", "checkout/sessions", ("payment_intent", "subscription", "status"))


# -- payment intents -------------------------------------------------------------------------------


@bp.post("/payment_intents")
@mutation
def create_payment_intent() -> dict:
    data = params()
    amount = get_int(data, "amount", required=True, minimum=50, maximum=99_999_999)
    currency = get_currency(data)
    transfer_data = get_dict(data, "transfer_data")
    destination = get_str(transfer_data, "destination", prefix="transfer_data[")
    if destination:
        ops.require_transfers_capability(destination, "transfer_data[destination]")
    fee = get_int(data, "application_fee_amount", minimum=0, maximum=amount)
    intent = so.payment_intent(
        amount=amount,
        currency=currency,
        **_free_text(data),
        application_fee_amount=fee,
        destination=destination,
        receipt_email=get_str(data, "receipt_email"),
    )
    payment_method = get_str(data, "payment_method")
    if payment_method and payment_method not in ops.PAYMENT_METHOD_CARDS:
        raise ops.missing("PaymentMethod", payment_method, "payment_method")
    ops.store().insert(intent)
    if get_bool(data, "confirm"):
        if not payment_method:
            raise invalid("You must provide a `payment_method` to confirm.", "payment_method", code="parameter_missing")
        return ops.confirm_payment_intent(intent, payment_method)
    if payment_method:
        intent.update(payment_method=payment_method, status="requires_confirmation")
        ops.store().save(intent)
    return intent


@bp.post("/payment_intents/<intent_id>/confirm")
@mutation
def confirm_payment_intent(intent_id: str) -> dict:
    intent = load("payment_intent", intent_id, "payment_intent")
    payment_method = get_str(params(), "payment_method") or intent["payment_method"]
    if not payment_method:
        raise invalid("You must provide a `payment_method` to confirm.", "payment_method", code="parameter_missing")
    return ops.confirm_payment_intent(intent, payment_method)


# -- refunds -------------------------------------------------------------------------------------


@bp.post("/refunds")
@mutation
def create_refund() -> dict:
    data = params()
    st = ops.store()
    charge_id = get_str(data, "charge")
    intent_id = get_str(data, "payment_intent")
    if bool(charge_id) == bool(intent_id):
        raise invalid(
            "You must pass either `charge` or `payment_intent` (but not both).", "charge", code="parameter_missing"
        )
    if intent_id:
        intent = load("payment_intent", intent_id, "payment_intent", "payment_intent")
        if intent["status"] != "succeeded" or not intent["latest_charge"]:
            raise invalid(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                "payment_intent",
                code="charge_not_refundable",
            )
        charge_id = intent["latest_charge"]
    charge = load("charge", charge_id, "charge", "charge")
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge_id} has not succeeded.", "charge", code="charge_not_refundable")
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid(f"Charge {charge_id} has already been refunded.", "charge", code="charge_already_refunded")
    amount = get_int(data, "amount", minimum=1)
    if amount is None:
        amount = remaining
    if amount > remaining:
        raise invalid(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            "amount",
            code="amount_too_large",
        )
    reason = get_str(data, "reason", choices={"duplicate", "fraudulent", "requested_by_customer"})
    reverse_transfer = get_bool(data, "reverse_transfer")
    refund_fee = get_bool(data, "refund_application_fee")
    destination = (charge.get("transfer_data") or {}).get("destination")
    if reverse_transfer and not destination:
        raise invalid("`reverse_transfer` can only be used with destination charges.", "reverse_transfer")
    if refund_fee and not charge["application_fee"]:
        raise invalid("`refund_application_fee` requires a charge with an application fee.", "refund_application_fee")
    txn = so.balance_transaction(
        amount=-amount, currency=charge["currency"], source="", type_="refund", description="REFUND FOR CHARGE"
    )
    transfer_reversal = so.new_id("trr_") if reverse_transfer else None
    refund = so.refund(
        amount=amount,
        charge_id=charge_id,
        currency=charge["currency"],
        payment_intent=charge["payment_intent"],
        metadata=get_metadata(data),
        reason=reason,
        balance_transaction=txn["id"],
        transfer_reversal=transfer_reversal,
    )
    txn["source"] = refund["id"]
    st.insert(txn)
    st.insert(refund)
    if refund_fee:
        fee = load("application_fee", charge["application_fee"])
        fee_part = min(fee["amount"] - fee["amount_refunded"], fee["amount"] * amount // charge["amount"])
        fee["amount_refunded"] += fee_part
        fee["refunded"] = fee["amount_refunded"] >= fee["amount"]
        st.save(fee)
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    charge["refunds"]["data"].insert(0, refund)
    st.save(charge)
    ops.emit("refund.created", refund)
    ops.emit("charge.refunded", charge, previous)
    return refund


# -- transfers -------------------------------------------------------------------------------------


@bp.post("/transfers")
@mutation
def create_transfer() -> dict:
    data = params()
    st = ops.store()
    amount = get_int(data, "amount", required=True, minimum=1)
    currency = get_currency(data)
    destination = get_str(data, "destination", required=True)
    ops.require_transfers_capability(destination, "destination")
    source_transaction = get_str(data, "source_transaction")
    if source_transaction:
        charge = load("charge", source_transaction, "charge", "source_transaction")
        if charge["status"] != "succeeded":
            raise invalid("The source transaction has not succeeded.", "source_transaction")
        already = sum(
            t["amount"] - t["amount_reversed"]
            for t in st.find("transfer", {"$.source_transaction": source_transaction})
        )
        available = charge["amount"] - charge["amount_refunded"] - already
        if amount > available:
            raise invalid(
                f"Insufficient funds on source transaction {source_transaction}: {available} "
                f"{charge['currency']} available to transfer.",
                "amount",
                code="balance_insufficient",
            )
        if currency != charge["currency"]:
            raise invalid("The currency of the transfer must match the source transaction.", "currency")
    txn = so.balance_transaction(
        amount=-amount, currency=currency, source="", type_="transfer", description=get_str(data, "description")
    )
    transfer = so.transfer(
        amount=amount,
        currency=currency,
        destination=destination,
        **_free_text(data),
        source_transaction=source_transaction,
        balance_transaction=txn["id"],
    )
    txn["source"] = transfer["id"]
    st.insert(txn)
    st.insert(transfer)
    ops.emit("transfer.created", transfer)
    return transfer


# -- subscriptions ---------------------------------------------------------------------------------


@bp.post("/subscriptions/<subscription_id>")
@mutation
def update_subscription(subscription_id: str) -> dict:
    with updating("subscription", subscription_id, "customer.subscription.updated", "cancel_at_period_end") as (
        sub,
        data,
    ):
        if "cancel_at_period_end" in data:
            if sub["status"] == "canceled":
                raise invalid("A canceled subscription can only update its metadata.", "cancel_at_period_end")
            sub["cancel_at_period_end"] = get_bool(data, "cancel_at_period_end")
            sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"] if sub["cancel_at_period_end"] else None
    return sub


@bp.delete("/subscriptions/<subscription_id>")
@mutation
def cancel_subscription(subscription_id: str) -> dict:
    return ops.cancel_subscription(load("subscription", subscription_id))


# -- prices and the customer portal ------------------------------------------------------------


@bp.post("/prices")
@mutation
def create_price() -> dict:
    """A price of a product (``product_data[name]`` makes a new product; ``product`` names one
    an earlier price made), recurring or one-time. The sandbox keeps no product objects: the
    product's name stays with its prices."""
    data = params()
    currency = get_currency(data)
    unit_amount = get_int(data, "unit_amount", required=True, minimum=0, maximum=99_999_999)
    product = get_str(data, "product")
    if product is None:
        product_data = get_dict(data, "product_data")
        name = get_str(product_data, "name", required=True, prefix="product_data[")
        product = so.new_id("prod_", 14)
    else:
        siblings = ops.store().find("price", {"$.product": product})
        if not siblings:
            raise ops.missing("product", product, "product")
        name = ops.store().get_private(siblings[0]["id"]).get("product_name")
    recurring_data = get_dict(data, "recurring")
    recurring = None
    if recurring_data:
        recurring = {
            "interval": get_str(recurring_data, "interval", required=True, prefix="recurring[", choices=INTERVALS),
            "interval_count": get_int(recurring_data, "interval_count", prefix="recurring[", minimum=1) or 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
    price = so.price(currency=currency, unit_amount=unit_amount, product=product, recurring=recurring)
    price.update(
        metadata=get_metadata(data), nickname=get_str(data, "nickname"), lookup_key=get_str(data, "lookup_key")
    )
    return ops.store().insert(price, {"product_name": name})


def _portal_products(data: dict) -> list[dict]:
    features = get_dict(data, "features")
    update = get_dict(features, "subscription_update", prefix="features[")
    raw = update.get("products") or []
    if not isinstance(raw, list):
        raise invalid("Invalid array", "features[subscription_update][products]")
    products = []
    for index, entry in enumerate(raw):
        prefix = f"features[subscription_update][products][{index}]["
        if not isinstance(entry, dict):
            raise invalid("Invalid object", prefix[:-1])
        product = get_str(entry, "product", required=True, prefix=prefix)
        prices = entry.get("prices")
        if not isinstance(prices, list) or not prices or not all(isinstance(p, str) and p for p in prices):
            raise invalid("Invalid array", prefix + "prices]")
        products.append({"product": product, "prices": prices})
    return products


@bp.post("/billing_portal/configurations")
@mutation
def create_billing_portal_configuration() -> dict:
    data = params()
    return portal.create_configuration(
        _portal_products(data), get_str(data, "default_return_url"), get_metadata(data), get_str(data, "name")
    )


@bp.post("/billing_portal/sessions")
@mutation
def create_billing_portal_session() -> dict:
    data = params()
    return portal.create_session(
        get_str(data, "customer", required=True),
        get_str(data, "return_url"),
        get_str(data, "configuration"),
        get_str(data, "locale"),
    )


# -- reads ---------------------------------------------------------------------------------------
# Each object type's GET /v1/<path>/<id> (endpoint ``retrieve_<type>``) and, unless its filters
# are None, GET /v1/<path> (``list_<path>``) filtered by those query params. Checkout sessions
# have their own above: reading one expires it when due.
READS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("account", "accounts", ()),
    ("payment_intent", "payment_intents", ("customer",)),
    ("charge", "charges", ("payment_intent", "transfer_group", "customer")),
    ("balance_transaction", "balance_transactions", None),
    ("customer", "customers", None),
    ("refund", "refunds", ("charge", "payment_intent")),
    ("transfer", "transfers", ("destination", "transfer_group")),
    ("application_fee", "application_fees", ("charge",)),
    ("subscription", "subscriptions", ("customer", "status")),
    ("invoice", "invoices", ("subscription", "customer", "status")),
    ("dispute", "disputes", ("charge", "payment_intent")),
    ("event", "events", ("type",)),
    ("payment_method", "payment_methods", None),
    ("price", "prices", ("product", "lookup_key")),
    ("billing_portal.configuration", "billing_portal/configurations", ()),
)


def _add_reads(type_: str, path: str, filter_names: tuple[str, ...] | None) -> None:
    def retrieve(object_id: str) -> Response:
        return json_response(load(type_, object_id))

    name = type_.replace(".", "_")
    bp.add_url_rule(f"/{path}/<object_id>", f"retrieve_{name}", retrieve, methods=["GET"])
    if filter_names is not None:
        bp.add_url_rule(
            f"/{path}",
            f"list_{path.replace('/', '_')}",
            lambda: list_response(type_, path, filter_names),
            methods=["GET"],
        )


for _type, _path, _filters in READS:
    _add_reads(_type, _path, _filters)
