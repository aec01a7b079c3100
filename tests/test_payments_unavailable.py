"""Stripe unreachable: every page that needs Stripe answers 503 saying what did not happen —
nothing charged, refunded or withdrawn — never a 500, with nothing half-written; once Stripe
is back, trying again finishes the job exactly once. And the checkout return page says what is
true: not paid yet, processing, expired, paid, or "can't tell right now".

Stripe here is a sandbox process of the test's own (`own_sandbox`), stopped and started again
as a real process.
"""

import re

import pytest
from sqlalchemy import func, select

from app.models import (
    AuditEvent,
    Checkout,
    Company,
    LedgerTransaction,
    Notification,
    Order,
    OutboxEvent,
    Payment,
    Payout,
    Refund,
)
from app.payments import get_gateway
from app.services.ledger import company_balances
from tests import loopback
from tests.factories import (
    fund_available,
    make_cast,
    make_connected_account,
    make_logo_shop,
    make_order,
    make_product,
    make_seller,
)
from tests.forms import post_form, sign_in_as

CHARGED = "Payments are unavailable right now. Nothing was charged — please try again."
REFUNDED = "Payments are unavailable right now. Nothing was refunded — please try again."
WITHDRAWN = "Payments are unavailable right now. Nothing was withdrawn — please try again."


def count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


def written(db):
    """Rows of everything a money action writes besides its own pending row."""
    return {
        model.__name__: count(db, model)
        for model in (LedgerTransaction, OutboxEvent, AuditEvent, Notification, Payment, Order)
    }


def html(response):
    return response.get_data(as_text=True).replace("&#39;", "'")


@pytest.fixture
def shop(db, own_sandbox):
    """A verified seller (account in the own sandbox) with a gig and a product, and a buyer."""
    shop = make_logo_shop(own_sandbox.url)
    make_product(shop.company, "icon-pack", "one_time", 2900)
    return {"company_id": shop.company.id, "owner": shop.owner}


# -- checkouts -----------------------------------------------------------------------------------


def test_gig_checkout_with_stripe_down_is_503_keeps_the_selection_and_charges_nothing(client, db, shop, own_sandbox):
    sign_in_as(client, "buyer@example.com")
    before = written(db)
    own_sandbox.stop()
    response = post_form(client, "/gigs/logo-design/checkout", {"package": "standard", "quantity": "2"})
    assert response.status_code == 503
    page = html(response)
    assert CHARGED in page and 'value="2"' in page and "$200.00" in page
    checkout = db.session.scalars(select(Checkout)).one()
    assert (checkout.status, checkout.stripe_session_id, checkout.total_cents) == ("open", None, 20000)
    assert written(db) == before
    resumed = client.get(f"/checkout/{checkout.id}/resume")
    assert resumed.status_code == 410 and "Nothing was charged" in html(resumed)

    own_sandbox.start()
    retried = post_form(client, "/gigs/logo-design/checkout", {"package": "standard", "quantity": "2"})
    assert retried.status_code == 303
    assert db.session.scalars(select(Checkout)).one().id == checkout.id  # the same checkout, its key
    db.session.refresh(checkout)
    assert retried.headers["Location"] == checkout.stripe_session_url
    session = get_gateway().retrieve_checkout_session(checkout.stripe_session_id)
    assert (session.metadata["checkout_key"], session.amount_total) == (checkout.idempotency_key, 20000)


def test_product_checkout_with_stripe_down_is_503_and_charges_nothing(client, db, shop, own_sandbox):
    sign_in_as(client, "buyer@example.com")
    before = written(db)
    own_sandbox.stop()
    response = post_form(client, "/products/icon-pack/checkout")
    assert response.status_code == 503
    assert CHARGED in html(response) and "Buy now" in html(response)
    assert db.session.scalars(select(Checkout)).one().stripe_session_id is None
    assert written(db) == before

    own_sandbox.start()
    retried = post_form(client, "/products/icon-pack/checkout")
    assert retried.status_code == 303
    checkout = db.session.scalars(select(Checkout)).one()
    db.session.refresh(checkout)
    assert retried.headers["Location"] == checkout.stripe_session_url


# -- Connect onboarding --------------------------------------------------------------------------------


def test_onboarding_with_stripe_down_is_503_and_the_retry_creates_the_account(
    client, db, make_user, sign_in, own_sandbox
):
    user = make_user(intent="sell")
    sign_in(user)
    own_sandbox.stop()
    response = post_form(client, "/sell/become", {"title": "Outage Studio", "country": "US"})
    assert response.status_code == 503
    assert "verification with Stripe can't start" in html(response) and "Try again" in html(response)
    company = db.session.scalars(select(Company).where(Company.kind == "seller")).one()
    assert (company.stripe_account_id, company.kyc_status) == (None, "unstarted")
    assert post_form(client, "/sell/onboarding").status_code == 503

    own_sandbox.start()
    retried = post_form(client, "/sell/onboarding")
    assert retried.status_code == 303 and retried.headers["Location"].startswith(own_sandbox.url)
    db.session.refresh(company)
    assert company.kyc_status == "pending"
    account = get_gateway().retrieve_account(company.stripe_account_id)
    assert account.metadata["company_id"] == str(company.id)


# -- refunds ------------------------------------------------------------------------------------------


@pytest.fixture
def paid_order(db, own_sandbox):
    """An in-progress order whose payment is a real charge in the own sandbox."""
    cast = make_cast()
    order = make_order(cast, "in_progress", total_cents=10000, fee_cents=1000)
    intent = get_gateway().client.v1.payment_intents.create(
        params={"amount": 10000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    db.session.add(
        Payment(
            company_id=order.company_id,
            kind="gig",
            buyer_id=order.buyer_id,
            checkout_id=order.checkout_id,
            order_id=order.id,
            amount_cents=10000,
            fee_cents=1000,
            currency="usd",
            stripe_payment_intent_id=intent.id,
            stripe_charge_id=intent.latest_charge,
        )
    )
    db.session.commit()
    return cast, order, intent.id


def test_refund_with_stripe_down_is_503_writes_only_the_pending_refund_and_the_retry_refunds_once(
    client, db, paid_order, own_sandbox
):
    cast, order, intent_id = paid_order
    sign_in_as(client, cast.admin.email)
    before = written(db)
    own_sandbox.stop()
    response = post_form(client, f"/orders/{order.id}/actions/cancel", {"note": "Seller vanished"})
    assert response.status_code == 503
    assert REFUNDED in html(response) and "Seller vanished" in html(response)
    db.session.refresh(order)
    payment = db.session.scalars(select(Payment)).one()
    refund = db.session.scalars(select(Refund)).one()
    assert order.status == "in_progress" and payment.refunded_cents == 0
    assert (refund.status, refund.stripe_refund_id, refund.amount_cents) == ("pending", None, 10000)
    assert written(db) == before

    own_sandbox.start()
    assert post_form(client, f"/orders/{order.id}/actions/cancel", {"note": "Seller vanished"}).status_code == 303
    db.session.refresh(order)
    db.session.refresh(refund)
    assert order.status == "cancelled" and refund.status == "succeeded"
    made = get_gateway().list_refunds(payment_intent=intent_id)
    assert [(r.id, r.amount, r.metadata["refund_key"]) for r in made] == [
        (refund.stripe_refund_id, 10000, refund.idempotency_key)
    ]
    assert count(db, LedgerTransaction) == before["LedgerTransaction"] + 1
    assert company_balances(cast.company.id)["escrow"] == 0


# -- withdrawals --------------------------------------------------------------------------------------


@pytest.fixture
def funded_seller(db, own_sandbox):
    owner, company = make_seller("seller@example.com")
    make_connected_account(own_sandbox.url, company)
    fund_available(company.id, 12345)
    return owner, company


def test_withdrawal_with_stripe_down_is_503_keeps_the_form_and_the_retry_transfers_once(
    client, db, funded_seller, own_sandbox
):
    owner, company = funded_seller
    sign_in_as(client, owner.email)
    form = {"amount": "100.00", "request_token": "outage-withdrawal-token-1"}
    before = written(db)
    own_sandbox.stop()
    response = post_form(client, "/sell/payouts/withdraw", form)
    assert response.status_code == 503
    page = html(response)
    assert WITHDRAWN in page and 'value="100.00"' in page and 'value="outage-withdrawal-token-1"' in page
    payout = db.session.scalars(select(Payout)).one()
    assert (payout.status, payout.stripe_transfer_id) == ("pending", None)
    assert company_balances(company.id)["available"] == 12345
    assert written(db) == before

    own_sandbox.start()
    assert post_form(client, "/sell/payouts/withdraw", form).status_code == 303
    db.session.refresh(payout)
    assert payout.status == "paid" and company_balances(company.id)["available"] == 2345
    transfers = get_gateway().client.v1.transfers.list(params={"destination": company.stripe_account_id}).data
    assert [(t.id, t.amount, t.metadata["payout_key"]) for t in transfers] == [
        (payout.stripe_transfer_id, 10000, payout.idempotency_key)
    ]
    assert count(db, LedgerTransaction) == before["LedgerTransaction"] + 1


# -- the checkout return page --------------------------------------------------------------------------


def start_checkout(client, db):
    response = post_form(client, "/gigs/logo-design/checkout", {"package": "basic"})
    assert response.status_code == 303
    return db.session.scalars(select(Checkout)).one()


def success_page(client, checkout):
    """(the return page's status block, how often it polls in seconds or None)."""
    response = client.get(f"/checkout/success?session_id={checkout.stripe_session_id}")
    assert response.status_code == 200
    block = re.search(r'(<div id="checkout-status"[^>]*>)(.*?)\n  </div>', html(response), re.S)
    poll = re.search(r'hx-trigger="every (\d+)s"', block.group(1))
    return block.group(2), int(poll.group(1)) if poll else None


def test_return_page_while_unpaid_says_so_and_offers_the_payment_page(client, db, shop, own_sandbox):
    sign_in_as(client, "buyer@example.com")
    checkout = start_checkout(client, db)
    page, poll = success_page(client, checkout)
    assert "We haven't received your payment yet" in page and "Nothing has been charged" in page
    assert "Stripe has taken your payment" not in page and poll is None
    assert f"/checkout/{checkout.id}/resume" in page


def test_return_page_while_the_payment_processes_says_processing_and_keeps_checking(client, db, shop, own_sandbox):
    sign_in_as(client, "buyer@example.com")
    checkout = start_checkout(client, db)
    paid = loopback.post(
        f"{own_sandbox.url}/_sandbox/checkout/sessions/{checkout.stripe_session_id}/pay", json={"outcome": "processing"}
    )
    assert paid.status_code == 200 and (paid.json()["status"], paid.json()["payment_status"]) == ("complete", "unpaid")
    page, poll = success_page(client, checkout)
    assert "Your payment is processing" in page and poll == 5
    assert "Stripe has taken your payment" not in page


def test_return_page_after_expiry_says_expired_with_a_link_back(client, db, shop, own_sandbox):
    sign_in_as(client, "buyer@example.com")
    checkout = start_checkout(client, db)
    get_gateway().expire_checkout_session(checkout.stripe_session_id)
    page, poll = success_page(client, checkout)
    assert "This checkout expired" in page and "Nothing was charged" in page
    assert 'href="/gigs/logo-design"' in page and poll is None


def test_return_page_when_paid_confirms_and_polls_for_the_order(client, db, shop, own_sandbox):
    sign_in_as(client, "buyer@example.com")
    checkout = start_checkout(client, db)
    paid = loopback.post(f"{own_sandbox.url}/_sandbox/checkout/sessions/{checkout.stripe_session_id}/pay", json={})
    assert paid.status_code == 200 and paid.json()["payment_status"] == "paid"
    page, poll = success_page(client, checkout)
    assert "Stripe has taken your payment" in page and poll == 1


def test_return_page_with_stripe_down_says_it_cannot_tell_yet(client, db, shop, own_sandbox):
    sign_in_as(client, "buyer@example.com")
    checkout = start_checkout(client, db)
    own_sandbox.stop()
    page, poll = success_page(client, checkout)
    assert "We can't confirm your payment right now" in page and poll == 5
    assert "Stripe has taken your payment" not in page
