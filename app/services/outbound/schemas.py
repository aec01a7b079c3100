"""JSON Schemas (draft 2020-12) of every outbound event: the envelope and each type's `data`.

The docs page (/docs/webhooks) shows them beside the examples; the test suite validates every
event it causes against them (tests/event_schemas.py), and each catalogue example too, so the
code, the docs and the examples cannot drift apart. The schemas are strict: each field is
listed with its type, timestamps are ISO 8601 UTC ending in `Z`, statuses come from the
models' own vocabularies, and a field not listed here is an error.
"""

from typing import Any

from app.models.gig import TIERS
from app.models.license import LICENSE_STATUSES
from app.models.order import ORDER_STATUSES
from app.models.payout import PAYOUT_STATUSES
from app.models.product import MEMBERSHIP_STATUSES
from app.services.outbound.catalogue import EVENT_CATALOGUE, TEST_EVENT_TYPE

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# 2026-12-01T17:00:00Z, with optional fractions of a second; never an offset such as +00:00.
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"

ID = {"type": "integer", "minimum": 1}
CENTS = {"type": "integer", "minimum": 0}
CURRENCY = {"type": "string", "pattern": "^[a-z]{3}$"}
TIMESTAMP = {"type": "string", "pattern": TIMESTAMP_PATTERN}
TEXT = {"type": "string", "maxLength": 2000}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def one_of(values: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def status(*values: str) -> dict[str, Any]:
    return {"const": values[0]} if len(values) == 1 else one_of(values)


def data_schema(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object with exactly these fields: `required` always present, `optional` may be."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": sorted(required),
        "additionalProperties": False,
    }


ORDER = {"order_id": ID}
# What every membership.* event says about the membership (services/checkout.py `_membership_data`).
MEMBERSHIP = {
    "membership_id": ID,
    "product_id": ID,
    "plan_id": nullable(ID),
    "buyer_id": ID,
    "renews_at": nullable(TIMESTAMP),
    "access_ends_at": nullable(TIMESTAMP),
}
# What every commission.* event says about the commission (the referrals service, issue 18).
COMMISSION = {
    "commission_id": ID,
    "referral_id": ID,
    "program_id": ID,
    "affiliate_user_id": ID,
    "payment_id": ID,
    "base_amount_cents": CENTS,
    "amount_cents": CENTS,
    "currency": CURRENCY,
    "clears_at": nullable(TIMESTAMP),
}
LISTING_TYPES = ("gig", "product")
COMMISSION_REVERSAL_REASONS = ("refunded", "dispute_lost", "cancelled")
MEMBERSHIP_CHANGES = ("cancel_scheduled", "cancel_withdrawn", "plan_changed", "card_updated")
MEMBERSHIP_END_REASONS = ("canceled", "expired", "refunded", "unpaid")

DATA_SCHEMAS: dict[str, dict[str, Any]] = {
    "order.created": data_schema(
        {
            **ORDER,
            "gig_id": ID,
            "package": one_of(TIERS),
            "buyer_id": ID,
            "amount_cents": CENTS,
            "currency": CURRENCY,
            "status": status("awaiting_requirements"),
            "due_at": nullable(TIMESTAMP),
        }
    ),
    "order.requirements_submitted": data_schema({**ORDER, "status": status("in_progress"), "due_at": TIMESTAMP}),
    "order.delivered": data_schema(
        {**ORDER, "status": status("delivered"), "delivery_id": ID, "auto_complete_at": TIMESTAMP}
    ),
    "order.revision_requested": data_schema(
        {**ORDER, "status": status("revision_requested"), "revision": {"type": "integer", "minimum": 1}}
    ),
    "order.completed": data_schema(
        {
            **ORDER,
            "status": status("completed"),
            "seller_amount_cents": CENTS,
            "currency": CURRENCY,
            "clears_at": TIMESTAMP,
        },
        {"amount_refunded_cents": CENTS},
    ),
    "order.cancelled": data_schema(
        {
            **ORDER,
            "status": status("cancelled"),
            "reason": TEXT,
            "amount_refunded_cents": CENTS,
            "currency": CURRENCY,
        }
    ),
    "order.disputed": data_schema({**ORDER, "status": status("disputed"), "reason": TEXT}),
    "order.refunded": data_schema(
        {**ORDER, "status": one_of(ORDER_STATUSES), "amount_cents": CENTS, "currency": CURRENCY}
    ),
    "payment.succeeded": data_schema(
        {
            "payment_id": ID,
            "amount_cents": CENTS,
            "currency": CURRENCY,
            "order_id": nullable(ID),
            "membership_id": nullable(ID),
            "kind": one_of(("gig", "product", "subscription")),
        }
    ),
    "payment.refunded": data_schema(
        {
            "payment_id": ID,
            "refund_id": nullable(ID),
            "amount_refunded_cents": CENTS,
            "total_refunded_cents": CENTS,
            "currency": CURRENCY,
            "order_id": nullable(ID),
        }
    ),
    "membership.activated": data_schema(
        {
            **MEMBERSHIP,
            "status": one_of(("trialing", "active", "past_due")),
        }
    ),
    "membership.updated": data_schema(
        {
            **MEMBERSHIP,
            "status": one_of(MEMBERSHIP_STATUSES),
            "change": one_of(MEMBERSHIP_CHANGES),
            "cancel_at_period_end": {"type": "boolean"},
            "cancel_at": nullable(TIMESTAMP),
            "price_id": nullable({"type": "string", "maxLength": 64}),
            "card_last4": nullable({"type": "string", "pattern": r"^\d{4}$"}),
        }
    ),
    "membership.deactivated": data_schema(
        {
            **MEMBERSHIP,
            "status": one_of(("canceled", "expired")),
            "reason": one_of(MEMBERSHIP_END_REASONS),
        }
    ),
    "license.activated": data_schema(
        {
            "license_id": ID,
            "product_id": ID,
            "key_last4": {"type": "string", "minLength": 1, "maxLength": 4},
            "status": one_of(LICENSE_STATUSES),
        }
    ),
    "license.deactivated": data_schema(
        {
            "license_id": ID,
            "product_id": ID,
            "key_last4": {"type": "string", "minLength": 1, "maxLength": 4},
            "status": one_of((*LICENSE_STATUSES, "expired")),  # expired: its membership ended
        }
    ),
    "gig.published": data_schema({"gig_id": ID, "slug": {"type": "string"}, "status": status("published")}),
    "gig.rejected": data_schema(
        {"gig_id": ID, "slug": {"type": "string"}, "status": status("rejected"), "reason": TEXT}
    ),
    "payout.created": data_schema(
        {
            "payout_id": ID,
            "amount_cents": CENTS,
            "currency": CURRENCY,
            "status": one_of(PAYOUT_STATUSES),
            "transfer_id": nullable({"type": "string"}),
        }
    ),
    "referral.converted": data_schema(
        {
            "referral_id": ID,
            "program_id": ID,
            "affiliate_user_id": ID,
            "buyer_id": ID,
            "listing_type": one_of(LISTING_TYPES),
            "listing_id": ID,
            "payment_id": ID,
            "amount_cents": CENTS,
            "currency": CURRENCY,
        }
    ),
    "commission.created": data_schema({**COMMISSION, "status": status("pending")}),
    "commission.cleared": data_schema({**COMMISSION, "status": status("available")}),
    "commission.reversed": data_schema(
        {**COMMISSION, "status": status("reversed"), "reason": one_of(COMMISSION_REVERSAL_REASONS)}
    ),
    "commission.paid": data_schema({**COMMISSION, "status": status("paid"), "payout_id": ID}),
    "legends.quest_bonus_paid": data_schema(
        {
            "quest_id": ID,
            "template_id": ID,
            "member_id": ID,
            "affiliate_user_id": ID,
            "title": {"type": "string", "maxLength": 80},
            "amount_cents": {"type": "integer", "minimum": 1},
            "currency": CURRENCY,
        }
    ),
    TEST_EVENT_TYPE: data_schema({"endpoint_id": ID, "message": TEXT}),
}

assert set(DATA_SCHEMAS) == {*EVENT_CATALOGUE, TEST_EVENT_TYPE}, "every catalogued event needs a schema"


def event_schema(event_type: str) -> dict[str, Any]:
    """The schema of a whole delivered body (the envelope with this type's `data`)."""
    return {
        "$schema": DIALECT,
        "$id": f"https://tradepost.test/schemas/events/{event_type}.json",
        "title": event_type,
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^evt_[0-9a-f]{24}$"},
            "type": {"const": event_type},
            "created": TIMESTAMP,
            "company_id": ID,
            "data": DATA_SCHEMAS[event_type],
        },
        "required": ["company_id", "created", "data", "id", "type"],
        "additionalProperties": False,
    }
