"""Whop webhooks through the inbound pipeline decide access, and the access cache follows them."""

import secrets

import pytest
from sqlalchemy import select

from app.extensions import db as _db
from app.models import InboundEvent, Membership, Product, User, WhopPayment, WhopProductLink
from app.services.companies import create_seller_company
from app.services.whop_access import (
    access_cache_key,
    has_access,
    record_whop_payment,
    record_whop_payment_failed,
    record_whop_refund,
    sync_whop_membership,
)
from tests import loopback
from tests.factories import make_product


def _link_product(db, make_user):
    owner = make_user(intent="sell")
    company = create_seller_company(owner, "Hook Studio " + secrets.token_hex(2))
    product = make_product(company, slug="hook-course-" + secrets.token_hex(3))
    link = WhopProductLink(
        company_id=company.id,
        product_id=product.id,
        whop_experience_id="exp_" + secrets.token_hex(5),
        whop_product_id="prod_" + secrets.token_hex(5),
    )
    db.session.add(link)
    db.session.commit()
    return product, link


@pytest.mark.committed
def test_deactivation_webhook_removes_access_at_once_and_replays_change_nothing(app, sandbox, run_jobs):
    from app.services.accounts import register_user

    with app.app_context():
        owner = register_user("hook-owner@example.com", "long-enough-pw", "Hook Owner", "sell")
        company = create_seller_company(owner, "Hook Studio")
        product = make_product(company, slug="hook-course")
        link = WhopProductLink(
            company_id=company.id, product_id=product.id, whop_experience_id="exp_hooks", whop_product_id="prod_hooks"
        )
        _db.session.add(link)
        _db.session.commit()
        product_id = product.id
    whop_user = loopback.post(
        sandbox + "/whop/users", json={"username": "hookfan", "name": "Hook Fan", "email": "hookfan@example.com"}
    ).json()
    data = {"id": "mem_hook1", "user": whop_user, "product": {"id": "prod_hooks"}}
    token = loopback.post(sandbox + "/whop/tokens", json={"user_id": whop_user["id"]}).json()["token"]
    client = app.test_client()

    def send(event_type, **extra):
        delivery = loopback.post(sandbox + "/whop/webhooks/send", json={"type": event_type, "data": {**data, **extra}})
        assert delivery.status_code == 201 and delivery.json()["status"] == "delivered", delivery.text
        return delivery.json()

    def access():
        with app.app_context():
            user = _db.session.scalar(select(User).where(User.display_name == "Hook Fan"))
            return has_access(user, _db.session.get(Product, product_id))

    activated = send("membership.activated")
    assert run_jobs() == 1
    assert access() is True  # and now cached for five minutes
    assert client.get("/experiences/exp_hooks", headers={"x-whop-user-token": token}).status_code == 200

    send("membership.deactivated", status="expired")
    assert run_jobs() == 1
    assert access() is False
    assert client.get("/experiences/exp_hooks", headers={"x-whop-user-token": token}).status_code == 403

    # Whop redelivers the earlier activation: stored once, so nothing runs and nothing changes.
    resent = loopback.post(
        f"{sandbox}/whop/webhooks/deliveries/{activated['id']}/resend", headers={"accept": "application/json"}
    )
    assert resent.json()["status"] == "delivered"
    assert run_jobs() == 0
    with app.app_context():
        memberships = _db.session.scalars(select(Membership).where(Membership.whop_membership_id == "mem_hook1")).all()
        assert [(m.status, m.source) for m in memberships] == [("expired", "whop")]
        assert _db.session.scalar(select(InboundEvent).where(InboundEvent.event_id == activated["id"])).attempts == 1
    assert access() is False


def test_handlers_are_idempotent_and_ignore_unlinked_products(app, db, make_user):
    product, link = _link_product(db, make_user)
    data = {
        "id": "mem_idem",
        "status": "active",
        "user": {"id": "user_idem1", "name": "Ida"},
        "product": {"id": link.whop_product_id},
    }
    first = sync_whop_membership(data, activated=True)
    again = sync_whop_membership(data, activated=True)
    assert first.id == again.id and again.status == "active"
    assert sync_whop_membership({**data, "product": {"id": "prod_unknown"}}, activated=True) is None
    assert (
        db.session.scalar(select(Membership).where(Membership.whop_membership_id == "mem_idem")).buyer.email
        == "user_idem1@users.whop.invalid"
    )


def test_payment_then_full_refund_ends_access(app, db, make_user):
    product, link = _link_product(db, make_user)
    payment = {
        "id": "pay_1",
        "total": 19.99,
        "currency": "usd",
        "user": {"id": "user_payer1"},
        "membership": {"id": "mem_paid", "status": "active"},
        "product": {"id": link.whop_product_id},
    }
    recorded = record_whop_payment(payment)
    assert recorded.amount_cents == 1999
    assert record_whop_payment(payment).id == recorded.id
    membership = db.session.get(Membership, recorded.membership_id)
    db.session.commit()
    assert has_access(membership.buyer, product)

    assert record_whop_refund({"id": "rfnd_part", "amount": 5.0, "payment": {"id": "pay_1"}}).status == "succeeded"
    record_whop_refund({"id": "rfnd_full", "amount": 19.99, "payment": {"id": "pay_1"}})
    db.session.commit()
    assert db.session.scalar(select(WhopPayment)).status == "refunded"
    assert membership.status == "canceled"
    assert not has_access(membership.buyer, product)


@pytest.mark.committed
def test_a_failed_whop_payment_makes_the_membership_past_due_once(app, sandbox, run_jobs):
    from app.models import Notification
    from app.services.accounts import register_user

    with app.app_context():
        owner = register_user("fail-owner@example.com", "long-enough-pw", "Fail Owner", "sell")
        company = create_seller_company(owner, "Fail Studio")
        product = make_product(company, slug="fail-course")
        _db.session.add(
            WhopProductLink(
                company_id=company.id, product_id=product.id, whop_experience_id="exp_fail", whop_product_id="prod_fail"
            )
        )
        _db.session.commit()
        product_id = product.id
    whop_user = loopback.post(
        sandbox + "/whop/users", json={"username": "failfan", "name": "Fail Fan", "email": "failfan@example.com"}
    ).json()

    def send(event_type, data):
        delivery = loopback.post(sandbox + "/whop/webhooks/send", json={"type": event_type, "data": data})
        assert delivery.status_code == 201 and delivery.json()["status"] == "delivered", delivery.text
        assert run_jobs() == 1

    def membership():
        with app.app_context():
            return _db.session.scalar(select(Membership).where(Membership.whop_membership_id == "mem_fail1"))

    product_ref, user = {"id": "prod_fail"}, whop_user
    # A failure for a membership we don't know makes none.
    send("payment.failed", {"user": user, "product": product_ref, "membership": {"id": "mem_fail1"}})
    assert membership() is None
    send("membership.activated", {"id": "mem_fail1", "user": user, "product": product_ref})
    assert membership().status == "active"
    failed = {"user": user, "product": product_ref, "membership": {"id": "mem_fail1", "status": "past_due"}}
    send("payment.failed", failed)
    assert membership().status == "past_due" and membership().source == "whop"
    send("payment.failed", failed)  # a second failed retry: still past due, told once
    with app.app_context():
        buyer_id = membership().buyer_id
        notes = _db.session.scalars(select(Notification).where(Notification.user_id == buyer_id)).all()
        assert [n.kind for n in notes] == ["membership.payment_failed"]
        assert "Your card was declined." in notes[0].body
        assert has_access(_db.session.get(User, buyer_id), _db.session.get(Product, product_id))  # grace: kept
        unknown = {"product": {"id": "prod_unknown"}, "membership": {"id": "mem_fail1"}}
        assert record_whop_payment_failed(unknown) is None


def test_access_is_cached_and_invalidated_by_stripe_side_changes(app, db, make_user):
    product, _link = _link_product(db, make_user)
    buyer = make_user()
    redis = app.extensions["redis"]
    assert has_access(buyer, product) is False
    assert redis.get(access_cache_key(buyer.id, product.id)) == b"0"
    assert 0 < redis.ttl(access_cache_key(buyer.id, product.id)) <= 300

    membership = Membership(
        company_id=product.company_id, product_id=product.id, buyer_id=buyer.id, status="active", source="stripe"
    )
    db.session.add(membership)
    db.session.commit()  # as complete_checkout's caller does
    assert has_access(buyer, product) is True

    membership.status = "canceled"  # e.g. sync_subscription on customer.subscription.deleted
    db.session.commit()
    assert has_access(buyer, product) is False
