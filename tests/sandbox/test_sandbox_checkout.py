"""Checkout: sessions created through the gateway, paid on the hosted page, and the API's
refusals (bad params, idempotency conflicts, card errors)."""

import pytest
import stripe

from app.payments import LineItem


def make_gig_session(gateway, checkout_id, **overrides):
    params = dict(
        local_checkout_id=checkout_id,
        idempotency_key=f"key-{checkout_id}",
        line_items=[LineItem("Logo design — standard", 5000, 1), LineItem("Extra revision", 1250, 2)],
        currency="usd",
        success_url="http://app.test/checkout/return?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://app.test/checkout/cancel",
        customer_email="buyer@example.com",
        metadata={"order_draft": "42"},
    )
    params.update(overrides)
    return gateway.create_gig_checkout(**params)


def test_gig_checkout_session_carries_our_ids(sandbox_gateway, sandbox_id):
    checkout_id = sandbox_id("checkout")

    session = make_gig_session(sandbox_gateway, checkout_id, transfer_group=f"order:{checkout_id}")

    assert session.id.startswith("cs_test_")
    assert session.mode == "payment" and session.status == "open" and session.payment_status == "unpaid"
    assert session.amount_total == 7500 and session.currency == "usd"
    assert session.client_reference_id == checkout_id
    assert session.metadata["checkout_id"] == checkout_id and session.metadata["order_draft"] == "42"
    assert session.url.startswith(sandbox_gateway.api_base + "/checkout/")


def test_paying_on_the_hosted_page_redirects_and_delivers_checkout_completed(
    sandbox_gateway, sandbox_http, sandbox_sink, sandbox_id
):
    checkout_id = sandbox_id("checkout")
    session = make_gig_session(sandbox_gateway, checkout_id)

    page = sandbox_http.get(session.url)
    assert page.status_code == 200
    assert "Logo design — standard" in page.text and "Extra revision" in page.text
    assert "$75.00" in page.text
    assert 'href="http://app.test/checkout/cancel"' in page.text
    response = sandbox_http.post(
        session.url + "/pay",
        data={
            "email": "buyer@example.com",
            "name": "Bea Buyer",
            "card_number": "4242 4242 4242 4242",
            "exp": "12 / 34",
            "cvc": "123",
        },
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"http://app.test/checkout/return?session_id={session.id}"
    paid = sandbox_gateway.retrieve_checkout_session(session.id)
    assert paid.status == "complete" and paid.payment_status == "paid"
    intent = sandbox_gateway.retrieve_payment_intent(paid.payment_intent)
    assert intent.status == "succeeded" and intent.amount_received == 7500
    assert intent.transfer_group == f"checkout_key-{checkout_id}"
    charge = sandbox_gateway.retrieve_charge(intent.latest_charge)
    assert charge.paid and charge.balance_transaction.startswith("txn_")
    assert charge.transfer_group == f"checkout_key-{checkout_id}"

    delivery = sandbox_sink.wait_for_event("checkout.session.completed", session.id)
    event = sandbox_gateway.construct_event(delivery.body, delivery.headers["Stripe-Signature"])
    assert event.data.object.client_reference_id == checkout_id
    assert event.data.object.payment_intent == intent.id
    sandbox_sink.wait_for_event("payment_intent.succeeded", intent.id)


def test_declined_card_shows_the_decline_and_leaves_the_session_open(
    sandbox_gateway, sandbox_pay, sandbox_sink, sandbox_id
):
    session = make_gig_session(sandbox_gateway, sandbox_id("checkout"))

    response = sandbox_pay(session, card_number="4000 0000 0000 0002")

    assert response.status_code == 402
    assert "Your card was declined." in response.text
    still_open = sandbox_gateway.retrieve_checkout_session(session.id)
    assert still_open.status == "open" and still_open.payment_status == "unpaid"
    failed = sandbox_sink.wait_for_event("payment_intent.payment_failed", still_open.payment_intent)
    assert failed.json["data"]["object"]["last_payment_error"]["decline_code"] == "generic_decline"

    retry = sandbox_pay(session)
    assert retry.status_code == 303
    assert sandbox_gateway.retrieve_checkout_session(session.id).payment_intent == still_open.payment_intent


def test_unknown_card_number_is_rejected_on_the_page(sandbox_gateway, sandbox_pay, sandbox_id):
    session = make_gig_session(sandbox_gateway, sandbox_id("checkout"))

    response = sandbox_pay(session, card_number="1234 5678 9012 3456")

    assert response.status_code == 402
    assert "Your card number is incorrect." in response.text
    assert 'value="1234 5678 9012 3456"' in response.text


def test_expired_session_cannot_be_paid(sandbox_gateway, sandbox_pay, sandbox_sink, sandbox_id):
    session = make_gig_session(sandbox_gateway, sandbox_id("checkout"))

    expired = sandbox_gateway.expire_checkout_session(session.id)

    assert expired.status == "expired"
    response = sandbox_pay(session)
    assert response.status_code == 400
    assert "expired" in response.text
    sandbox_sink.wait_for_event("checkout.session.expired", session.id)
    with pytest.raises(stripe.InvalidRequestError):
        sandbox_gateway.client.v1.checkout.sessions.expire(session.id)


def test_replaying_a_checkout_returns_the_same_session(sandbox_gateway, sandbox_id):
    checkout_id = sandbox_id("checkout")

    first = make_gig_session(sandbox_gateway, checkout_id)
    replay = make_gig_session(sandbox_gateway, checkout_id)

    assert replay.id == first.id
    assert replay.last_response.headers.get("Idempotent-Replayed") == "true"


def test_same_idempotency_key_with_different_parameters_is_an_idempotency_error(sandbox_gateway, sandbox_id):
    checkout_id = sandbox_id("checkout")
    make_gig_session(sandbox_gateway, checkout_id)

    with pytest.raises(stripe.IdempotencyError):
        make_gig_session(sandbox_gateway, checkout_id, line_items=[LineItem("Something else", 999, 1)])


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"mode": "payment", "success_url": "http://a/s"}, "line_items"),
        (
            {
                "mode": "payment",
                "success_url": "http://a/s",
                "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "product_data": {"name": "X"}}}],
            },
            "line_items[0][price_data][unit_amount]",
        ),
        (
            {
                "mode": "payment",
                "success_url": "http://a/s",
                "line_items": [
                    {
                        "quantity": 0,
                        "price_data": {"currency": "usd", "unit_amount": 100, "product_data": {"name": "X"}},
                    }
                ],
            },
            "line_items[0][quantity]",
        ),
        (
            {
                "mode": "subscription",
                "success_url": "http://a/s",
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {"currency": "usd", "unit_amount": 100, "product_data": {"name": "X"}},
                    }
                ],
            },
            "line_items[0][price_data][recurring]",
        ),
        ({"mode": "bogus", "success_url": "http://a/s"}, "mode"),
        (
            {
                "mode": "payment",
                "success_url": "http://a/s",
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {"currency": "usd", "unit_amount": 100, "product_data": {"name": "X"}},
                    }
                ],
                "payment_intent_data": {"application_fee_amount": 10, "transfer_data": {"destination": "acct_nope"}},
            },
            "payment_intent_data[transfer_data][destination]",
        ),
    ],
)
def test_bad_checkout_params_are_invalid_request_errors(sandbox_gateway, params, param):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sandbox_gateway.client.v1.checkout.sessions.create(params=params)

    assert excinfo.value.http_status == 400
    assert excinfo.value.param == param
    assert excinfo.value.error.type == "invalid_request_error"


def test_gateway_refuses_non_integer_amounts(sandbox_gateway, sandbox_id):
    with pytest.raises(TypeError):
        make_gig_session(sandbox_gateway, sandbox_id("checkout"), line_items=[LineItem("Float", 10.5, 1)])


def test_confirming_a_payment_with_a_declined_card_raises_card_error(sandbox_gateway, sandbox_sink):
    with pytest.raises(stripe.CardError) as excinfo:
        sandbox_gateway.client.v1.payment_intents.create(
            params={
                "amount": 2000,
                "currency": "usd",
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )

    assert excinfo.value.http_status == 402
    assert excinfo.value.code == "card_declined"
    assert excinfo.value.error.decline_code == "generic_decline"
    intent_id = excinfo.value.error.payment_intent.id
    assert sandbox_gateway.retrieve_payment_intent(intent_id).status == "requires_payment_method"
    sandbox_sink.wait_for_event("payment_intent.payment_failed", intent_id)


def test_confirming_a_payment_with_a_good_card_succeeds(sandbox_gateway):
    intent = sandbox_gateway.client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )

    assert intent.status == "succeeded"
    assert sandbox_gateway.retrieve_charge(intent.latest_charge).amount_captured == 2000


def test_list_endpoints_paginate(sandbox_gateway, sandbox_id):
    created = [make_gig_session(sandbox_gateway, sandbox_id("checkout")).id for _ in range(3)]

    first_page = sandbox_gateway.client.v1.checkout.sessions.list(params={"limit": 2})
    second_page = sandbox_gateway.client.v1.checkout.sessions.list(
        params={"limit": 2, "starting_after": first_page.data[-1].id}
    )

    assert first_page.object == "list" and first_page.url == "/v1/checkout/sessions"
    assert [s.id for s in first_page.data] == created[::-1][:2]
    assert first_page.has_more is True
    assert second_page.data[0].id == created[0]
