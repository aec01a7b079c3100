"""Money movement: refunds, escrow transfers, destination charges with fees, disputes."""

import pytest
import stripe

from app.payments import LineItem


def test_partial_then_full_refund(sandbox_gateway, sandbox_paid_gig, sandbox_sink, sandbox_id):
    session = sandbox_paid_gig(unit_amount=5000, quantity=2)

    partial = sandbox_gateway.create_refund(
        idempotency_key=sandbox_id("refund"), payment_intent=session.payment_intent, amount=2500
    )
    rest = sandbox_gateway.create_refund(idempotency_key=sandbox_id("refund"), payment_intent=session.payment_intent)

    assert partial.amount == 2500 and partial.status == "succeeded"
    assert rest.amount == 7500
    charge = sandbox_gateway.retrieve_charge(partial.charge)
    assert charge.amount_refunded == 10000 and charge.refunded is True
    assert [r.id for r in charge.refunds.data] == [rest.id, partial.id]
    deliveries = sandbox_sink.wait_for(
        lambda d: (
            d.status == 200 and d.json["type"] == "charge.refunded" and d.json["data"]["object"]["id"] == charge.id
        ),
        count=2,
    )
    assert sorted(d.json["data"]["object"]["amount_refunded"] for d in deliveries) == [2500, 10000]


def test_refunding_more_than_is_left_is_refused(sandbox_gateway, sandbox_paid_gig, sandbox_id):
    session = sandbox_paid_gig(unit_amount=3000, quantity=1)
    sandbox_gateway.create_refund(
        idempotency_key=sandbox_id("refund"), payment_intent=session.payment_intent, amount=1000
    )

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sandbox_gateway.create_refund(
            idempotency_key=sandbox_id("refund"), payment_intent=session.payment_intent, amount=2001
        )

    assert excinfo.value.param == "amount"
    assert excinfo.value.code == "amount_too_large"


def test_refund_replay_does_not_refund_twice(sandbox_gateway, sandbox_paid_gig, sandbox_id):
    session = sandbox_paid_gig(unit_amount=3000, quantity=1)
    key = sandbox_id("refund")

    first = sandbox_gateway.create_refund(idempotency_key=key, payment_intent=session.payment_intent, amount=1000)
    again = sandbox_gateway.create_refund(idempotency_key=key, payment_intent=session.payment_intent, amount=1000)

    assert again.id == first.id
    assert sandbox_gateway.retrieve_charge(first.charge).amount_refunded == 1000


def test_escrow_transfer_from_the_buyers_charge(
    sandbox_gateway, sandbox_paid_gig, sandbox_verified_account, sandbox_sink, sandbox_id
):
    seller = sandbox_verified_account()
    session = sandbox_paid_gig(unit_amount=5000, quantity=2)
    intent = sandbox_gateway.retrieve_payment_intent(session.payment_intent)
    order_key = sandbox_id("order")

    transfer = sandbox_gateway.create_transfer(
        amount=8000,
        currency="usd",
        destination=seller.id,
        transfer_group=intent.transfer_group,
        source_transaction=intent.latest_charge,
        idempotency_key=f"{order_key}:transfer",
        metadata={"order_id": order_key},
    )
    replay = sandbox_gateway.create_transfer(
        amount=8000,
        currency="usd",
        destination=seller.id,
        transfer_group=intent.transfer_group,
        source_transaction=intent.latest_charge,
        idempotency_key=f"{order_key}:transfer",
        metadata={"order_id": order_key},
    )

    assert transfer.id.startswith("tr_") and replay.id == transfer.id
    assert transfer.destination == seller.id
    assert transfer.source_transaction == intent.latest_charge
    assert transfer.transfer_group == intent.transfer_group
    sandbox_sink.wait_for_event("transfer.created", transfer.id)
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sandbox_gateway.create_transfer(
            amount=2001,
            currency="usd",
            destination=seller.id,
            transfer_group=intent.transfer_group,
            source_transaction=intent.latest_charge,
            idempotency_key=f"{order_key}:transfer:2",
        )
    assert excinfo.value.code == "balance_insufficient"


def test_transfer_to_an_unverified_or_unknown_account_is_refused(sandbox_gateway, sandbox_id):
    unverified = sandbox_gateway.create_connected_account(
        sandbox_id("company"), "new@example.com", idempotency_key=sandbox_id("key")
    )

    with pytest.raises(stripe.InvalidRequestError) as not_ready:
        sandbox_gateway.create_transfer(
            amount=100,
            currency="usd",
            destination=unverified.id,
            transfer_group="order:x",
            idempotency_key=sandbox_id("transfer"),
        )
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        sandbox_gateway.create_transfer(
            amount=100,
            currency="usd",
            destination="acct_unknown",
            transfer_group="order:x",
            idempotency_key=sandbox_id("transfer"),
        )

    assert not_ready.value.code == "insufficient_capabilities_for_transfer"
    assert unknown.value.code == "resource_missing" and unknown.value.param == "destination"


def test_product_checkout_is_a_destination_charge_with_an_application_fee(
    sandbox_gateway, sandbox_verified_account, sandbox_pay, sandbox_sink, sandbox_id
):
    seller = sandbox_verified_account()
    session = sandbox_gateway.create_product_checkout(
        local_checkout_id=sandbox_id("checkout"),
        idempotency_key=sandbox_id("key"),
        line_items=[LineItem("Icon pack", 2900, 1)],
        currency="usd",
        application_fee_amount=290,
        destination_account=seller.id,
        success_url="http://app.test/ok?s={CHECKOUT_SESSION_ID}",
        cancel_url="http://app.test/cancel",
    )

    assert sandbox_pay(session).status_code == 303

    intent = sandbox_gateway.retrieve_payment_intent(
        sandbox_gateway.retrieve_checkout_session(session.id).payment_intent
    )
    assert intent.application_fee_amount == 290
    assert intent.transfer_data.destination == seller.id
    charge = sandbox_gateway.retrieve_charge(intent.latest_charge)
    fee = sandbox_gateway.client.v1.application_fees.retrieve(charge.application_fee)
    assert fee.amount == 290 and fee.account == seller.id and fee.charge == charge.id
    sandbox_sink.wait_for_event("checkout.session.completed", session.id)

    refund = sandbox_gateway.create_refund(
        idempotency_key=sandbox_id("refund"), charge=charge.id, reverse_transfer=True, refund_application_fee=True
    )
    assert refund.transfer_reversal.startswith("trr_")
    fee = sandbox_gateway.client.v1.application_fees.retrieve(fee.id)
    assert fee.amount_refunded == 290 and fee.refunded is True


def test_product_checkout_to_an_unverified_seller_is_refused(sandbox_gateway, sandbox_id):
    unverified = sandbox_gateway.create_connected_account(
        sandbox_id("company"), "new@example.com", idempotency_key=sandbox_id("key")
    )

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sandbox_gateway.create_product_checkout(
            local_checkout_id=sandbox_id("checkout"),
            idempotency_key=sandbox_id("key"),
            line_items=[LineItem("Icon pack", 2900, 1)],
            currency="usd",
            application_fee_amount=290,
            destination_account=unverified.id,
            success_url="http://app.test/ok",
            cancel_url="http://app.test/cancel",
        )

    assert excinfo.value.code == "insufficient_capabilities_for_transfer"


def test_dispute_opens_and_closes(
    sandbox_gateway, sandbox_paid_gig, sandbox_control, sandbox_sink, sandbox_url, sandbox_http
):
    session = sandbox_paid_gig(unit_amount=4000, quantity=1)
    charge_id = sandbox_gateway.retrieve_payment_intent(session.payment_intent).latest_charge

    opened = sandbox_control(f"/_sandbox/charges/{charge_id}/dispute", reason="product_not_received")
    twice = sandbox_control(f"/_sandbox/charges/{charge_id}/dispute")

    assert opened.status_code == 200, opened.text
    dispute = opened.json()
    assert dispute["status"] == "needs_response" and dispute["amount"] == 4000
    assert twice.status_code == 400
    assert sandbox_gateway.retrieve_charge(charge_id).disputed is True
    created = sandbox_sink.wait_for_event("charge.dispute.created", dispute["id"])
    assert created.json["data"]["object"]["charge"] == charge_id
    assert sandbox_gateway.client.v1.disputes.retrieve(dispute["id"]).reason == "product_not_received"

    page = sandbox_http.get(f"{sandbox_url}/_sandbox/charges/{charge_id}")
    assert "Open dispute" in page.text and "Close dispute — won" in page.text

    closed = sandbox_control(f"/_sandbox/charges/{charge_id}/dispute/close", outcome="lost")
    assert closed.json()["status"] == "lost"
    sandbox_sink.wait_for_event("charge.dispute.closed", dispute["id"])
