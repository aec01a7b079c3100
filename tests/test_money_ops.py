"""Escrow release, clearance, refunds and payouts against the sandbox, to the cent."""

import concurrent.futures
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.clock import freeze, now
from app.extensions import db
from app.models import Company, GigExtra, Order, Payment, Payout, Refund
from app.payments import get_gateway
from app.services.escrow import (
    RefundError,
    clear_pending_funds,
    escrow_remaining,
    prepare_refund,
    refund_order,
    release_escrow,
)
from app.services.ledger import account_balance, company_balances, unbalanced_transactions
from tests import loopback
from tests.factories import fund_available, make_logo_shop
from tests.forms import csrf_token, pay_hosted_checkout, post_form, sign_in_as
from tests.waiting import wait_for_inbound

pytestmark = pytest.mark.committed


@pytest.fixture
def seller(app, sandbox):
    with app.app_context():
        shop = make_logo_shop(sandbox)
        return {"company_id": shop.company.id, "email": shop.owner.email}


@pytest.fixture
def paid_order(app, client, seller, run_jobs):
    """A real $80.00 gig order (basic $50 + 2 × $15 source files) paid through the sandbox."""
    sign_in_as(client, "buyer@example.com")
    with app.app_context():
        extra_id = db.session.scalars(select(GigExtra.id).order_by(GigExtra.id)).first()
    response = post_form(client, "/gigs/logo-design/checkout", {"package": "basic", f"extra_{extra_id}": "2"})
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()
    post_form(client, "/signout")
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert (order.total_cents, order.fee_cents, order.seller_amount_cents) == (8000, 800, 7200)
        return order.id


def test_completion_release_and_clearance_move_the_sellers_money(app, seller, paid_order):
    with app.app_context():
        order = db.session.get(Order, paid_order)
        order.status, order.completed_at = "completed", now()
        assert release_escrow(order) is not None
        assert release_escrow(order) is None  # once
        db.session.commit()
        assert company_balances(seller["company_id"]) == {"escrow": 0, "pending": 7200, "available": 0}
        assert clear_pending_funds() == 0  # not cleared before the clearance period
        freeze(now() + timedelta(days=14, minutes=1))
        try:
            assert clear_pending_funds() == 1
            db.session.commit()
            assert clear_pending_funds() == 0
        finally:
            freeze(None)
        assert company_balances(seller["company_id"]) == {"escrow": 0, "pending": 0, "available": 7200}
        assert unbalanced_transactions() == []


def make_refund(order, amount, reason):
    """Both steps of a refund, with the commit between them that keeps its key."""
    prepare_refund(order, amount, reason=reason)
    db.session.commit()
    return refund_order(order, amount, reason=reason)


def test_partial_refund_returns_fee_pro_rata_and_release_pays_the_rest(app, seller, paid_order):
    with app.app_context():
        order = db.session.get(Order, paid_order)
        refund = make_refund(order, 3000, reason="half the logos were not delivered")
        db.session.commit()
        assert (refund.amount_cents, refund.fee_returned_cents, refund.seller_share_cents) == (3000, 300, 2700)
        assert refund.stripe_refund_id and refund.status == "succeeded"
        payment = db.session.scalars(select(Payment)).one()
        assert (payment.refunded_cents, payment.status) == (3000, "partially_refunded")
        charge = get_gateway().retrieve_charge(payment.stripe_charge_id)
        assert charge.amount_refunded == 3000
        assert escrow_remaining(order) == 4500
        release_escrow(order)
        db.session.commit()
        assert company_balances(seller["company_id"]) == {"escrow": 0, "pending": 4500, "available": 0}
        assert account_balance("platform_fee_revenue") == 500
        assert account_balance("platform_cash") == 5000
        assert unbalanced_transactions() == []


def test_refund_refusals_write_nothing(app, seller, paid_order):
    with app.app_context():
        order = db.session.get(Order, paid_order)
        for amount, message in ((0, "positive"), (-5, "positive"), (8001, "At most 8000")):
            with pytest.raises(RefundError, match=message):
                prepare_refund(order, amount, reason="x")
        with pytest.raises(RefundError, match="not prepared"):
            refund_order(order, 1000, reason="never prepared, so never sent to Stripe")
        release_escrow(order)
        with pytest.raises(RefundError, match="already been released"):
            prepare_refund(order, 1000, reason="too late")
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Refund)) == 0


def test_full_refund_empties_escrow(app, seller, paid_order):
    with app.app_context():
        order = db.session.get(Order, paid_order)
        make_refund(order, 8000, reason="cancelled")
        db.session.commit()
        assert db.session.scalars(select(Payment)).one().status == "refunded"
        assert company_balances(seller["company_id"])["escrow"] == 0
        assert account_balance("platform_cash") == 0 and account_balance("platform_fee_revenue") == 0
        assert unbalanced_transactions() == []


def test_withdrawal_transfers_available_funds(app, client, seller):
    with app.app_context():
        fund_available(seller["company_id"], 12345)
    sign_in_as(client, seller["email"])
    page = client.get("/sell/payouts").get_data(as_text=True)
    assert "$123.45" in page and "Weekly earnings" in page
    response = post_form(client, "/sell/payouts/withdraw", {"amount": "100.00"})
    assert response.status_code == 303
    with app.app_context():
        payout = db.session.scalars(select(Payout)).one()
        assert (payout.amount_cents, payout.status) == (10000, "paid")
        transfer = get_gateway().client.v1.transfers.retrieve(payout.stripe_transfer_id)
        company = db.session.get(Company, seller["company_id"])
        assert (transfer.amount, transfer.destination) == (10000, company.stripe_account_id)
        assert company_balances(company.id)["available"] == 2345
        assert unbalanced_transactions() == []
    assert "is on its way" in client.get("/sell/payouts").get_data(as_text=True)


@pytest.mark.parametrize(
    "amount, status, message",
    [
        ("10.00", 409, "The smallest withdrawal is $20.00 USD."),
        ("500.00", 409, "at most $123.45 USD"),
        ("lots", 422, "Enter an amount like 150.00."),
    ],
)
def test_withdrawal_refusals_write_nothing(app, client, seller, amount, status, message):
    with app.app_context():
        fund_available(seller["company_id"], 12345)
    sign_in_as(client, seller["email"])
    response = post_form(client, "/sell/payouts/withdraw", {"amount": amount})
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
        assert company_balances(seller["company_id"])["available"] == 12345


def test_members_and_buyers_cannot_withdraw(app, client, seller):
    sign_in_as(client, "buyer@example.com")
    assert client.get("/sell/payouts").status_code in (302, 403)
    assert post_form(client, "/sell/payouts/withdraw", {"amount": "50"}).status_code == 403


def test_two_withdrawals_at_once_never_overdraw(app, client, seller, live_server):
    with app.app_context():
        fund_available(seller["company_id"], 5000)
    sign_in_as(client, seller["email"])
    token = csrf_token(client)  # before copying the cookie: the token is stored in it
    cookies = {cookie.key: cookie.value for cookie in client._cookies.values()}

    def withdraw(_):
        return loopback.post(
            f"{live_server}/sell/payouts/withdraw",
            data={"amount": "40.00", "csrf_token": token},
            cookies=cookies,
            timeout=30,
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(withdraw, range(2)))
    # Each request is a new submission (no form token): the second either joins the first's
    # pending payout (same amount) or finds the balance spent. Never a second transfer.
    assert statuses in ([303, 303], [303, 409])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Payout)) == 1
        assert company_balances(seller["company_id"])["available"] == 1000
        assert unbalanced_transactions() == []
