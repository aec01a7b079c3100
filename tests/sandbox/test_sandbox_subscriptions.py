"""Subscriptions: checkout in subscription mode, renewals driven from the sandbox controls."""

import stripe


def start_subscription(gateway, pay, seller, checkout_id, trial_days=None):
    session = gateway.create_subscription_checkout(
        local_checkout_id=checkout_id,
        idempotency_key=f"key-{checkout_id}",
        name="Pro plan",
        unit_amount=1500,
        currency="usd",
        interval="month",
        application_fee_bps=1050,
        destination_account=seller.id,
        trial_days=trial_days,
        success_url="http://app.test/ok?s={CHECKOUT_SESSION_ID}",
        cancel_url="http://app.test/cancel",
        customer_email="subscriber@example.com",
    )
    assert pay(session).status_code == 303
    return gateway.retrieve_checkout_session(session.id)


def test_subscription_checkout_starts_an_active_subscription(
    sandbox_gateway, sandbox_pay, sandbox_verified_account, sandbox_sink, sandbox_id
):
    seller = sandbox_verified_account()
    checkout_id = sandbox_id("checkout")

    session = start_subscription(sandbox_gateway, sandbox_pay, seller, checkout_id)

    assert session.status == "complete" and session.payment_status == "paid"
    sub = sandbox_gateway.retrieve_subscription(session.subscription)
    assert sub.status == "active"
    assert sub.application_fee_percent == 10.5
    assert sub.transfer_data.destination == seller.id
    assert sub.metadata["checkout_id"] == checkout_id
    item = sub["items"].data[0]
    assert item.price.unit_amount == 1500 and item.price.recurring.interval == "month"
    assert item.current_period_end > item.current_period_start
    invoice = sandbox_gateway.client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "paid" and invoice.amount_paid == 1500
    sandbox_sink.wait_for_event("customer.subscription.created", sub.id)
    sandbox_sink.wait_for_event("invoice.paid", invoice.id)
    sandbox_sink.wait_for_event("checkout.session.completed", session.id)
    fees = sandbox_gateway.client.v1.application_fees.list(params={"limit": 100})
    assert any(fee.amount == 158 and fee.account == seller.id for fee in fees.data)


def test_trial_then_paid_renewal_then_failed_renewal(
    sandbox_gateway, sandbox_pay, sandbox_verified_account, sandbox_control, sandbox_sink, sandbox_id
):
    seller = sandbox_verified_account()
    session = start_subscription(sandbox_gateway, sandbox_pay, seller, sandbox_id("checkout"), trial_days=14)
    assert session.payment_status == "no_payment_required"
    sub = sandbox_gateway.retrieve_subscription(session.subscription)
    assert sub.status == "trialing" and sub.trial_end - sub.trial_start == 14 * 86400
    first_end = sub["items"].data[0].current_period_end
    trial_invoice = sandbox_gateway.client.v1.invoices.retrieve(sub.latest_invoice)
    # The $0 invoice's line covers the trial (what the app keeps access for), as at Stripe.
    assert trial_invoice.amount_paid == 0
    assert (trial_invoice.lines.data[0].period.start, trial_invoice.lines.data[0].period.end) == (
        sub.trial_start,
        sub.trial_end,
    )

    paid = sandbox_control(f"/_sandbox/subscriptions/{sub.id}/advance", outcome="paid")
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "active"
    paid_invoice = sandbox_sink.wait_for(
        lambda d: (
            d.json["type"] == "invoice.paid"
            and d.json["data"]["object"]["subscription"] == sub.id
            and d.json["data"]["object"]["billing_reason"] == "subscription_cycle"
        )
    )[0]
    assert paid_invoice.json["data"]["object"]["amount_paid"] == 1500
    renewed = sandbox_gateway.retrieve_subscription(sub.id)
    assert renewed["items"].data[0].current_period_start == first_end
    # The renewal's line pays for the new period; the invoice's own period is the one that ended.
    line = paid_invoice.json["data"]["object"]["lines"]["data"][0]["period"]
    assert (line["start"], line["end"]) == (first_end, renewed["items"].data[0].current_period_end)
    assert paid_invoice.json["data"]["object"]["period_end"] == first_end

    failed = sandbox_control(f"/_sandbox/subscriptions/{sub.id}/advance", outcome="failed")
    assert failed.json()["status"] == "past_due"
    failed_invoice = sandbox_sink.wait_for(
        lambda d: d.json["type"] == "invoice.payment_failed" and d.json["data"]["object"]["subscription"] == sub.id
    )[0]
    assert failed_invoice.json["data"]["object"]["status"] == "open"
    updates = sandbox_sink.wait_for(
        lambda d: d.json["type"] == "customer.subscription.updated" and d.json["data"]["object"]["id"] == sub.id,
        count=2,
    )
    assert updates[-1].json["data"]["object"]["status"] == "past_due"
    assert updates[-1].json["data"]["previous_attributes"]["status"] == "active"
    assert sandbox_gateway.retrieve_subscription(sub.id).status == "past_due"


def test_cancel_subscription(
    sandbox_gateway, sandbox_pay, sandbox_verified_account, sandbox_sink, sandbox_id, sandbox_control
):
    seller = sandbox_verified_account()
    session = start_subscription(sandbox_gateway, sandbox_pay, seller, sandbox_id("checkout"))

    at_end = sandbox_gateway.cancel_subscription(session.subscription, at_period_end=True)
    canceled = sandbox_gateway.cancel_subscription(session.subscription)
    again = sandbox_gateway.cancel_subscription(session.subscription)

    assert at_end.cancel_at_period_end is True and at_end.status == "active"
    assert canceled.status == "canceled" and canceled.canceled_at
    assert again.status == "canceled"
    sandbox_sink.wait_for_event("customer.subscription.deleted", session.subscription)
    refused = sandbox_control(f"/_sandbox/subscriptions/{session.subscription}/advance", outcome="paid")
    assert refused.status_code == 400


def test_subscription_page_offers_renewal_controls(
    sandbox_gateway, sandbox_pay, sandbox_verified_account, sandbox_http, sandbox_url, sandbox_id
):
    seller = sandbox_verified_account()
    session = start_subscription(sandbox_gateway, sandbox_pay, seller, sandbox_id("checkout"))

    page = sandbox_http.get(f"{sandbox_url}/_sandbox/subscriptions/{session.subscription}")
    advanced = sandbox_http.post(
        f"{sandbox_url}/_sandbox/subscriptions/{session.subscription}/advance", data={"outcome": "failed"}
    )

    assert "Advance to next period — paid" in page.text and "Advance to next period — failed" in page.text
    assert advanced.status_code == 303
    assert sandbox_gateway.retrieve_subscription(session.subscription).status == "past_due"
    assert isinstance(sandbox_gateway.retrieve_subscription(session.subscription), stripe.Subscription)
