"""Self-service through Stripe's customer portal, over real HTTP: the buyer's "Manage
subscription" button, the sandbox's hosted portal page (cancel at period end, renew, update the
card), Stripe's webhooks back to the live app, and what the membership and the seller's
outbound events then say. Refusals: someone else's membership, a one-time purchase, Stripe down."""

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import InboundEvent, Membership, OutboxEvent, Payment
from app.payments import get_gateway
from tests import loopback
from tests.factories import make_logo_shop, make_plan, make_product, make_user
from tests.forms import pay_hosted_checkout, post_form, sign_in_as
from tests.waiting import wait_for_inbound, wait_until

pytestmark = pytest.mark.committed

FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


@pytest.fixture
def shop(app, sandbox):
    with app.app_context():
        shop = make_logo_shop(sandbox)
        pro = make_product(shop.company, "pro-plugin", "month", 1250, trial_days=7)
        yearly = make_plan(pro, "Yearly", "year", 12000)
        make_plan(pro, "Legacy", "month", 900, enabled=False)
        make_plan(pro, "Lifetime", "one_time", 30000)
        icons = make_product(shop.company, "icon-pack", "one_time", 2900)
        make_plan(icons, "Icons monthly", "month", 9900)
        make_user("other@example.com")
        return {"company_id": shop.company.id, "yearly_plan_id": yearly.id, "monthly_plan_id": pro.plans[0].id}


@pytest.fixture
def buyer(client, shop):
    return sign_in_as(client, "buyer@example.com")


def subscribe(app, buyer, run_jobs, slug="pro-plugin"):
    """Buy `slug` through the hosted checkout; returns the membership's id once it exists."""
    seen = inbound_count(app, "checkout.session.completed")
    response = post_form(buyer, f"/products/{slug}/checkout")
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    after(app, run_jobs, "checkout.session.completed", seen + 1)
    with app.app_context():
        return db.session.scalars(select(Membership).where(Membership.product.has(slug=slug))).one().id


def membership(app, membership_id):
    with app.app_context():
        row = db.session.get(Membership, membership_id)
        db.session.expunge(row)
        return row


def updates(app):
    """The `change` of every membership.updated event, oldest first."""
    with app.app_context():
        events = db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "membership.updated").order_by(OutboxEvent.id)
        ).all()
        return [event.data["change"] for event in events]


def inbound_count(app, event_type):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.type == event_type))


def open_portal(buyer, membership_id):
    """Press "Manage subscription" on the account page; returns the portal page (httpx)."""
    account = buyer.get("/account").get_data(as_text=True)
    assert f"/account/memberships/{membership_id}/manage" in account and "Manage subscription" in account
    response = post_form(buyer, f"/account/memberships/{membership_id}/manage")
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    page = loopback.get(response.headers["Location"])
    assert page.status_code == 200
    return page


def submit(page, label, data=None, expect=303):
    """Submit the portal page's form whose action ends with `label`."""
    actions = [unescape(a) for a in FORM_ACTION.findall(page.text)]
    action = next(a for a in actions if a.endswith(label))
    base = str(page.url).split("/p/session/")[0]
    response = loopback.post(base + action, data=data or {})
    assert response.status_code == expect, response.text[:500]
    return response


def after(app, run_jobs, event_type, count):
    """Wait until `count` events of `event_type` have arrived and been handled (each one's job
    is queued just after its row commits, so jobs run until they have)."""
    wait_for_inbound(app, event_type, count=count)

    def handled():
        run_jobs()
        with app.app_context():
            return (
                db.session.scalar(
                    select(func.count())
                    .select_from(InboundEvent)
                    .where(InboundEvent.type == event_type, InboundEvent.status == "processed")
                )
                >= count
            )

    wait_until(handled, message=f"{event_type} not handled")


def test_trial_cancel_at_period_end_then_renew(app, buyer, shop, run_jobs):
    membership_id = subscribe(app, buyer, run_jobs)
    trialing = membership(app, membership_id)
    assert trialing.status == "trialing" and not trialing.cancel_at_period_end
    seen = inbound_count(app, "customer.subscription.updated")

    page = open_portal(buyer, membership_id)
    assert "Trial ends" in page.text and "Cancel subscription" in page.text
    submit(page, "/cancel")
    after(app, run_jobs, "customer.subscription.updated", seen + 1)
    cancelling = membership(app, membership_id)
    assert cancelling.cancel_at_period_end and cancelling.status == "trialing" and cancelling.grants_access
    with app.app_context():
        trial_end = get_gateway().retrieve_subscription(trialing.stripe_subscription_id).trial_end
    assert cancelling.cancel_at == datetime.fromtimestamp(trial_end, UTC)  # access runs to the trial's end
    assert cancelling.stripe_customer_id
    assert updates(app) == ["cancel_scheduled"]
    account = buyer.get("/account").get_data(as_text=True)
    assert f"cancels on {cancelling.cancel_at.strftime('%b %d, %Y')}" in account

    page = open_portal(buyer, membership_id)
    assert "Renew subscription" in page.text and "Cancels" in page.text
    submit(page, "/renew")
    after(app, run_jobs, "customer.subscription.updated", seen + 2)
    renewed = membership(app, membership_id)
    assert not renewed.cancel_at_period_end and renewed.cancel_at is None and renewed.status == "trialing"
    assert updates(app) == ["cancel_scheduled", "cancel_withdrawn"]
    assert "cancels on" not in buyer.get("/account").get_data(as_text=True)
    with app.app_context():
        event = db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "membership.updated").order_by(OutboxEvent.id.desc())
        ).first()
        assert event.data["membership_id"] == membership_id and event.data["cancel_at_period_end"] is False
        assert event.data["renews_at"].endswith("Z")

    # A replay of the first (stale) cancellation changes nothing: Stripe's current state wins.
    with app.app_context():
        first = db.session.scalars(
            select(InboundEvent).where(InboundEvent.type == "customer.subscription.updated").order_by(InboundEvent.id)
        ).all()[seen]
        from app.services.billing_portal import sync_subscription_from_portal

        sync_subscription_from_portal(first.payload["data"]["object"])
        db.session.commit()
    assert not membership(app, membership_id).cancel_at_period_end
    assert updates(app) == ["cancel_scheduled", "cancel_withdrawn"]


def test_switch_plan_in_the_portal(app, buyer, shop, sandbox, run_jobs):
    membership_id = subscribe(app, buyer, run_jobs)
    before = membership(app, membership_id)
    assert before.plan_id == shop["monthly_plan_id"] and before.stripe_price_id
    seen = inbound_count(app, "customer.subscription.updated")

    page = open_portal(buyer, membership_id)
    options = re.findall(r'<option value="(price_[^"]+)">([^<]+)</option>', page.text)
    assert [label.split(" —")[0] for _, label in options] == ["Yearly"]  # not disabled, one-time or others' plans
    assert "$120.00 per year" in options[0][1]
    submit(page, "/update", {"price": options[0][0]})
    after(app, run_jobs, "customer.subscription.updated", seen + 1)
    switched = membership(app, membership_id)
    assert switched.plan_id == shop["yearly_plan_id"] and switched.stripe_price_id == options[0][0]
    assert switched.status == "trialing" and switched.grants_access
    assert updates(app) == ["plan_changed"]
    with app.app_context():
        event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "membership.updated")).one()
        assert (event.data["plan_id"], event.data["price_id"]) == (shop["yearly_plan_id"], options[0][0])

    # Opening the portal again offers the monthly plan back.
    again = re.findall(r'<option value="(price_[^"]+)">([^<]+)</option>', open_portal(buyer, membership_id).text)
    assert len(again) == 1 and "$12.50 per month" in again[0][1]

    # The next period is billed at the yearly price.
    subscription_id = switched.stripe_subscription_id
    assert (
        loopback.post(f"{sandbox}/_sandbox/clock/subscriptions/{subscription_id}/advance", json={}).status_code == 200
    )
    after(app, run_jobs, "invoice.paid", 2)
    with app.app_context():
        payment = db.session.scalars(select(Payment).where(Payment.membership_id == membership_id)).one()
        assert payment.amount_cents == 12000


def test_card_update_is_recorded_and_a_declined_card_changes_nothing(app, buyer, shop, run_jobs):
    membership_id = subscribe(app, buyer, run_jobs)
    page = open_portal(buyer, membership_id)

    declined = submit(page, "/payment-method", {"card_number": "4000 0000 0000 0002"}, expect=402)
    assert "Your card was declined." in declined.text
    assert submit(page, "/payment-method", {"card_number": ""}, expect=422)

    submit(page, "/payment-method", {"card_number": "4242 4242 4242 4242", "name": "Bea Buyer"})
    after(app, run_jobs, "customer.updated", 1)
    wait_for_inbound(app, "payment_method.attached")
    updated = membership(app, membership_id)
    assert (updated.card_brand, updated.card_last4) == ("visa", "4242")
    assert updates(app) == ["card_updated"]
    assert "Card •••• 4242" in buyer.get("/account").get_data(as_text=True)
    assert "Visa •••• 4242" in loopback.get(str(page.url)).text
    assert inbound_count(app, "customer.updated") == 1  # the declined card sent nothing


def test_cancellation_ends_access_at_period_end(app, buyer, shop, sandbox, run_jobs):
    membership_id = subscribe(app, buyer, run_jobs)
    seen = inbound_count(app, "customer.subscription.updated")
    submit(open_portal(buyer, membership_id), "/cancel")
    after(app, run_jobs, "customer.subscription.updated", seen + 1)
    assert membership(app, membership_id).grants_access

    # The period ends (the sandbox's clock): Stripe ends the subscription instead of renewing it.
    subscription_id = membership(app, membership_id).stripe_subscription_id
    ended = loopback.post(f"{sandbox}/_sandbox/clock/subscriptions/{subscription_id}/advance", json={"outcome": "paid"})
    assert ended.status_code == 200, ended.text
    after(app, run_jobs, "customer.subscription.deleted", 1)
    gone = membership(app, membership_id)
    assert gone.status == "canceled" and not gone.grants_access and not gone.is_manageable
    with app.app_context():
        types = [e.type for e in db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
        assert types.count("membership.deactivated") == 1 and "payment.succeeded" not in types
    account = buyer.get("/account").get_data(as_text=True)
    assert "Manage subscription" not in account
    refused = post_form(buyer, f"/account/memberships/{membership_id}/manage")
    assert refused.status_code == 409


def test_portal_refusals(app, buyer, shop, run_jobs, client):
    membership_id = subscribe(app, buyer, run_jobs)
    one_time_id = subscribe(app, buyer, run_jobs, slug="icon-pack")

    refused = post_form(buyer, f"/account/memberships/{one_time_id}/manage")
    assert refused.status_code == 409 and "one-time purchase" in refused.get_data(as_text=True)
    assert post_form(buyer, "/account/memberships/999999/manage").status_code == 404

    other = sign_in_as(app.test_client(), "other@example.com")
    assert post_form(other, f"/account/memberships/{membership_id}/manage").status_code == 404
    assert "Manage subscription" not in other.get("/account").get_data(as_text=True)

    anonymous = app.test_client()
    assert anonymous.post(f"/account/memberships/{membership_id}/manage").status_code in (302, 303, 400, 401)


def test_stripe_down_answers_503_and_writes_nothing(app, buyer, shop, sandbox, run_jobs):
    membership_id = subscribe(app, buyer, run_jobs)
    with app.app_context():
        row = db.session.get(Membership, membership_id)
        customer_id, row.stripe_customer_id = row.stripe_customer_id, None  # as before the portal existed
        db.session.commit()

    fault = loopback.post(f"{sandbox}/_sandbox/faults", json={"path": "/v1/billing_portal/sessions", "count": "3"})
    assert fault.status_code == 200, fault.text
    try:
        response = post_form(buyer, f"/account/memberships/{membership_id}/manage")
    finally:
        loopback.delete(f"{sandbox}/_sandbox/faults")
    assert response.status_code == 503
    assert "Payments are unavailable right now" in response.get_data(as_text=True)
    assert membership(app, membership_id).stripe_customer_id is None  # rolled back with the refusal

    response = post_form(buyer, f"/account/memberships/{membership_id}/manage")
    assert response.status_code == 303 and "/p/session/" in response.headers["Location"]
    assert membership(app, membership_id).stripe_customer_id == customer_id
