"""Every emulated object has exactly the top-level keys of the same type at Stripe."""

import json
from pathlib import Path

import pytest

from app.payments import LineItem

# shared/ sits beside the checkout (in CI and on developer machines).
FIXTURE_CANDIDATES = (
    Path(__file__).resolve().parents[3] / "shared" / "stripe" / "fixtures3.json",
    Path("/work/shared/stripe/fixtures3.json"),
)


@pytest.fixture(scope="module")
def sandbox_objects(sandbox_gateway, sandbox_verified_account, sandbox_pay, sandbox_control, sandbox_sink, sandbox_id):
    """One object of each emulated type, produced by the real flows."""
    gateway = sandbox_gateway
    seller = sandbox_verified_account()
    link = gateway.create_onboarding_link(
        seller.id, "http://app.test/r", "http://app.test/t", idempotency_key=sandbox_id("link")
    )
    session = gateway.create_product_checkout(
        local_checkout_id=sandbox_id("checkout"),
        idempotency_key=sandbox_id("key"),
        line_items=[LineItem("Font", 1900, 1)],
        currency="usd",
        application_fee_amount=190,
        destination_account=seller.id,
        success_url="http://app.test/ok",
        cancel_url="http://app.test/cancel",
    )
    assert sandbox_pay(session).status_code == 303
    session = gateway.retrieve_checkout_session(session.id)
    intent = gateway.retrieve_payment_intent(session.payment_intent)
    charge = gateway.retrieve_charge(intent.latest_charge)
    refund = gateway.create_refund(idempotency_key=sandbox_id("refund"), charge=charge.id, amount=100)
    transfer = gateway.create_transfer(
        amount=500,
        currency="usd",
        destination=seller.id,
        transfer_group="order:s",
        idempotency_key=sandbox_id("transfer"),
    )
    fee = gateway.client.v1.application_fees.retrieve(charge.application_fee)
    sub_session = gateway.create_subscription_checkout(
        local_checkout_id=sandbox_id("checkout"),
        idempotency_key=sandbox_id("key"),
        name="Pro",
        unit_amount=900,
        currency="usd",
        interval="year",
        application_fee_bps=500,
        destination_account=seller.id,
        success_url="http://app.test/ok",
        cancel_url="http://app.test/cancel",
    )
    assert sandbox_pay(sub_session).status_code == 303
    subscription = gateway.retrieve_subscription(gateway.retrieve_checkout_session(sub_session.id).subscription)
    invoice = gateway.client.v1.invoices.retrieve(subscription.latest_invoice)
    dispute_id = sandbox_control(f"/_sandbox/charges/{charge.id}/dispute").json()["id"]
    dispute = gateway.client.v1.disputes.retrieve(dispute_id)
    event = gateway.client.v1.events.list(params={"limit": 1}).data[0]
    customer = gateway.client.v1.customers.retrieve(subscription.customer)
    balance_transaction = gateway.client.v1.balance_transactions.retrieve(charge.balance_transaction)
    item = gateway.client.v1.checkout.sessions.line_items.list(session.id).data[0]
    return {
        "account": seller,
        "account_link": link,
        "checkout.session": session,
        "payment_intent": intent,
        "charge": charge,
        "refund": refund,
        "transfer": transfer,
        "application_fee": fee,
        "subscription": subscription,
        "invoice": invoice,
        "dispute": dispute,
        "event": event,
        "customer": customer,
        "balance_transaction": balance_transaction,
        "item": item,
    }


@pytest.mark.parametrize(
    "object_type",
    [
        "account",
        "account_link",
        "checkout.session",
        "payment_intent",
        "charge",
        "refund",
        "transfer",
        "application_fee",
        "subscription",
        "invoice",
        "dispute",
        "event",
        "customer",
        "balance_transaction",
        "item",
    ],
)
def test_top_level_keys_match_stripe(sandbox_objects, sandbox_fixture_keys, object_type):
    obj = sandbox_objects[object_type].to_dict()

    assert sorted(obj) == sandbox_fixture_keys[object_type]
    assert obj["object"] == object_type


def test_webhook_payload_keys_match_stripe(sandbox_sink, sandbox_fixture_keys, sandbox_objects):
    delivery = sandbox_sink.wait_for_event("charge.dispute.created", sandbox_objects["dispute"].id)

    assert sorted(delivery.json) == sandbox_fixture_keys["event"]
    assert sorted(delivery.json["data"]["object"]) == sandbox_fixture_keys["dispute"]


def test_key_snapshot_matches_stripe_fixtures(sandbox_fixture_keys):
    path = next((candidate for candidate in FIXTURE_CANDIDATES if candidate.exists()), None)
    assert path is not None, f"shared/stripe/fixtures3.json not found in {FIXTURE_CANDIDATES}"
    with open(path) as f:
        resources = json.load(f)["resources"]

    for object_type, keys in sandbox_fixture_keys.items():
        assert sorted(resources[object_type]) == keys, object_type
