"""The customer portal: prices, portal configurations and sessions through the official library,
and the hosted portal page — cancel at period end, renew, switch plan, update the card — each
sending the events Stripe sends, in Stripe's shapes."""

import re
from html import unescape

import pytest
import stripe

FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


@pytest.fixture
def plans(sandbox_gateway, sandbox_id):
    """A monthly price of a new product "Pro" and a yearly price of the same product, and a
    portal configuration offering both."""
    monthly = sandbox_gateway.create_price(
        unit_amount=1500,
        currency="usd",
        interval="month",
        product_name="Pro",
        nickname="Monthly",
        idempotency_key=sandbox_id("price"),
    )
    yearly = sandbox_gateway.create_price(
        unit_amount=15000,
        currency="usd",
        interval="year",
        product=monthly.product,
        nickname="Yearly",
        idempotency_key=sandbox_id("price"),
    )
    config = sandbox_gateway.create_portal_configuration(
        products=[{"product": monthly.product, "prices": [monthly.id, yearly.id]}], idempotency_key=sandbox_id("conf")
    )
    return {"monthly": monthly, "yearly": yearly, "config": config}


@pytest.fixture
def subscription(sandbox_gateway, sandbox_pay, sandbox_verified_account, sandbox_id, plans):
    seller = sandbox_verified_account()
    session = sandbox_gateway.client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": plans["monthly"].id, "quantity": 1}],
            "success_url": "http://app.test/ok",
            "subscription_data": {"application_fee_percent": "10", "transfer_data": {"destination": seller.id}},
            "metadata": {"checkout_id": sandbox_id("checkout")},
        }
    )
    assert sandbox_pay(session).status_code == 303
    return sandbox_gateway.retrieve_subscription(sandbox_gateway.retrieve_checkout_session(session.id).subscription)


def portal_page(sandbox_http, gateway, customer, configuration=None):
    session = gateway.create_billing_portal_session(
        customer=customer, return_url="http://app.test/account", configuration=configuration
    )
    page = sandbox_http.get(session.url)
    assert page.status_code == 200
    return session, page


def post(sandbox_http, page, ending, data=None):
    action = next(unescape(a) for a in FORM_ACTION.findall(page.text) if unescape(a).endswith(ending))
    return sandbox_http.post(str(page.url).split("/p/session/")[0] + action, data=data or {})


def events_about(sink, event_type, object_id, count):
    return sink.wait_for(
        lambda r: r.status == 200 and r.json["type"] == event_type and r.json["data"]["object"]["id"] == object_id,
        count=count,
    )


def test_portal_objects_have_stripes_keys(sandbox_gateway, sandbox_http, sandbox_fixture_keys, subscription, plans):
    session, page = portal_page(sandbox_http, sandbox_gateway, subscription.customer, plans["config"].id)
    assert sorted(session.to_dict()) == sandbox_fixture_keys["billing_portal.session"]
    assert sorted(plans["config"].to_dict()) == sandbox_fixture_keys["billing_portal.configuration"]
    assert session.configuration == plans["config"].id and session.return_url == "http://app.test/account"
    assert 'href="http://app.test/account"' in page.text
    default = sandbox_gateway.create_billing_portal_session(customer=subscription.customer, return_url="http://x.test/")
    assert default.configuration != plans["config"].id
    assert sandbox_gateway.client.v1.billing_portal.configurations.retrieve(default.configuration).is_default


def test_cancel_at_period_end_then_renew(sandbox_gateway, sandbox_http, sandbox_sink, subscription):
    _, page = portal_page(sandbox_http, sandbox_gateway, subscription.customer)
    period_end = subscription["items"].data[0].current_period_end

    assert post(sandbox_http, page, "/cancel").status_code == 303
    cancelled = sandbox_gateway.retrieve_subscription(subscription.id)
    assert (cancelled.cancel_at_period_end, cancelled.cancel_at, cancelled.status) == (True, period_end, "active")
    assert cancelled.cancellation_details.reason == "cancellation_requested"
    event = events_about(sandbox_sink, "customer.subscription.updated", subscription.id, 1)[-1].json
    assert event["data"]["previous_attributes"]["cancel_at_period_end"] is False
    assert event["data"]["previous_attributes"]["cancel_at"] is None

    page = sandbox_http.get(str(page.url))
    assert "Renew subscription" in page.text
    assert post(sandbox_http, page, "/renew").status_code == 303
    renewed = sandbox_gateway.retrieve_subscription(subscription.id)
    assert (renewed.cancel_at_period_end, renewed.cancel_at, renewed.canceled_at) == (False, None, None)
    event = events_about(sandbox_sink, "customer.subscription.updated", subscription.id, 2)[-1].json
    assert event["data"]["previous_attributes"]["cancel_at_period_end"] is True


def test_the_period_ends_a_subscription_set_to_cancel(
    sandbox_gateway, sandbox_http, sandbox_sink, sandbox_control, subscription
):
    _, page = portal_page(sandbox_http, sandbox_gateway, subscription.customer)
    assert post(sandbox_http, page, "/cancel").status_code == 303
    assert (
        sandbox_control(f"/_sandbox/clock/subscriptions/{subscription.id}/advance", outcome="paid").status_code == 200
    )
    ended = sandbox_gateway.retrieve_subscription(subscription.id)
    assert ended.status == "canceled" and ended.ended_at
    events_about(sandbox_sink, "customer.subscription.deleted", subscription.id, 1)
    assert sandbox_gateway.client.v1.invoices.list(params={"subscription": subscription.id}).data[0].billing_reason == (
        "subscription_create"
    )  # nothing renewed
    assert "No active subscriptions" in sandbox_http.get(str(page.url)).text


def test_switch_plan_among_the_configured_prices(sandbox_gateway, sandbox_http, sandbox_sink, subscription, plans):
    _, page = portal_page(sandbox_http, sandbox_gateway, subscription.customer, plans["config"].id)
    assert plans["yearly"].id in page.text and "Update plan" in page.text

    refused = post(sandbox_http, page, "/update", {"price": plans["monthly"].id})  # the current one
    assert refused.status_code == 400 and "Choose one of the plans offered." in refused.text
    assert post(sandbox_http, page, "/update", {"price": plans["yearly"].id}).status_code == 303
    switched = sandbox_gateway.retrieve_subscription(subscription.id)
    item = switched["items"].data[0]
    assert item.price.id == plans["yearly"].id and item.plan.interval == "year"
    assert item.id == subscription["items"].data[0].id
    event = events_about(sandbox_sink, "customer.subscription.updated", subscription.id, 1)[-1].json
    previous = event["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"]
    assert previous == plans["monthly"].id

    # Without a configuration offering prices, the page offers no switch.
    _, plain = portal_page(sandbox_http, sandbox_gateway, subscription.customer)
    assert "Update plan" not in plain.text


def test_update_card(sandbox_gateway, sandbox_http, sandbox_sink, sandbox_fixture_keys, sandbox_control, subscription):
    _, page = portal_page(sandbox_http, sandbox_gateway, subscription.customer)
    declined = post(sandbox_http, page, "/payment-method", {"card_number": "4000 0000 0000 0002"})
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    assert post(sandbox_http, page, "/payment-method", {"card_number": "nope"}).status_code == 402
    assert post(sandbox_http, page, "/payment-method", {"card_number": ""}).status_code == 422
    assert sandbox_gateway.retrieve_customer(subscription.customer).invoice_settings.default_payment_method is None

    assert post(sandbox_http, page, "/payment-method", {"card_number": "4242424242424242"}).status_code == 303
    customer = sandbox_gateway.retrieve_customer(subscription.customer)
    method = sandbox_gateway.retrieve_payment_method(customer.invoice_settings.default_payment_method)
    assert sorted(method.to_dict()) == sandbox_fixture_keys["payment_method"]
    assert (method.customer, method.card.last4, method.type) == (customer.id, "4242", "card")
    attached = sandbox_sink.wait_for_event("payment_method.attached", method.id).json
    assert attached["data"]["object"]["customer"] == customer.id
    updated = sandbox_sink.wait_for_event("customer.updated", customer.id).json
    assert updated["data"]["previous_attributes"] == {"invoice_settings": {"default_payment_method": None}}
    assert "Visa •••• 4242" in sandbox_http.get(str(page.url)).text
    renewal = sandbox_control(f"/_sandbox/subscriptions/{subscription.id}/advance", outcome="paid")
    assert renewal.status_code == 200 and renewal.json()["status"] == "active"


def test_portal_refusals(sandbox_gateway, sandbox_http, sandbox_url, sandbox_id, subscription, plans):
    with pytest.raises(stripe.InvalidRequestError, match="No such customer"):
        sandbox_gateway.create_billing_portal_session(customer="cus_missing", return_url="http://app.test/")
    with pytest.raises(stripe.InvalidRequestError, match="return_url"):
        sandbox_gateway.client.v1.billing_portal.sessions.create(params={"customer": subscription.customer})
    other = sandbox_gateway.create_price(
        unit_amount=900, currency="usd", interval="month", product_name="Other", idempotency_key=sandbox_id("price")
    )
    with pytest.raises(stripe.InvalidRequestError, match="does not belong"):
        sandbox_gateway.create_portal_configuration(
            products=[{"product": plans["monthly"].product, "prices": [other.id]}], idempotency_key=sandbox_id("c")
        )
    assert sandbox_http.get(sandbox_url + "/p/session/not-a-session").status_code == 404
    _, page = portal_page(sandbox_http, sandbox_gateway, subscription.customer)
    base = str(page.url)
    assert sandbox_http.post(base + "/subscriptions/sub_someone_else/cancel").status_code == 404
