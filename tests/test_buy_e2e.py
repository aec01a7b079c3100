"""Buying through the sandbox's hosted checkout over real HTTP: correct to the cent, exactly once."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Checkout, InboundEvent, LedgerTransaction, Membership, Order, OutboxEvent, Payment
from app.payments import get_gateway
from app.services.checkout import complete_checkout
from app.services.ledger import account_balance, company_balances, unbalanced_transactions
from tests import loopback
from tests.factories import make_logo_shop, make_product
from tests.forms import pay_hosted_checkout, post_form, sign_in_as
from tests.replays import replay_checkout_completed
from tests.waiting import wait_for_inbound
from tests.webhook_signing import stripe_event, stripe_signed

pytestmark = pytest.mark.committed


@pytest.fixture
def shop(app, sandbox):
    with app.app_context():
        shop = make_logo_shop(sandbox)
        one_time = make_product(shop.company, "icon-pack", "one_time", 2900)
        monthly = make_product(shop.company, "pro-plugin", "month", 1250)
        return {
            "company_id": shop.company.id,
            "gig_id": shop.gig.id,
            "buyer_id": shop.buyer.id,
            "extra_ids": [e.id for e in shop.gig.extras],
            "one_time": one_time.slug,
            "monthly": monthly.slug,
        }


@pytest.fixture
def buyer(client, shop):
    return sign_in_as(client, "buyer@example.com")


def test_gig_with_extras_paid_end_to_end(app, buyer, shop, run_jobs):
    source_files = shop["extra_ids"][0]
    response = post_form(
        buyer,
        "/gigs/logo-design/checkout",
        {
            "package": "standard",
            "quantity": "1",
            f"extra_{source_files}": "2",
            "total_cents": "1",
            "price": "1",
            "fee_cents": "0",
        },
    )  # ignored: the server prices
    assert response.status_code == 303
    with app.app_context():
        checkout = db.session.scalars(select(Checkout)).one()
        assert (checkout.subtotal_cents, checkout.extras_cents, checkout.total_cents) == (10000, 3000, 13000)
        assert (checkout.fee_bps, checkout.fee_cents, checkout.delivery_days) == (1000, 1300, 7)
        assert response.headers["Location"] == checkout.stripe_session_url
        session_id = checkout.stripe_session_id

    unpaid = buyer.get(f"/checkout/success?session_id={session_id}").get_data(as_text=True)
    assert "We haven't received your payment yet" in unpaid and "Stripe has taken your payment" not in unpaid

    paid = pay_hosted_checkout(response.headers["Location"])
    assert paid.status_code == 303 and session_id in paid.headers["location"]
    pending = buyer.get(f"/checkout/success?session_id={session_id}").get_data(as_text=True)
    assert "Confirming your payment" in pending and 'hx-trigger="every 1s"' in pending
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()

    page = buyer.get(f"/checkout/success?session_id={session_id}").get_data(as_text=True)
    assert "Order #" in page and "every 1s" not in page
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert (order.status, order.total_cents, order.fee_cents, order.seller_amount_cents) == (
            "awaiting_requirements",
            13000,
            1300,
            11700,
        )
        assert order.revisions_allowed == 3 and order.delivery_days == 7
        payment = db.session.scalars(select(Payment)).one()
        assert (payment.amount_cents, payment.fee_cents, payment.order_id) == (13000, 1300, order.id)
        assert payment.stripe_charge_id and payment.stripe_payment_intent_id
        assert account_balance("platform_cash") == 13000
        assert account_balance("platform_fee_revenue") == 1300
        assert company_balances(shop["company_id"]) == {"escrow": 11700, "pending": 0, "available": 0}
        events = db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        assert [(e.type, e.company_id) for e in events] == [
            ("order.created", shop["company_id"]),
            ("payment.succeeded", shop["company_id"]),
        ]
        assert events[0].data["amount_cents"] == 13000
        assert unbalanced_transactions() == []

        # The same completion again — a replay or a late duplicate — changes nothing.
        session = get_gateway().retrieve_checkout_session(session_id).to_dict()
        assert complete_checkout(session).id == order.id
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1
        assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1


def test_one_time_product_pays_seller_directly_and_platform_its_fee(app, buyer, shop, run_jobs):
    response = post_form(buyer, f"/products/{shop['one_time']}/checkout")
    assert response.status_code == 303
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()
    with app.app_context():
        membership = db.session.scalars(select(Membership)).one()
        assert (membership.status, membership.current_period_end) == ("active", None)
        payment = db.session.scalars(select(Payment)).one()
        assert (payment.kind, payment.amount_cents, payment.fee_cents) == ("product", 2900, 290)
        intent = get_gateway().retrieve_payment_intent(payment.stripe_payment_intent_id)
        assert intent.application_fee_amount == 290
        assert (
            intent.transfer_data.destination
            == db.session.get(Checkout, payment.checkout_id).product.company.stripe_account_id
        )
        assert account_balance("platform_fee_revenue") == 290
        assert unbalanced_transactions() == []
    assert "You own this" in buyer.get(f"/products/{shop['one_time']}").get_data(as_text=True)
    assert "Icon Pack" in buyer.get("/account").get_data(as_text=True)


def test_a_paid_invoice_without_a_subscription_leaves_lifetime_memberships_alone(app, buyer, shop, run_jobs):
    response = post_form(buyer, f"/products/{shop['one_time']}/checkout")
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()
    invoice = {"id": "in_oneoff1", "object": "invoice", "amount_paid": 500, "currency": "usd", "subscription": None}
    body, headers = stripe_signed(stripe_event("invoice.paid", invoice), app.config["STRIPE_WEBHOOK_SECRET"])
    assert buyer.post("/webhooks/stripe", data=body, headers=headers).status_code == 200
    run_jobs()
    with app.app_context():
        event = db.session.scalars(select(InboundEvent).where(InboundEvent.type == "invoice.paid")).one()
        assert event.status == "processed"
        assert [p.kind for p in db.session.scalars(select(Payment))] == ["product"]
        assert account_balance("platform_fee_revenue") == 290


def test_subscription_renews_then_fails_a_payment(app, buyer, shop, sandbox, run_jobs):
    response = post_form(buyer, f"/products/{shop['monthly']}/checkout")
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    wait_for_inbound(app, "invoice.paid")
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()
    with app.app_context():
        membership = db.session.scalars(select(Membership)).one()
        assert membership.status == "active" and membership.stripe_subscription_id
        first_period_end = membership.current_period_end
        subscription_id = membership.stripe_subscription_id

    renewed = loopback.post(f"{sandbox}/_sandbox/subscriptions/{subscription_id}/advance", json={"outcome": "paid"})
    assert renewed.status_code == 200, renewed.text
    wait_for_inbound(app, "invoice.paid", count=2)
    wait_for_inbound(app, "customer.subscription.updated")  # carries the new period; sent after the invoice
    run_jobs()
    with app.app_context():
        membership = db.session.scalars(select(Membership)).one()
        assert membership.status == "active" and membership.current_period_end > first_period_end
        payments = db.session.scalars(select(Payment).order_by(Payment.id)).all()
        assert [(p.kind, p.amount_cents, p.fee_cents) for p in payments] == [
            ("subscription", 1250, 125),
            ("subscription", 1250, 125),
        ]

    failed = loopback.post(f"{sandbox}/_sandbox/subscriptions/{subscription_id}/advance", json={"outcome": "failed"})
    assert failed.status_code == 200, failed.text
    wait_for_inbound(app, "invoice.payment_failed")
    wait_for_inbound(app, "customer.subscription.updated", count=2)
    run_jobs()
    with app.app_context():
        assert db.session.scalars(select(Membership)).one().status == "past_due"
        assert sorted(e.type for e in db.session.scalars(select(OutboxEvent))) == [
            "membership.activated",
            "payment.succeeded",
            "payment.succeeded",
        ]
        assert db.session.scalar(select(func.count()).select_from(Payment)) == 2
        assert account_balance("platform_fee_revenue") == 250
        assert unbalanced_transactions() == []
    assert "past due" in buyer.get("/account").get_data(as_text=True)


def test_completion_delivered_twenty_times_at_once_creates_one_order(app, buyer, shop, live_server, run_jobs):
    response = post_form(buyer, "/gigs/logo-design/checkout", {"package": "basic"})
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    wait_for_inbound(app, "checkout.session.completed")
    outcomes = replay_checkout_completed(app, live_server)
    run_jobs()
    with app.app_context():
        order_ids = db.session.scalars(select(Order.id)).all()
        assert len(order_ids) == 1
        assert all(outcome == order_ids[0] or outcome in ("IntegrityError", "OperationalError") for outcome in outcomes)
        assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
        assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1
        assert unbalanced_transactions() == []
