"""Builders for the Stripe objects the sandbox emulates.

Each builder returns a dict whose top-level keys are exactly those of the same object type
in Stripe's API fixtures (tests/sandbox checks this), filled with the values a test-mode
Stripe account would return for our use: our fields are set from the request, the rest
carry Stripe's defaults (null, empty lists, "none").
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from typing import Any

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> int:
    return int(time.time())


def empty_list(url: str) -> dict:
    return {"object": "list", "data": [], "has_more": False, "url": url}


def _address() -> dict:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


EXPRESS_REQUIREMENTS = [
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "individual.dob.day",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]


def requirements(currently_due: list[str], disabled_reason: str | None, errors: list | None = None) -> dict:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(currently_due),
        "disabled_reason": disabled_reason,
        "errors": errors or [],
        "eventually_due": list(currently_due),
        "past_due": list(currently_due) if errors else [],
        "pending_verification": [],
    }


def account(
    *,
    type_: str,
    country: str,
    email: str | None,
    metadata: dict,
    business_type: str | None,
    requested_capabilities: list[str],
) -> dict:
    account_id = new_id("acct_", 16)
    return {
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": None,
            "name": None,
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
            "minority_owned_business_designation": None,
        },
        "business_type": business_type,
        "capabilities": dict.fromkeys(requested_capabilities, "inactive"),
        "charges_enabled": False,
        "controller": {
            "fees": {"payer": "application"},
            "is_controller": True,
            "losses": {"payments": "application"},
            "requirement_collection": "stripe",
            "stripe_dashboard": {"type": type_ if type_ in ("express", "full") else "none"},
            "type": "application",
        },
        "country": country,
        "created": now(),
        "default_currency": "usd" if country == "US" else "eur",
        "details_submitted": False,
        "email": email,
        "external_accounts": empty_list(f"/v1/accounts/{account_id}/external_accounts"),
        "future_requirements": requirements([], None),
        "id": account_id,
        "metadata": metadata,
        "object": "account",
        "payouts_enabled": False,
        "requirements": requirements(EXPRESS_REQUIREMENTS, "requirements.past_due"),
        "settings": {
            "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": False},
                "statement_descriptor_prefix": None,
            },
            "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
            "payments": {"statement_descriptor": None},
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": type_,
    }


def account_link(*, url: str, expires_at: int) -> dict:
    return {"created": now(), "expires_at": expires_at, "object": "account_link", "url": url}


def customer(*, email: str | None, metadata: dict | None = None) -> dict:
    return {
        "address": None,
        "balance": 0,
        "created": now(),
        "currency": "usd",
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": email,
        "id": new_id("cus_", 14),
        "invoice_prefix": new_id("", 8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": metadata or {},
        "name": None,
        "next_invoice_sequence": 1,
        "object": "customer",
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def price(*, currency: str, unit_amount: int, product: str, recurring: dict | None) -> dict:
    return {
        "active": True,
        "billing_scheme": "per_unit",
        "created": now(),
        "currency": currency,
        "custom_unit_amount": None,
        "id": new_id("price_"),
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "object": "price",
        "product": product,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def line_item(*, currency: str, description: str, unit_amount: int, quantity: int, recurring: dict | None) -> dict:
    total = unit_amount * quantity
    return {
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": currency,
        "description": description,
        "id": new_id("li_"),
        "object": "item",
        "price": price(currency=currency, unit_amount=unit_amount, product=new_id("prod_", 14), recurring=recurring),
        "quantity": quantity,
        "metadata": {},
        "adjustable_quantity": None,
    }


def checkout_session(
    *,
    mode: str,
    currency: str,
    amount_total: int,
    success_url: str,
    cancel_url: str | None,
    client_reference_id: str | None,
    customer_email: str | None,
    metadata: dict,
    expires_at: int,
    url_for_session: Callable[[str], str],
) -> dict:
    session_id = "cs_test_" + new_id("", 58)
    return {
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "provider": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "consent": None,
        "consent_collection": None,
        "created": now(),
        "currency": currency,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": None,
        "customer_creation": "if_required" if mode == "payment" else "always",
        "customer_details": None,
        "customer_email": customer_email,
        "expires_at": expires_at,
        "id": session_id,
        "invoice": None,
        "invoice_creation": {"enabled": False, "invoice_data": None} if mode == "payment" else None,
        "livemode": False,
        "locale": None,
        "metadata": metadata,
        "mode": mode,
        "object": "checkout.session",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required" if mode == "payment" else "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {}},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url_for_session(session_id),
        "adaptive_pricing": {"enabled": False},
        "discounts": [],
        "collected_information": None,
        "permissions": None,
        "wallet_options": None,
        "origin_context": None,
        "currency_conversion": None,
        "customer_account": None,
        "integration_identifier": None,
        "managed_payments": {"enabled": False},
    }


def customer_details(email: str | None, name: str | None) -> dict:
    return {
        "address": _address(),
        "email": email,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
        "business_name": None,
        "individual_name": None,
    }


def payment_intent(
    *,
    amount: int,
    currency: str,
    description: str | None,
    metadata: dict,
    transfer_group: str | None,
    application_fee_amount: int | None,
    destination: str | None,
    receipt_email: str | None,
    customer: str | None = None,
) -> dict:
    intent_id = new_id("pi_")
    return {
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": application_fee_amount,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{intent_id}_secret_{new_id('', 25)}",
        "confirmation_method": "automatic",
        "created": now(),
        "currency": currency,
        "customer": customer,
        "description": description,
        "id": intent_id,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "object": "payment_intent",
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {}},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": {"destination": destination} if destination else None,
        "transfer_group": transfer_group,
        "source": None,
        "excluded_payment_method_types": None,
        "customer_account": None,
        "managed_payments": None,
    }


def card_details(last4: str, brand: str = "visa") -> dict:
    return {
        "card": {
            "amount_authorized": None,
            "brand": brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": new_id("", 16),
            "funding": "credit",
            "last4": last4,
            "mandate": None,
            "network": brand,
            "three_d_secure": None,
            "wallet": None,
        },
        "type": "card",
    }


def charge(
    *,
    intent: dict,
    payment_method: str,
    last4: str,
    billing_email: str | None,
    billing_name: str | None,
    balance_transaction: str | None = None,
    failure_code: str | None = None,
    failure_message: str | None = None,
) -> dict:
    """A charge of ``intent``'s amount: succeeded, or failed with ``failure_code`` (and no
    balance transaction)."""
    succeeded = failure_code is None
    charge_id = new_id("ch_")
    destination = (intent.get("transfer_data") or {}).get("destination")
    amount = intent["amount"]
    return {
        "amount": amount,
        "amount_captured": amount if succeeded else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": intent["application_fee_amount"],
        "balance_transaction": balance_transaction,
        "billing_details": {
            "address": _address(),
            "email": billing_email,
            "name": billing_name,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "TRADEPOST",
        "captured": succeeded,
        "created": now(),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": failure_code,
        "failure_message": failure_message,
        "fraud_details": {},
        "id": charge_id,
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "object": "charge",
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": None if succeeded else "generic_decline",
            "risk_level": "normal",
            "seller_message": "Payment complete."
            if succeeded
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if succeeded else "issuer_declined",
        },
        "paid": succeeded,
        "payment_intent": intent["id"],
        "payment_method": payment_method,
        "payment_method_details": card_details(last4),
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": empty_list(f"/v1/charges/{charge_id}/refunds"),
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "failed",
        "transfer_data": {"amount": None, "destination": destination} if destination else None,
        "transfer_group": intent["transfer_group"],
        "source": None,
    }


def balance_transaction(*, amount: int, currency: str, source: str, type_: str, description: str | None) -> dict:
    return {
        "amount": amount,
        "available_on": now() + 2 * 86400,
        "created": now(),
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": 0,
        "fee_details": [],
        "id": new_id("txn_"),
        "net": amount,
        "object": "balance_transaction",
        "reporting_category": type_,
        "source": source,
        "status": "pending",
        "type": type_,
        "balance_type": "payments",
    }


def application_fee(*, account: str, amount: int, charge_id: str, currency: str, balance_transaction: str) -> dict:
    fee_id = new_id("fee_")
    return {
        "account": account,
        "amount": amount,
        "amount_refunded": 0,
        "application": "ca_tradepost_sandbox",
        "balance_transaction": balance_transaction,
        "charge": charge_id,
        "created": now(),
        "currency": currency,
        "fee_source": {"charge": charge_id, "type": "charge"},
        "id": fee_id,
        "livemode": False,
        "object": "application_fee",
        "originating_transaction": None,
        "refunded": False,
        "refunds": empty_list(f"/v1/application_fees/{fee_id}/refunds"),
    }


def refund(
    *,
    amount: int,
    charge_id: str,
    currency: str,
    payment_intent: str | None,
    metadata: dict,
    reason: str | None,
    balance_transaction: str,
    transfer_reversal: str | None,
) -> dict:
    return {
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge_id,
        "created": now(),
        "currency": currency,
        "destination_details": {
            "card": {"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"},
            "type": "card",
        },
        "id": new_id("re_"),
        "metadata": metadata,
        "object": "refund",
        "payment_intent": payment_intent,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": transfer_reversal,
        "customer": None,
        "customer_account": None,
        "payment_method": None,
    }


def transfer(
    *,
    amount: int,
    currency: str,
    destination: str,
    description: str | None,
    metadata: dict,
    source_transaction: str | None,
    transfer_group: str | None,
    balance_transaction: str,
) -> dict:
    transfer_id = new_id("tr_")
    return {
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": balance_transaction,
        "created": now(),
        "currency": currency,
        "description": description,
        "destination": destination,
        "destination_payment": new_id("py_", 14),
        "id": transfer_id,
        "livemode": False,
        "metadata": metadata,
        "object": "transfer",
        "reversals": empty_list(f"/v1/transfers/{transfer_id}/reversals"),
        "reversed": False,
        "source_transaction": source_transaction,
        "source_type": "card",
        "transfer_group": transfer_group,
    }


def subscription_item(
    *, subscription_id: str, price_obj: dict, quantity: int, period_start: int, period_end: int
) -> dict:
    recurring = price_obj["recurring"]
    return {
        "created": now(),
        "discounts": [],
        "id": new_id("si_", 14),
        "metadata": {},
        "object": "subscription_item",
        "price": price_obj,
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
        "plan": {
            "active": True,
            "amount": price_obj["unit_amount"],
            "amount_decimal": price_obj["unit_amount_decimal"],
            "billing_scheme": "per_unit",
            "created": price_obj["created"],
            "currency": price_obj["currency"],
            "id": price_obj["id"],
            "interval": recurring["interval"],
            "interval_count": recurring["interval_count"],
            "livemode": False,
            "metadata": {},
            "meter": None,
            "nickname": None,
            "object": "plan",
            "product": price_obj["product"],
            "tiers_mode": None,
            "transform_usage": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "current_period_end": period_end,
        "current_period_start": period_start,
        "billing_thresholds": None,
    }


def subscription(
    *,
    subscription_id: str,
    customer_id: str,
    currency: str,
    items: list[dict],
    metadata: dict,
    application_fee_percent: float | None,
    destination: str | None,
    trial_start: int | None,
    trial_end: int | None,
    start: int,
) -> dict:
    return {
        "application": None,
        "application_fee_percent": application_fee_percent,
        "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
        "billing_cycle_anchor": trial_end or start,
        "billing_cycle_anchor_config": None,
        "cancel_at": None,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": start,
        "currency": currency,
        "customer": customer_id,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "id": subscription_id,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "object": "subscription",
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": start,
        "status": "trialing" if trial_end else "active",
        "test_clock": None,
        "transfer_data": {"amount_percent": None, "destination": destination} if destination else None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": trial_start,
        "cancel_at_period_end": False,
        "billing_thresholds": None,
        "billing_mode": {"type": "flexible", "flexible": {"proration_discounts": "included"}},
        "customer_account": None,
        "managed_payments": None,
        "billing_schedules": [],
    }


def invoice(
    *,
    sub: dict,
    customer: dict,
    amount: int,
    billing_reason: str,
    period_start: int,
    period_end: int,
    paid: bool,
    line_period: tuple[int, int] | None = None,
) -> dict:
    """An invoice of ``sub``. As at Stripe, ``period_start``/``period_end`` are the invoice's
    usage period (for a renewal: the period that just ended), while its subscription line
    covers ``line_period``: the period being paid for (the trial, or the new period)."""
    invoice_id = new_id("in_")
    created = now()
    item = sub["items"]["data"][0]
    line = {
        "amount": amount,
        "currency": sub["currency"],
        "description": (
            f"{item['quantity']} × subscription"
            f" (at {item['price']['unit_amount']} / {item['price']['recurring']['interval']})"
        ),
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "id": new_id("il_"),
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "object": "line_item",
        "period": {"end": line_period[1], "start": line_period[0]}
        if line_period
        else {"end": period_end, "start": period_start},
        "quantity": item["quantity"],
        "subscription": sub["id"],
        "pretax_credit_amounts": [],
        "taxes": [],
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": None,
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "pricing": {
            "price_details": {"price": item["price"]["id"], "product": item["price"]["product"]},
            "type": "price_details",
            "unit_amount_decimal": item["price"]["unit_amount_decimal"],
        },
        "subtotal": amount,
        "quantity_decimal": str(item["quantity"]),
    }
    return {
        "account_country": "US",
        "account_name": "Tradepost",
        "account_tax_ids": None,
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 1,
        "attempted": True,
        "auto_advance": not paid,
        "automatic_tax": {
            "enabled": False,
            "liability": None,
            "status": None,
            "disabled_reason": None,
            "provider": None,
        },
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": sub["currency"],
        "custom_fields": None,
        "customer": customer["id"],
        "customer_address": None,
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": created,
        "ending_balance": 0,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "id": invoice_id,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {"object": "list", "data": [line], "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines"},
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None if paid else created + 3 * 86400,
        "number": f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}",
        "object": "invoice",
        "on_behalf_of": None,
        "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        "period_end": period_end,
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "paid" if paid else "open",
        "status_transitions": {
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "paid_at": created if paid else None,
            "voided_at": None,
        },
        "subscription": sub["id"],
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "test_clock": None,
        "total": amount,
        "total_discount_amounts": [],
        "total_excluding_tax": amount,
        "webhooks_delivered_at": created,
        "automatically_finalizes_at": None,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "amount_overpaid": 0,
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": sub["metadata"], "subscription": sub["id"]},
            "type": "subscription_details",
        },
        "customer_account": None,
    }


def dispute(*, charge_obj: dict, amount: int, reason: str) -> dict:
    return {
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_obj["id"],
        "created": now(),
        "currency": charge_obj["currency"],
        "evidence": dict.fromkeys(
            (
                "access_activity_log",
                "billing_address",
                "cancellation_policy",
                "cancellation_policy_disclosure",
                "cancellation_rebuttal",
                "customer_communication",
                "customer_email_address",
                "customer_name",
                "customer_purchase_ip",
                "customer_signature",
                "duplicate_charge_documentation",
                "duplicate_charge_explanation",
                "duplicate_charge_id",
                "product_description",
                "receipt",
                "refund_policy",
                "refund_policy_disclosure",
                "refund_refusal_explanation",
                "service_date",
                "service_documentation",
                "shipping_address",
                "shipping_carrier",
                "shipping_date",
                "shipping_documentation",
                "shipping_tracking_number",
                "uncategorized_file",
                "uncategorized_text",
            )
        ),
        "evidence_details": {
            "due_by": now() + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "enhanced_eligibility": {},
        },
        "id": new_id("dp_"),
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "object": "dispute",
        "payment_intent": charge_obj["payment_intent"],
        "payment_method_details": {
            "card": {"brand": "visa", "case_type": "chargeback", "network_reason_code": "10.4", "network": "visa"},
            "type": "card",
        },
        "reason": reason,
        "status": "needs_response",
        "enhanced_eligibility_types": [],
    }


def event(
    *,
    type_: str,
    obj: dict,
    api_version: str,
    request_id: str | None,
    idempotency_key: str | None,
    pending_webhooks: int,
    previous_attributes: dict[str, Any] | None = None,
) -> dict:
    data: dict[str, Any] = {"object": obj}
    if previous_attributes:
        data["previous_attributes"] = previous_attributes
    return {
        "api_version": api_version,
        "created": now(),
        "data": data,
        "id": new_id("evt_"),
        "livemode": False,
        "object": "event",
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type_,
    }


def payment_method(*, customer: str | None, last4: str, email: str | None, name: str | None) -> dict:
    return {
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {
                "city": None,
                "country": None,
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": email,
            "name": name,
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": "visa",
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "display_brand": "visa",
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": new_id("", 16),
            "funding": "credit",
            "generated_from": None,
            "last4": last4,
            "networks": {"available": ["visa"], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
            "regulated_status": "unregulated",
        },
        "created": now(),
        "customer": customer,
        "id": new_id("pm_"),
        "livemode": False,
        "metadata": {},
        "object": "payment_method",
        "type": "card",
        "customer_account": None,
    }


def billing_portal_configuration(
    *,
    is_default: bool,
    products: list[dict],
    default_return_url: str | None = None,
    metadata: dict | None = None,
    name: str | None = None,
) -> dict:
    """A portal configuration. The default one lets a customer cancel at period end, update the
    payment method and see invoices; switching plans is on when ``products`` lists prices."""
    created = now()
    return {
        "active": True,
        "application": None,
        "business_profile": {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None},
        "created": created,
        "default_return_url": default_return_url,
        "features": {
            "customer_update": {"allowed_updates": ["email"], "enabled": True},
            "invoice_history": {"enabled": True},
            "payment_method_update": {"enabled": True, "payment_method_configuration": None},
            "subscription_cancel": {
                "cancellation_reason": {"enabled": False, "options": []},
                "enabled": True,
                "mode": "at_period_end",
                "proration_behavior": "none",
            },
            "subscription_update": {
                "default_allowed_updates": ["price"] if products else [],
                "enabled": bool(products),
                "products": products,
                "proration_behavior": "none",
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial",
                "billing_cycle_anchor": None,
            },
        },
        "id": new_id("bpc_"),
        "is_default": is_default,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": metadata or {},
        "object": "billing_portal.configuration",
        "updated": created,
        "name": name,
    }


def billing_portal_session(
    *, configuration: str, customer: str, return_url: str | None, locale: str | None, url_for_session: Callable
) -> dict:
    session_id = new_id("bps_")
    return {
        "configuration": configuration,
        "created": now(),
        "customer": customer,
        "flow": None,
        "id": session_id,
        "livemode": False,
        "locale": locale,
        "object": "billing_portal.session",
        "on_behalf_of": None,
        "return_url": return_url,
        "url": url_for_session(session_id),
        "customer_account": None,
    }
