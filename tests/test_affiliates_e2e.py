"""Affiliate commissions end to end over HTTP through the sandbox: a visitor lands through an
affiliate link, signs up, buys a gig and a subscription; the gig's commission clears with the
order and is withdrawn; the subscription pays per the recurring rule; refunds claw back. The
ledger balances after every test (conftest), and here after every step."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.clock import freeze, now
from app.extensions import db
from app.models import Company, Membership, Order, OutboxEvent, Payment, ReferralClick, User
from app.payments import get_gateway, new_idempotency_key
from app.services.affiliates.commissions import affiliate_balances, affiliate_company_for
from app.services.escrow import clear_pending_funds
from app.services.ledger import account_balance, company_balances, unbalanced_transactions
from app.tasks.referrals import flush_referral_clicks
from tests import loopback
from tests.affiliate_flows import (
    BPS,
    GIG_FEE,
    GIG_TOTAL,
    PLAN_PRICE,
    commissions,
    dispute_and_refund_part,
    last_checkout,
    make_program_shop,
    pay,
    referral_cookie,
    referrals,
    start_checkout,
)
from tests.factories import answers_for, make_connected_account, make_product, make_user
from tests.forms import post_form, sign_in_as
from tests.waiting import wait_for_inbound

pytestmark = pytest.mark.committed

GIG_COMMISSION = GIG_TOTAL * BPS // 10000  # 625
PLAN_COMMISSION = PLAN_PRICE * BPS // 10000  # 156 (156.25 rounded down)


@pytest.fixture
def world(app, sandbox):
    with app.app_context():
        make_user("admin@example.com", display_name="Ada Admin", is_admin=True)
        return make_program_shop(sandbox)


def events_of(kind):
    return [
        e.data for e in db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == kind).order_by(OutboxEvent.id))
    ]


def act(client, order_id, action, data=None):
    response = post_form(client, f"/orders/{order_id}/actions/{action}", data)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]


def test_link_signup_gig_and_subscription_commissions_clear_pay_out_and_claw_back(
    app, client, world, sandbox, run_jobs
):
    # A visitor lands on the gig through the affiliate's link, then opens the shop link too.
    landing = client.get(f"/gigs/logo-design?ref={world.code}", headers={"Referer": "https://blog.example/post"})
    assert landing.status_code == 200 and referral_cookie(landing)
    shop_link = client.get(f"/r/{world.code}/{world.shop_slug}")
    assert shop_link.status_code == 302 and shop_link.headers["Location"].endswith(f"/shops/{world.shop_slug}")
    assert referral_cookie(shop_link)  # remembered too; at checkout the first click wins
    with app.app_context():
        flush_referral_clicks()
        clicks = db.session.scalars(select(ReferralClick).execution_options(skip_tenant_scope=True)).all()
        assert [(c.listing_type, c.landing_path, c.referrer) for c in clicks] == [
            ("gig", f"/gigs/logo-design?ref={world.code}", "https://blog.example/post"),
            (None, f"/r/{world.code}/{world.shop_slug}", ""),
        ]
        assert all(len(c.ip_hash) == 64 and "127.0.0.1" not in c.ip_hash for c in clicks)

    # They sign up and buy the gig; a forged referral field in the form is ignored.
    signup = {"display_name": "Newt", "email": "newt@example.com", "password": "long-enough-pw", "intent": "hire"}
    assert post_form(client, "/signup", signup).status_code == 303
    forged = {"package": "basic", "ref": "forged-code", "affiliate": "1", "referral_id": "1", "affiliate_user_id": "1"}
    response = start_checkout(client, "/gigs/logo-design/checkout", forged)
    with app.app_context():
        checkout = last_checkout()
        session = get_gateway().retrieve_checkout_session(checkout.stripe_session_id)
        referral = referrals()[0]
        assert (referral.status, referral.affiliate_user_id, referral.click_id) == (
            "pending",
            world.affiliate_id,
            clicks[0].id,
        )
        assert session.metadata["referral_id"] == str(referral.id)
        assert session.metadata["affiliate_user_id"] == str(world.affiliate_id)
    pay(app, run_jobs, response)
    with app.app_context():
        buyer = db.session.scalar(select(User).where(User.email == "newt@example.com"))
        order = db.session.scalars(select(Order)).one()
        [referral] = referrals()
        assert (referral.status, referral.buyer_id, referral.converted_at is not None) == ("completed", buyer.id, True)
        [commission] = commissions()
        assert (commission.amount_cents, commission.base_amount_cents, commission.status) == (
            GIG_COMMISSION,
            GIG_TOTAL,
            "pending",
        )
        wallet = affiliate_company_for(db.session.get(User, world.affiliate_id), create=False)
        assert company_balances(world.company_id) == {
            "escrow": GIG_TOTAL - GIG_FEE - GIG_COMMISSION,
            "pending": 0,
            "available": 0,
        }
        assert account_balance("affiliate_pending", wallet.id) == GIG_COMMISSION
        assert account_balance("platform_cash") == GIG_TOTAL
        assert events_of("referral.converted")[0]["payment_id"] == commission.payment_id
        assert events_of("commission.created")[0]["amount_cents"] == GIG_COMMISSION
        assert unbalanced_transactions() == []
        order_id, wallet_id = order.id, wallet.id

    # The subscription: first payment and first renewal earn (first 2), the second renewal not.
    pay(
        app,
        run_jobs,
        start_checkout(client, "/products/pro-plugin/checkout"),
        "invoice.paid",
        "checkout.session.completed",
    )
    with app.app_context():
        subscription_id = db.session.scalars(select(Membership)).one().stripe_subscription_id
    for renewal in (2, 3):
        renewed = loopback.post(f"{sandbox}/_sandbox/subscriptions/{subscription_id}/advance", json={"outcome": "paid"})
        assert renewed.status_code == 200, renewed.text
        wait_for_inbound(app, "invoice.paid", count=renewal)
        run_jobs()
    with app.app_context():
        assert [(r.status, r.refusal_reason) for r in referrals()] == [
            ("completed", None),
            ("refused", "already_bound"),
        ]
        plan_commissions = [c for c in commissions() if c.listing_type == "product"]
        assert [(c.payment_number, c.amount_cents) for c in plan_commissions] == [
            (1, PLAN_COMMISSION),
            (2, PLAN_COMMISSION),
        ]
        assert len(db.session.scalars(select(Payment).where(Payment.kind == "subscription")).all()) == 3
        # Destination charges paid the seller directly: the commission is owed from their balance.
        assert company_balances(world.company_id)["available"] == -2 * PLAN_COMMISSION
        assert unbalanced_transactions() == []

    # The gig is delivered and accepted; its commission clears with the order's clearance.
    with app.app_context():
        answers = answers_for(db.session.get(Order, order_id).gig)
    act(client, order_id, "submit_requirements", answers)
    sign_in_as(client, "seller@example.com")
    act(client, order_id, "deliver", {"note": "Here are your logos."})
    sign_in_as(client, "newt@example.com", password="long-enough-pw")
    act(client, order_id, "accept")
    with app.app_context():
        assert clear_pending_funds() == 0
        assert [c.status for c in commissions()] == ["pending", "pending", "pending"]
        freeze(now() + timedelta(days=15))
        try:
            clear_pending_funds()
            db.session.commit()
        finally:
            freeze(None)
        assert [c.status for c in commissions()] == ["available", "available", "available"]
        expected = GIG_COMMISSION + 2 * PLAN_COMMISSION
        assert account_balance("affiliate_available", wallet_id) == expected
        assert len(events_of("commission.cleared")) == 3
        assert company_balances(world.company_id) == {
            "escrow": 0,
            "pending": 0,
            "available": GIG_TOTAL - GIG_FEE - GIG_COMMISSION - 2 * PLAN_COMMISSION,
        }
        wallet = db.session.get(type(wallet), wallet_id)
        make_connected_account(sandbox, wallet)
        wallet.payout_minimum_cents = 100
        db.session.commit()

    # The affiliate withdraws through the existing payouts of their payout company.
    sign_in_as(client, "aff@example.com")
    assert client.get("/sell/payouts").status_code == 200
    withdrawn = post_form(
        client, "/sell/payouts/withdraw", {"amount": f"{expected / 100:.2f}", "request_token": "w" * 24}
    )
    assert withdrawn.status_code == 303, withdrawn.get_data(as_text=True)[:300]
    with app.app_context():
        assert [c.status for c in commissions()] == ["paid", "paid", "paid"]
        assert {e["payout_id"] for e in events_of("commission.paid")} != set()
        assert account_balance("affiliate_available", wallet_id) == 0
        assert affiliate_balances(db.session.get(User, world.affiliate_id))["paid"] == expected
        assert unbalanced_transactions() == []
        intent = db.session.scalars(select(Payment).where(Payment.order_id == order_id)).one().stripe_payment_intent_id
        # The whole payment refunded in Stripe after the payout: the whole commission comes back
        # from the affiliate, whose balance goes negative (it nets against future commissions).
        get_gateway().create_refund(idempotency_key=new_idempotency_key(), payment_intent=intent)
    wait_for_inbound(app, "charge.refunded")
    run_jobs()
    with app.app_context():
        gig_commission = commissions()[0]
        assert (gig_commission.reversed_cents, gig_commission.status) == (GIG_COMMISSION, "reversed")
        assert account_balance("affiliate_available", wallet_id) == -GIG_COMMISSION
        [reversed_event] = events_of("commission.reversed")
        assert (reversed_event["amount_cents"], reversed_event["reason"]) == (GIG_COMMISSION, "refunded")
        assert unbalanced_transactions() == []


def test_a_cancelled_order_claws_the_whole_commission_back_into_escrow(app, client, world, run_jobs):
    assert client.get(f"/gigs/logo-design?ref={world.code}").status_code == 200
    sign_in_as(client, "buyer@example.com")
    pay(app, run_jobs, start_checkout(client, "/gigs/logo-design/checkout", {"package": "basic"}))
    with app.app_context():
        order_id = db.session.scalars(select(Order.id)).one()
        assert company_balances(world.company_id)["escrow"] == GIG_TOTAL - GIG_FEE - GIG_COMMISSION
    sign_in_as(client, "admin@example.com")
    act(client, order_id, "cancel", {"note": "Seller unreachable"})
    wait_for_inbound(app, "charge.refunded")
    run_jobs()
    with app.app_context():
        [commission] = commissions()
        assert (commission.status, commission.reversed_cents, commission.reversal_reason) == (
            "reversed",
            GIG_COMMISSION,
            "cancelled",
        )
        wallet = affiliate_company_for(db.session.get(User, world.affiliate_id), create=False)
        assert account_balance("affiliate_pending", wallet.id) == 0
        assert company_balances(world.company_id) == {"escrow": 0, "pending": 0, "available": 0}
        assert account_balance("platform_cash") == 0
        assert events_of("commission.reversed")[0]["reason"] == "cancelled"
        assert unbalanced_transactions() == []


def test_a_partial_refund_claws_back_in_proportion_rounded_for_the_seller(app, client, world, run_jobs):
    assert client.get(f"/gigs/logo-design?ref={world.code}").status_code == 200
    sign_in_as(client, "buyer@example.com")
    pay(app, run_jobs, start_checkout(client, "/gigs/logo-design/checkout", {"package": "basic"}))
    dispute_and_refund_part(app, client, run_jobs)
    reversed_cents = -(-GIG_COMMISSION * 2001 // GIG_TOTAL)  # ceil(250.125) = 251: the seller's favour
    fee_returned = (GIG_FEE * 2001 + GIG_TOTAL // 2) // GIG_TOTAL  # 200
    with app.app_context():
        [commission] = commissions()
        assert (commission.reversed_cents, commission.status, commission.reversal_reason) == (
            reversed_cents,
            "pending",
            "dispute_lost",
        )
        wallet = affiliate_company_for(db.session.get(User, world.affiliate_id), create=False)
        assert account_balance("affiliate_pending", wallet.id) == GIG_COMMISSION - reversed_cents == 374
        seller_kept = GIG_TOTAL - GIG_FEE - GIG_COMMISSION + reversed_cents - (2001 - fee_returned)
        assert company_balances(world.company_id) == {"escrow": 0, "pending": seller_kept, "available": 0}
        assert events_of("commission.reversed")[0]["reason"] == "dispute_lost"
        assert unbalanced_transactions() == []


@pytest.mark.parametrize("how", ["refunded", "dispute_lost"])
def test_a_product_payment_refunded_or_charged_back_in_stripe_claws_its_commission_back(
    app, client, world, sandbox, run_jobs, how
):
    with app.app_context():
        make_product(db.session.get(Company, world.company_id), "icon-pack", "one_time", 2900)
    assert client.get(f"/products/icon-pack?ref={world.code}").status_code == 200
    sign_in_as(client, "buyer@example.com")
    pay(app, run_jobs, start_checkout(client, "/products/icon-pack/checkout"))
    with app.app_context():
        [commission] = commissions()
        assert (commission.listing_type, commission.amount_cents) == ("product", 2900 * BPS // 10000)
        assert company_balances(world.company_id)["available"] == -commission.amount_cents
        payment = db.session.scalars(select(Payment).where(Payment.kind == "product")).one()
        intent, charge_id = payment.stripe_payment_intent_id, payment.stripe_charge_id
    if how == "refunded":  # the seller refunds the whole payment from Stripe's dashboard
        with app.app_context():
            get_gateway().create_refund(idempotency_key=new_idempotency_key(), payment_intent=intent)
        wait_for_inbound(app, "charge.refunded")
    else:  # the buyer's bank takes it back and the seller loses the chargeback
        assert loopback.post(f"{sandbox}/_sandbox/charges/{charge_id}/dispute", json={}).status_code == 200
        closed = loopback.post(f"{sandbox}/_sandbox/charges/{charge_id}/dispute/close", json={"outcome": "lost"})
        assert closed.status_code == 200, closed.text
        wait_for_inbound(app, "charge.dispute.closed")
    run_jobs()
    with app.app_context():
        [commission] = commissions()
        assert (commission.status, commission.reversed_cents, commission.reversal_reason) == (
            "reversed",
            commission.amount_cents,
            how,
        )
        wallet = affiliate_company_for(db.session.get(User, world.affiliate_id), create=False)
        assert account_balance("affiliate_pending", wallet.id) == 0
        assert company_balances(world.company_id)["available"] == 0
        assert events_of("commission.reversed")[0]["reason"] == how
        assert unbalanced_transactions() == []
