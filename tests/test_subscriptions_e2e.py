"""Subscriptions whose access follows the real periods, end to end: our checkout form, the
sandbox's hosted checkout over HTTP, the sandbox's test-clock controls (period ends, retries),
Stripe's webhooks to the live app and the worker. Each step checks access (member area and
files), the license key's expiry through the public API, emails and outbound events."""

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.clock import freeze, now
from app.extensions import db
from app.models import Checkout, License, Membership, OutboxEvent, OutgoingEmail, Payment
from app.payments import get_gateway
from app.services.ledger import unbalanced_transactions
from app.services.licensing.license_keys import license_key
from app.services.member_areas import add_member_file
from tests import loopback
from tests.factories import make_connected_account, make_plan, make_policy, make_product, make_seller, make_user
from tests.forms import pay_hosted_checkout, post_form, sign_in_as
from tests.test_money_keys import all_at_once
from tests.waiting import wait_for_inbound

pytestmark = pytest.mark.committed

DAY = timedelta(days=1)


@pytest.fixture
def shop(app, sandbox):
    with app.app_context():
        seller, company = make_seller("seller@example.com")
        make_connected_account(sandbox, company)
        product = make_product(company, "pro-plugin", "month", 1250, trial_days=7)
        make_policy(product, max_activations=2)
        yearly = make_plan(product, "Yearly", "year", 12000)
        member_file = add_member_file(product, seller, FileStorage(io.BytesIO(b"%PDF-1.4"), filename="guide.pdf"))
        db.session.commit()
        make_user("buyer@example.com")
        return {
            "product_id": product.id,
            "monthly": product.plans[0].id,
            "yearly": yearly.id,
            "file_id": member_file.id,
            "company_id": company.id,
        }


@pytest.fixture
def buyer(client, shop):
    return sign_in_as(client, "buyer@example.com")


@pytest.fixture
def clock():
    """Move the app's clock (the live server runs in this process); released afterwards."""
    yield freeze
    freeze(None)


def buy(app, buyer, plan_id, invoices=1):
    """Start a checkout of `plan_id`, pay it on the hosted page, let the webhooks land."""
    response = post_form(buyer, "/products/pro-plugin/checkout", {"plan": str(plan_id)})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    wait_for_inbound(app, "invoice.paid", count=invoices)
    wait_for_inbound(app, "checkout.session.completed", count=invoices)


def clock_action(sandbox, subscription_id, action, outcome=None):
    body = {"outcome": outcome} if outcome else {}
    answer = loopback.post(f"{sandbox}/_sandbox/clock/subscriptions/{subscription_id}/{action}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def membership_of(app, membership_id=None):
    with app.app_context():
        query = select(Membership).order_by(Membership.id.desc())
        if membership_id is not None:
            query = query.where(Membership.id == membership_id)
        membership = db.session.scalars(query).first()
        db.session.expunge(membership)
        return membership


def key_and_license(app, membership_id):
    with app.app_context():
        license = db.session.scalars(select(License).where(License.membership_id == membership_id)).one()
        db.session.expunge(license)
        return license_key(license), license


def validate(live_server, key):
    return loopback.post(f"{live_server}/api/v1/licenses/validate", json={"key": key}, timeout=10).json()


def events(app):
    with app.app_context():
        return [(e.type, e.data) for e in db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]


def event_types(app):
    return [event_type for event_type, _ in events(app)]


def emails(app):
    with app.app_context():
        return [(e.subject, e.body) for e in db.session.scalars(select(OutgoingEmail).order_by(OutgoingEmail.id))]


def can_open(buyer, shop):
    """(member area, member file) status codes for the buyer. After the test moved the clock
    weeks ahead their session has expired: they sign in again at that moment first."""
    if buyer.get("/account").status_code != 200:
        sign_in_as(buyer, "buyer@example.com")
    area = buyer.get(f"/account/products/{shop['product_id']}").status_code
    with buyer.get(f"/account/products/{shop['product_id']}/files/{shop['file_id']}") as download:
        return area, download.status_code


def test_trial_paid_renewal_failed_renewal_grace_then_recovery(app, buyer, shop, sandbox, live_server, run_jobs, clock):
    started = now()
    buy(app, buyer, shop["monthly"])
    run_jobs()
    m = membership_of(app)
    trial_end = m.paid_through
    with app.app_context():
        assert db.session.scalars(select(Checkout)).one().trial_days == 7
    # Trialing: access until the trial ends (the $0 trial invoice did not shorten it).
    assert m.status == "trialing" and m.plan_id == shop["monthly"]
    assert abs(trial_end - (started + 7 * DAY)) < timedelta(minutes=5)
    assert m.access_ends_at == trial_end + DAY
    key, license = key_and_license(app, m.id)
    assert license.access_ends_at == m.access_ends_at
    assert validate(live_server, key)["code"] == "VALID"
    assert can_open(buyer, shop) == (200, 200)
    library = buyer.get("/account/library").get_data(as_text=True)
    assert "Free trial until" in library and "Monthly plan" in library and "guide.pdf" in library and key in library
    assert event_types(app) == ["license.activated", "membership.activated"]
    assert any("/account/library#product-" in body for _, body in emails(app))
    clock(trial_end - timedelta(hours=1))
    assert validate(live_server, key)["code"] == "VALID"
    clock(None)

    # The trial converts: the first paid invoice covers the next month.
    subscription_id = m.stripe_subscription_id
    clock_action(sandbox, subscription_id, "advance", "paid")
    wait_for_inbound(app, "invoice.paid", count=2)
    wait_for_inbound(app, "customer.subscription.updated")
    run_jobs()
    m = membership_of(app, m.id)
    first_paid_end = m.paid_through
    assert m.status == "active" and first_paid_end > trial_end + 27 * DAY
    assert m.current_period_end == first_paid_end and m.access_ends_at == first_paid_end + DAY
    _, license = key_and_license(app, m.id)
    assert license.access_ends_at == first_paid_end + DAY
    with app.app_context():
        assert [p.amount_cents for p in db.session.scalars(select(Payment))] == [1250]

    # The next renewal fails: past_due, access for the grace period only, never the unpaid month.
    clock_action(sandbox, subscription_id, "advance", "failed")
    wait_for_inbound(app, "invoice.payment_failed")
    wait_for_inbound(app, "customer.subscription.updated", count=2)
    run_jobs()
    m = membership_of(app, m.id)
    grace_end = first_paid_end + timedelta(days=3)
    assert m.status == "past_due" and m.paid_through == first_paid_end
    assert m.current_period_end > first_paid_end + 27 * DAY  # Stripe moved its period on...
    assert m.grace_ends_at == grace_end and m.access_ends_at == grace_end  # ...access did not follow
    _, license = key_and_license(app, m.id)
    assert license.access_ends_at == grace_end
    library = buyer.get("/account/library").get_data(as_text=True)
    assert "grace period of 3 days" in library and grace_end.strftime("%b %d, %Y") in library
    subject, body = emails(app)[-1]
    assert subject == "Payment for Pro Plugin failed" and "/account/library#product-" in body

    clock(grace_end - timedelta(hours=1))
    assert validate(live_server, key)["code"] == "VALID"
    assert can_open(buyer, shop) == (200, 200)
    clock(grace_end + timedelta(hours=1))
    assert validate(live_server, key)["code"] == "EXPIRED"
    assert can_open(buyer, shop) == (403, 403)

    # A second failed retry does not move the grace period.
    clock_action(sandbox, subscription_id, "retry", "failed")
    wait_for_inbound(app, "invoice.payment_failed", count=2)
    run_jobs()
    assert membership_of(app, m.id).grace_ends_at == grace_end

    # The retry is paid: active again, through the period it paid for.
    clock_action(sandbox, subscription_id, "retry", "paid")
    wait_for_inbound(app, "invoice.paid", count=3)
    wait_for_inbound(app, "customer.subscription.updated", count=3)
    run_jobs()
    m = membership_of(app, m.id)
    assert m.status == "active" and m.grace_ends_at is None and m.paid_through == m.current_period_end
    assert m.access_ends_at == m.paid_through + DAY
    assert validate(live_server, key)["code"] == "VALID"
    assert can_open(buyer, shop) == (200, 200)
    clock(None)
    with app.app_context():
        assert [p.amount_cents for p in db.session.scalars(select(Payment).order_by(Payment.id))] == [1250, 1250]
        assert unbalanced_transactions() == []
    assert event_types(app) == [
        "license.activated",
        "membership.activated",
        "payment.succeeded",
        "payment.succeeded",
    ]


def test_cancel_at_period_end_ends_access_then_and_a_returning_buyer_gets_no_trial(
    app, buyer, shop, sandbox, live_server, run_jobs, clock
):
    buy(app, buyer, shop["monthly"])
    run_jobs()
    m = membership_of(app)
    key, _ = key_and_license(app, m.id)
    with app.app_context():
        get_gateway().cancel_subscription(m.stripe_subscription_id, at_period_end=True)
    wait_for_inbound(app, "customer.subscription.updated")
    run_jobs()
    m = membership_of(app, m.id)
    assert m.status == "trialing" and m.cancel_at_period_end is True and m.access_ends_at == m.paid_through + DAY
    library = buyer.get("/account/library").get_data(as_text=True)
    assert "Access ends on" in library and "Renews on" not in library
    clock(m.paid_through - timedelta(hours=1))
    assert validate(live_server, key)["code"] == "VALID"
    assert can_open(buyer, shop) == (200, 200)
    clock(None)

    # The period ends: Stripe deletes the subscription; access, files and key end at once.
    clock_action(sandbox, m.stripe_subscription_id, "advance", "paid")
    wait_for_inbound(app, "customer.subscription.deleted")
    run_jobs()
    m = membership_of(app, m.id)
    assert m.status == "canceled" and m.access_ends_at <= now()
    answer = validate(live_server, key)
    assert (answer["valid"], answer["code"]) == (False, "EXPIRED")
    assert can_open(buyer, shop) == (403, 403)
    types = event_types(app)
    assert types[-2:] == ["membership.deactivated", "license.deactivated"]
    deactivated = dict(events(app))
    assert deactivated["membership.deactivated"]["reason"] == "canceled"
    assert deactivated["license.deactivated"]["status"] == "expired"
    assert emails(app)[-1][0] == "Your subscription to Pro Plugin ended"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Payment)) == 0  # a trial, never paid

    # Coming back: the plans are offered again, without a second free trial.
    page = buyer.get("/products/pro-plugin").get_data(as_text=True)
    assert f'name="plan" value="{shop["monthly"]}"' in page
    buy(app, buyer, shop["monthly"], invoices=2)
    run_jobs()
    again = membership_of(app)
    assert again.id != m.id and again.status == "active"
    with app.app_context():
        newest = db.session.scalars(select(Checkout).order_by(Checkout.id.desc())).first()
        assert newest.trial_days == 0
        assert [p.amount_cents for p in db.session.scalars(select(Payment))] == [1250]
    assert can_open(buyer, shop) == (200, 200)
    assert "Open" in buyer.get("/products/pro-plugin").get_data(as_text=True)


def test_the_end_of_retries_ends_the_membership(app, buyer, shop, sandbox, live_server, run_jobs):
    buy(app, buyer, shop["yearly"])
    run_jobs()
    m = membership_of(app)
    assert m.status == "active" and m.plan_id == shop["yearly"] and m.paid_through > now() + 360 * DAY
    key, _ = key_and_license(app, m.id)
    clock_action(sandbox, m.stripe_subscription_id, "advance", "failed")
    wait_for_inbound(app, "invoice.payment_failed")
    run_jobs()
    assert membership_of(app, m.id).status == "past_due"
    assert validate(live_server, key)["code"] == "VALID"  # inside the grace period

    clock_action(sandbox, m.stripe_subscription_id, "retry", "exhausted")
    wait_for_inbound(app, "customer.subscription.deleted")
    run_jobs()
    assert membership_of(app, m.id).status == "canceled"
    assert validate(live_server, key)["code"] == "EXPIRED"
    assert can_open(buyer, shop) == (403, 403)
    assert event_types(app)[-2:] == ["membership.deactivated", "license.deactivated"]


def test_sandbox_clock_refusals(app, buyer, shop, sandbox, run_jobs):
    buy(app, buyer, shop["yearly"])
    with app.app_context():
        subscription_id = get_gateway().client.v1.subscriptions.list(params={"limit": 1}).data[0].id
    bad = loopback.post(f"{sandbox}/_sandbox/clock/subscriptions/{subscription_id}/advance", json={"outcome": "maybe"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "outcome"
    nothing_open = loopback.post(
        f"{sandbox}/_sandbox/clock/subscriptions/{subscription_id}/retry", json={"outcome": "paid"}
    )
    assert nothing_open.status_code == 400
    unknown = loopback.post(f"{sandbox}/_sandbox/clock/subscriptions/sub_nope/advance", json={"outcome": "paid"})
    assert unknown.status_code == 404
    run_jobs()


def test_twenty_checkout_starts_of_a_plan_at_once_make_one_membership_and_one_payment(
    app, client, shop, live_server, run_jobs
):
    sign_in_as(client, "buyer@example.com")
    answers = all_at_once(live_server, client, "/products/pro-plugin/checkout", {"plan": str(shop["yearly"])})
    assert {status for status, _ in answers} == {303}, answers
    with app.app_context():
        checkout = db.session.scalars(select(Checkout)).one()
        assert {location for _, location in answers} == {checkout.stripe_session_url}
        assert (checkout.plan_id, checkout.total_cents) == (shop["yearly"], 12000)
    assert pay_hosted_checkout(checkout.stripe_session_url).status_code == 303
    wait_for_inbound(app, "invoice.paid")
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()
    run_jobs()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Membership)) == 1
        assert [p.amount_cents for p in db.session.scalars(select(Payment))] == [12000]
        assert unbalanced_transactions() == []
