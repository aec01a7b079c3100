"""The paying webhook of a referred checkout delivered twenty times at once (over HTTP, and
processed concurrently in twenty sessions): one order, one binding, one commission, one
commission ledger transaction. Meaningful on PostgreSQL (row locks); runs on SQLite too."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Commission, LedgerTransaction, Order, OutboxEvent
from app.services.ledger import unbalanced_transactions
from tests.affiliate_flows import make_program_shop, referrals, start_checkout
from tests.forms import pay_hosted_checkout, sign_in_as
from tests.replays import replay_checkout_completed
from tests.waiting import wait_for_inbound

pytestmark = pytest.mark.committed


def test_twenty_concurrent_replays_of_the_paying_webhook_make_one_commission(
    app, client, sandbox, live_server, run_jobs
):
    with app.app_context():
        world = make_program_shop(sandbox)
    assert client.get(f"/gigs/logo-design?ref={world.code}").status_code == 200
    sign_in_as(client, "buyer@example.com")
    response = start_checkout(client, "/gigs/logo-design/checkout", {"package": "basic"})
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    wait_for_inbound(app, "checkout.session.completed")
    outcomes = replay_checkout_completed(app, live_server)
    run_jobs()
    with app.app_context():
        order_id = db.session.scalars(select(Order.id)).one()
        assert all(outcome == order_id or outcome in ("IntegrityError", "OperationalError") for outcome in outcomes)
        assert db.session.scalar(select(func.count()).select_from(Commission)) == 1
        commission_transactions = select(func.count()).where(LedgerTransaction.kind == "commission")
        assert db.session.scalar(commission_transactions) == 1
        assert [(r.status, r.refusal_reason) for r in referrals()] == [("completed", None)]
        converted = select(func.count()).where(OutboxEvent.type == "referral.converted")
        assert db.session.scalar(converted) == 1
        assert db.session.scalar(select(func.count()).where(OutboxEvent.type == "commission.created")) == 1
        assert unbalanced_transactions() == []
