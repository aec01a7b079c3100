"""Stripe idempotency keys: unique per deployment, the same on every retry of one operation.

Every money row keeps a random key, committed before Stripe is asked. So:
- a fresh database (ids starting again at 1) against a Stripe that served an earlier one —
  a database reset, a second deployment, a second developer on one test account — opens new
  accounts, sessions, refunds and transfers instead of colliding with the old ones;
- an attempt whose answer was lost after Stripe acted, retried, gets Stripe's first answer
  back: money moves once (checked in the sandbox's own records and in our ledger);
- twenty identical requests at once make one Stripe object and one ledger transaction
  (PostgreSQL: row locks and unique keys; SQLite: BEGIN IMMEDIATE makes them take turns).

The suite's sandbox process lives for the whole run while every committed test starts from an
emptied database whose ids restart, so every test here meets a Stripe that has seen ids 1, 2, 3…
"""

import concurrent.futures
import threading

import httpx
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Checkout, Company, LedgerTransaction, Order, Payment, Payout, Refund
from app.payments import get_gateway
from app.services.ledger import company_balances, unbalanced_transactions
from tests import loopback
from tests.database import truncate_all
from tests.factories import LOGO_GIG, answers_for, fund_available, make_gig, make_logo_shop, make_user
from tests.forms import buy_order, csrf_token, pay_hosted_checkout, post_form, sign_in_as
from tests.waiting import wait_for_inbound

pytestmark = pytest.mark.committed
TOTAL = 5000  # the basic package
UNAVAILABLE_REFUND = "Nothing was refunded — please try again."
UNAVAILABLE_WITHDRAWAL = "Nothing was withdrawn — please try again."


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def fail_next(sandbox, path, when="after"):
    """Make the sandbox fail the next POST to `path`: `after` acting, as if its answer were lost."""
    response = loopback.post(f"{sandbox}/_sandbox/faults", json={"path": path, "when": when})
    assert response.status_code == 200, response.text


def refunds_at_stripe(app, intent_id):
    """The refunds the sandbox made on a payment intent (its own records)."""
    with app.app_context():
        return get_gateway().list_refunds(payment_intent=intent_id)


def transfers_at_stripe(app, account_id):
    """The transfers the sandbox made to a connected account (its own records)."""
    with app.app_context():
        return get_gateway().client.v1.transfers.list(params={"destination": account_id, "limit": 100}).data


@pytest.fixture
def shop(app, sandbox):
    """A verified seller with a gig and an account in the sandbox, a buyer and an admin."""
    with app.app_context():
        company = make_logo_shop(sandbox).company
        make_user("admin@example.com", display_name="Ada Admin", is_admin=True)
        return {"company_id": company.id, "account_id": company.stripe_account_id}


# -- (a) a fresh database against a Stripe that served an earlier one --------------------------------


def every_flow(app, client, sandbox, run_jobs):
    """Onboard a seller, sell a gig, refund it, pay the seller out — all through the pages.
    Returns our ids and Stripe's ids of what was made."""
    with app.app_context():
        make_user("sam@example.com", display_name="Sam Seller", intent="sell")
        make_user("buyer@example.com")
        make_user("admin@example.com", display_name="Ada Admin", is_admin=True)
    sign_in_as(client, "sam@example.com")
    onboarding = post_form(client, "/sell/become", {"title": "Sam's Studio", "country": "US"})
    assert onboarding.status_code == 303 and onboarding.headers["Location"].startswith(sandbox)
    with app.app_context():
        company = db.session.scalar(select(Company).where(Company.kind == "seller"))
        account_id = company.stripe_account_id
    assert loopback.post(f"{sandbox}/_sandbox/accounts/{account_id}/verify", json={"outcome": "verified"}).is_success
    assert "You're verified" in client.get("/sell/onboarding/return").get_data(as_text=True)
    with app.app_context():
        make_gig(db.session.get(Company, company.id), slug="logo-design", **LOGO_GIG)

    order_id, intent_id = buy_order(app, client, run_jobs)
    sign_in_as(client, "admin@example.com")
    assert post_form(client, f"/orders/{order_id}/actions/cancel", {"note": "Seller unreachable"}).status_code == 303

    with app.app_context():
        fund_available(company.id, 12345)
    sign_in_as(client, "sam@example.com")
    assert post_form(client, "/sell/payouts/withdraw", {"amount": "100.00"}).status_code == 303
    with app.app_context():
        checkout = db.session.scalars(select(Checkout)).one()
        refund = db.session.scalars(select(Refund)).one()
        payout = db.session.scalars(select(Payout)).one()
        assert (refund.status, payout.status) == ("succeeded", "paid")
        assert unbalanced_transactions() == []
        return {
            "ids": (company.id, checkout.id, order_id, refund.id, payout.id),
            "stripe": {
                "account": account_id,
                "session": checkout.stripe_session_id,
                "intent": intent_id,
                "refund": refund.stripe_refund_id,
                "transfer": payout.stripe_transfer_id,
            },
        }


def test_a_fresh_database_against_the_same_stripe_repeats_every_flow(app, client, sandbox, run_jobs):
    truncate_all(app)  # PostgreSQL sequences keep what rolled-back tests took: start from 1
    first = every_flow(app, client, sandbox, run_jobs)
    truncate_all(app)
    with app.app_context():
        app.extensions["redis"].flushdb()
    second = every_flow(app, client, sandbox, run_jobs)

    assert second["ids"] == first["ids"]  # the same local ids the second time round …
    for kind, stripe_id in second["stripe"].items():  # … and new Stripe objects for every one
        assert stripe_id != first["stripe"][kind], kind
    for run in (first, second):
        assert [r.amount for r in refunds_at_stripe(app, run["stripe"]["intent"])] == [TOTAL]
        assert [t.amount for t in transfers_at_stripe(app, run["stripe"]["account"])] == [10000]


def test_a_session_from_another_deployment_with_our_ids_completes_nothing(app, client, shop, sandbox, run_jobs):
    """Another deployment on the same Stripe account numbers its checkouts from 1 too: its
    paid session names our checkout's id but not our checkout's key, and is ignored."""
    sign_in_as(client, "buyer@example.com")
    ours = post_form(client, "/gigs/logo-design/checkout", {"package": "basic"})
    assert ours.status_code == 303
    with app.app_context():
        checkout = db.session.scalars(select(Checkout)).one()
        theirs = get_gateway().create_gig_checkout(
            local_checkout_id=checkout.id,
            idempotency_key="another-deployments-key",
            currency="usd",
            line_items=[{"name": "Their logo", "unit_amount": TOTAL}],
            success_url=f"{sandbox}/elsewhere",
            cancel_url=f"{sandbox}/elsewhere",
        )
    assert loopback.post(f"{sandbox}/_sandbox/checkout/sessions/{theirs.id}/pay", json={}).status_code == 200
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()
    with app.app_context():
        assert count(Order) == 0 and count(LedgerTransaction) == 0
        assert db.session.scalars(select(Checkout)).one().status == "open"
    assert pay_hosted_checkout(ours.headers["Location"]).status_code == 303
    wait_for_inbound(app, "checkout.session.completed", 2)
    run_jobs()
    with app.app_context():
        assert count(Order) == 1 and db.session.scalars(select(Checkout)).one().status == "completed"


# -- (b) an attempt whose answer was lost, retried ------------------------------------------------------


def test_a_lost_refund_answer_retried_reuses_the_key_and_refunds_once(app, client, shop, sandbox, run_jobs):
    order_id, intent_id = buy_order(app, client, run_jobs)
    with app.app_context():
        answers = answers_for(db.session.get(Order, order_id).gig)
    assert post_form(client, f"/orders/{order_id}/actions/submit_requirements", answers).status_code == 303
    assert post_form(client, f"/orders/{order_id}/actions/open_dispute", {"note": "Half missing"}).status_code == 303
    sign_in_as(client, "admin@example.com")
    fail_next(sandbox, "/v1/refunds")
    form = {"amount": "20.00", "note": "Half done"}
    response = post_form(client, f"/orders/{order_id}/actions/resolve_partial", form)
    assert response.status_code == 503 and UNAVAILABLE_REFUND in response.get_data(as_text=True)
    with app.app_context():
        refund = db.session.scalars(select(Refund)).one()
        assert (refund.status, refund.amount_cents, refund.stripe_refund_id) == ("pending", 2000, None)
        assert db.session.get(Order, order_id).status == "disputed"
        assert count(LedgerTransaction, LedgerTransaction.kind == "refund") == 0
        key = refund.idempotency_key
    made = refunds_at_stripe(app, intent_id)  # Stripe did refund: only its answer was lost
    assert [(r.amount, r.metadata["refund_key"]) for r in made] == [(2000, key)]

    assert post_form(client, f"/orders/{order_id}/actions/resolve_partial", form).status_code == 303
    wait_for_inbound(app, "charge.refunded")
    run_jobs()
    assert [r.id for r in refunds_at_stripe(app, intent_id)] == [made[0].id]
    with app.app_context():
        refund = db.session.scalars(select(Refund)).one()
        assert (refund.status, refund.stripe_refund_id, refund.idempotency_key) == ("succeeded", made[0].id, key)
        assert db.session.get(Order, order_id).status == "completed"
        assert count(LedgerTransaction, LedgerTransaction.kind == "refund") == 1
        assert db.session.scalars(select(Payment)).one().refunded_cents == 2000
        charge = get_gateway().retrieve_charge(db.session.scalars(select(Payment)).one().stripe_charge_id)
        assert charge.amount_refunded == 2000
        assert unbalanced_transactions() == []


def test_a_lost_refund_answer_is_finished_by_stripes_event_before_any_retry(app, client, shop, sandbox, run_jobs):
    order_id, intent_id = buy_order(app, client, run_jobs)
    sign_in_as(client, "admin@example.com")
    fail_next(sandbox, "/v1/refunds")
    assert post_form(client, f"/orders/{order_id}/actions/cancel", {"note": "Seller unreachable"}).status_code == 503
    wait_for_inbound(app, "charge.refunded")
    run_jobs()  # Stripe's charge.refunded names a refund carrying our pending refund's key
    with app.app_context():
        order = db.session.get(Order, order_id)
        refund = db.session.scalars(select(Refund)).one()
        assert (order.status, refund.status, refund.action) == ("cancelled", "succeeded", "cancel")
        assert count(LedgerTransaction, LedgerTransaction.kind.in_(("refund", "external_refund"))) == 1
        assert company_balances(shop["company_id"])["escrow"] == 0
    retried = post_form(client, f"/orders/{order_id}/actions/cancel", {"note": "Seller unreachable"})
    assert retried.status_code == 409
    assert [r.amount for r in refunds_at_stripe(app, intent_id)] == [TOTAL]
    with app.app_context():
        assert count(Refund) == 1 and unbalanced_transactions() == []


def test_a_lost_transfer_answer_retried_reuses_the_key_and_pays_out_once(app, client, shop, sandbox):
    with app.app_context():
        fund_available(shop["company_id"], 12345)
    sign_in_as(client, "seller@example.com")
    fail_next(sandbox, "/v1/transfers")
    form = {"amount": "100.00", "request_token": "lost-answer-withdrawal-1"}
    response = post_form(client, "/sell/payouts/withdraw", form)
    assert response.status_code == 503 and UNAVAILABLE_WITHDRAWAL in response.get_data(as_text=True)
    with app.app_context():
        payout = db.session.scalars(select(Payout)).one()
        assert (payout.status, payout.stripe_transfer_id) == ("pending", None)
        assert company_balances(shop["company_id"])["available"] == 12345
        assert count(LedgerTransaction, LedgerTransaction.kind == "payout") == 0
        key = payout.idempotency_key
    made = transfers_at_stripe(app, shop["account_id"])  # Stripe did transfer: only its answer was lost
    assert [(t.amount, t.metadata["payout_key"]) for t in made] == [(10000, key)]

    other = post_form(client, "/sell/payouts/withdraw", {"amount": "20.00", "request_token": "a-later-form-000001"})
    assert other.status_code == 409 and "still waiting for Stripe" in other.get_data(as_text=True)
    assert post_form(client, "/sell/payouts/withdraw", form).status_code == 303
    assert [t.id for t in transfers_at_stripe(app, shop["account_id"])] == [made[0].id]
    with app.app_context():
        payout = db.session.scalars(select(Payout)).one()
        assert (payout.status, payout.stripe_transfer_id, payout.idempotency_key) == ("paid", made[0].id, key)
        assert count(LedgerTransaction, LedgerTransaction.kind == "payout") == 1
        assert company_balances(shop["company_id"])["available"] == 2345
        assert unbalanced_transactions() == []


def test_stripe_failing_before_acting_leaves_the_payout_pending_and_a_reloaded_form_finishes_it(
    app, client, shop, sandbox
):
    with app.app_context():
        fund_available(shop["company_id"], 5000)
    sign_in_as(client, "seller@example.com")
    fail_next(sandbox, "/v1/transfers", when="before")
    response = post_form(client, "/sell/payouts/withdraw", {"amount": "30.00", "request_token": "first-form-00000001"})
    assert response.status_code == 503
    assert transfers_at_stripe(app, shop["account_id"]) == []
    again = post_form(client, "/sell/payouts/withdraw", {"amount": "30.00", "request_token": "reloaded-form-00001"})
    assert again.status_code == 303
    with app.app_context():
        payout = db.session.scalars(select(Payout)).one()
        assert (payout.status, payout.request_token) == ("paid", "first-form-00000001")
    assert [t.id for t in transfers_at_stripe(app, shop["account_id"])] == [payout.stripe_transfer_id]


# -- (c) twenty identical requests at once ----------------------------------------------------------------


def all_at_once(live_server, client, path, data, n=20):
    """POST the same form `n` times at once as `client`'s signed-in user; the status codes."""
    # The token first: fetching it may set it in the session, and so change the cookie.
    data = {**data, "csrf_token": csrf_token(client)}
    cookies = {cookie.key: cookie.value for cookie in client._cookies.values()}
    barrier = threading.Barrier(n)

    def post(_):
        with httpx.Client(base_url=live_server, cookies=cookies, timeout=60) as http:
            barrier.wait()
            response = http.post(path, data=data)
            return response.status_code, response.headers.get("location")

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(post, range(n)))


def test_twenty_identical_refunds_at_once_refund_once(app, client, shop, live_server, run_jobs):
    order_id, intent_id = buy_order(app, client, run_jobs)
    sign_in_as(client, "admin@example.com")
    answers = all_at_once(live_server, client, f"/orders/{order_id}/actions/cancel", {"note": "Duplicate order"})
    statuses = sorted(status for status, _ in answers)
    assert set(statuses) <= {303, 409} and statuses[0] == 303, statuses
    assert [r.amount for r in refunds_at_stripe(app, intent_id)] == [TOTAL]
    with app.app_context():
        assert count(Refund) == 1 and db.session.scalars(select(Refund)).one().status == "succeeded"
        assert count(LedgerTransaction, LedgerTransaction.kind == "refund") == 1
        assert db.session.get(Order, order_id).status == "cancelled"
        assert unbalanced_transactions() == []


def test_twenty_identical_withdrawals_at_once_pay_out_once(app, client, shop, live_server):
    with app.app_context():
        fund_available(shop["company_id"], 50000)
    sign_in_as(client, "seller@example.com")
    answers = all_at_once(
        live_server, client, "/sell/payouts/withdraw", {"amount": "100.00", "request_token": "double-clicked-form-1"}
    )
    assert {status for status, _ in answers} == {303}
    assert [t.amount for t in transfers_at_stripe(app, shop["account_id"])] == [10000]
    with app.app_context():
        assert count(Payout) == 1 and db.session.scalars(select(Payout)).one().status == "paid"
        assert count(LedgerTransaction, LedgerTransaction.kind == "payout") == 1
        assert company_balances(shop["company_id"])["available"] == 40000
        assert unbalanced_transactions() == []


def test_twenty_identical_checkout_starts_at_once_open_one_session(app, client, shop, live_server, run_jobs):
    sign_in_as(client, "buyer@example.com")
    answers = all_at_once(live_server, client, "/gigs/logo-design/checkout", {"package": "basic"})
    assert {status for status, _ in answers} == {303}
    locations = {location for _, location in answers}
    with app.app_context():
        checkout = db.session.scalars(select(Checkout)).one()
        assert locations == {checkout.stripe_session_url}
        sessions = get_gateway().client.v1.checkout.sessions.list(params={"limit": 100}).data
        assert [s.id for s in sessions if s.metadata.to_dict().get("checkout_key") == checkout.idempotency_key] == [
            checkout.stripe_session_id
        ]
    assert pay_hosted_checkout(checkout.stripe_session_url).status_code == 303
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()
    with app.app_context():
        assert count(Order) == 1 and count(LedgerTransaction) == 1
