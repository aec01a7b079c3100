"""Connect onboarding: Express accounts, hosted onboarding, account.updated webhooks."""

import pytest
import stripe


def test_new_express_account_cannot_take_payments_yet(sandbox_gateway, sandbox_id):
    company_id = sandbox_id("company")

    account = sandbox_gateway.create_connected_account(
        company_id, "seller@example.com", idempotency_key=f"key-{company_id}"
    )

    assert account.id.startswith("acct_")
    assert account.type == "express"
    assert account.metadata["company_id"] == company_id
    assert account.details_submitted is False
    assert account.charges_enabled is False and account.payouts_enabled is False
    assert account.requirements.currently_due
    assert set(account.capabilities.to_dict()) == {"card_payments", "transfers"}


def test_creating_the_account_twice_with_the_companys_key_returns_the_same_account(sandbox_gateway, sandbox_id):
    company_id, key = sandbox_id("company"), sandbox_id("key")

    first = sandbox_gateway.create_connected_account(company_id, "seller@example.com", idempotency_key=key)
    again = sandbox_gateway.create_connected_account(company_id, "seller@example.com", idempotency_key=key)

    assert again.id == first.id


def test_submitting_verification_enables_the_account_and_notifies_the_app(
    sandbox_gateway, sandbox_http, sandbox_sink, sandbox_id
):
    account = sandbox_gateway.create_connected_account(
        sandbox_id("company"), "seller@example.com", idempotency_key=sandbox_id("key")
    )
    link = sandbox_gateway.create_onboarding_link(
        account.id,
        "http://app.test/onboarding/refresh",
        "http://app.test/onboarding/return",
        idempotency_key=f"{account.id}:link:1",
    )

    page = sandbox_http.get(link.url)
    assert page.status_code == 200
    assert "Submit verification" in page.text and "Fail verification" in page.text
    form_action = link.url + "/verified"
    assert f'action="{form_action.removeprefix(sandbox_gateway.api_base)}"' in page.text
    response = sandbox_http.post(form_action)

    assert response.status_code == 303
    assert response.headers["location"] == "http://app.test/onboarding/return"
    verified = sandbox_gateway.retrieve_account(account.id)
    assert verified.charges_enabled and verified.payouts_enabled and verified.details_submitted
    assert verified.requirements.currently_due == []
    assert verified.requirements.disabled_reason is None

    delivery = sandbox_sink.wait_for_event("account.updated", account.id)
    event = stripe.Webhook.construct_event(
        delivery.body, delivery.headers["Stripe-Signature"], sandbox_gateway.webhook_secret
    )
    assert event.type == "account.updated"
    assert event.data.object.charges_enabled is True
    assert sandbox_gateway.construct_event(delivery.body, delivery.headers["Stripe-Signature"]).id == event.id


def test_failed_verification_sets_a_disabled_reason(sandbox_gateway, sandbox_http, sandbox_sink, sandbox_id):
    account = sandbox_gateway.create_connected_account(sandbox_id("company"), None, idempotency_key=sandbox_id("key"))
    link = sandbox_gateway.create_onboarding_link(
        account.id, "http://app.test/refresh", "http://app.test/return", idempotency_key=f"{account.id}:link:1"
    )

    response = sandbox_http.post(link.url + "/failed")

    assert response.status_code == 303
    failed = sandbox_gateway.retrieve_account(account.id)
    assert failed.charges_enabled is False
    assert failed.requirements.disabled_reason == "requirements.past_due"
    assert failed.requirements.errors[0].code == "verification_failed_other"
    delivery = sandbox_sink.wait_for_event("account.updated", account.id)
    assert delivery.json["data"]["object"]["requirements"]["disabled_reason"] == "requirements.past_due"


def test_onboarding_link_for_unknown_account_is_rejected(sandbox_gateway):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sandbox_gateway.create_onboarding_link("acct_missing", "http://a/r", "http://a/t", idempotency_key="x:1")

    assert excinfo.value.code == "resource_missing"
    assert excinfo.value.param == "account"


def test_retrieving_an_unknown_account_is_resource_missing(sandbox_gateway):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sandbox_gateway.retrieve_account("acct_doesnotexist")

    assert excinfo.value.http_status == 404
    assert excinfo.value.code == "resource_missing"


def test_a_key_that_is_not_a_test_key_is_refused(sandbox_url):
    from app.payments import StripeGateway

    gateway = StripeGateway("sk_live_not_here", sandbox_url)
    try:
        with pytest.raises(stripe.AuthenticationError):
            gateway.retrieve_account("acct_whatever")
    finally:
        gateway.close()
