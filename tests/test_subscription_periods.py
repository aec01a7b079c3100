"""The period rules of services/subscriptions.py, through the webhook handlers with Stripe-shaped
objects (the end-to-end journeys are in test_subscriptions_e2e.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.clock import freeze
from app.models import License, OutboxEvent
from app.services.checkout import record_invoice_failed, record_invoice_paid, sync_subscription
from app.services.licensing.issuing import issue_license_for_membership
from tests.factories import make_membership, make_policy, make_product, make_seller, make_user

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def stamp(moment):
    return int(moment.timestamp())


@pytest.fixture
def member(db):
    freeze(T0)
    _, company = make_seller(connected=True)
    product = make_product(company, "pro-plugin", "month", 1250, trial_days=7)
    make_policy(product)
    membership = make_membership(product, make_user("buyer@example.com"), status="trialing")
    membership.stripe_subscription_id = "sub_periods"
    membership.paid_through = T0 + 7 * DAY
    membership.current_period_end = T0 + 7 * DAY
    db.session.commit()
    issue_license_for_membership(membership)
    db.session.commit()
    yield membership
    freeze(None)


def invoice(amount, start, end, invoice_id="in_1"):
    return {
        "id": invoice_id,
        "currency": "usd",
        "amount_paid": amount,
        "subscription": "sub_periods",
        "period_start": stamp(start),
        "period_end": stamp(start),
        "lines": {"data": [{"subscription": "sub_periods", "period": {"start": stamp(start), "end": stamp(end)}}]},
    }


def subscription(status, period_end, **extra):
    return {
        "id": "sub_periods",
        "status": status,
        "metadata": {},
        "items": {"data": [{"current_period_end": stamp(period_end)}]},
        **extra,
    }


def key_ends(db, membership):
    return db.session.scalars(select(License).where(License.membership_id == membership.id)).one().access_ends_at


def test_a_zero_invoice_never_shortens_the_trial(db, member):
    record_invoice_paid(invoice(0, T0, T0))  # a $0 invoice whose line names no time at all
    assert member.status == "trialing" and member.paid_through == T0 + 7 * DAY
    assert member.access_ends_at == T0 + 8 * DAY == key_ends(db, member)


def test_the_grace_period_is_the_setting_and_a_later_failure_does_not_move_it(app, db, member, monkeypatch):
    monkeypatch.setitem(app.config, "SUBSCRIPTION_GRACE_DAYS", 5)
    record_invoice_failed(invoice(1250, T0 + 7 * DAY, T0 + 37 * DAY))
    sync_subscription(subscription("past_due", T0 + 37 * DAY))
    assert member.status == "past_due" and member.grace_ends_at == T0 + 12 * DAY
    assert member.access_ends_at == T0 + 12 * DAY == key_ends(db, member)
    freeze(T0 + 11 * DAY)
    record_invoice_failed(invoice(1250, T0 + 7 * DAY, T0 + 37 * DAY))
    assert member.grace_ends_at == T0 + 12 * DAY


def test_an_update_arriving_after_the_end_changes_nothing(db, member):
    sync_subscription(subscription("canceled", T0 + 7 * DAY), deleted=True)
    assert member.status == "canceled" and member.access_ends_at == T0
    sync_subscription(subscription("active", T0 + 37 * DAY))
    assert member.status == "canceled" and member.access_ends_at == T0 == key_ends(db, member)
    types = [e.type for e in db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    assert types.count("membership.deactivated") == 1 and types.count("license.deactivated") == 1


def test_an_active_subscription_update_before_its_invoice_still_grants_the_paid_period(db, member):
    sync_subscription(subscription("active", T0 + 37 * DAY))
    assert member.status == "active" and member.paid_through == T0 + 37 * DAY
    assert member.access_ends_at == T0 + 38 * DAY == key_ends(db, member)
