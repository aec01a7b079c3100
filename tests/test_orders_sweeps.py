"""Sweeps under a controllable clock: auto-completion, the late flag, clearance, email delivery."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.models import Notification, OrderEvent, OutgoingEmail
from app.services.ledger import company_balances, unbalanced_transactions
from app.services.orders import Actor, Params, transition_order
from app.tasks.mail import deliver_emails
from app.tasks.orders import auto_complete_orders, clear_seller_funds, flag_late_orders
from tests.factories import make_order
from tests.mailbox import last_mail_id, mail_json

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    """Pin the clock at START; `frozen(delta)` moves it forward."""
    clock.freeze(START)

    def move(delta):
        clock.freeze(clock.now() + delta)

    yield move
    clock.freeze(None)


def test_delivered_orders_auto_complete_after_three_days_then_clear(db, cast, frozen, app):
    order = make_order(cast, "in_progress", total_cents=12000, fee_cents=1200)
    transition_order(order, "deliver", Actor("seller", cast.owner), Params(note="Done"))
    db.session.commit()

    frozen(timedelta(days=2, hours=23))
    assert auto_complete_orders() == 0
    assert order.status == "delivered"

    frozen(timedelta(hours=1))
    assert auto_complete_orders() == 1
    db.session.refresh(order)
    assert order.status == "completed" and order.completed_at == clock.now()
    event = db.session.scalars(select(OrderEvent).where(OrderEvent.action == "auto_complete")).one()
    assert event.actor_role == "system" and event.actor_user_id is None
    assert company_balances(cast.company.id) == {"escrow": 0, "pending": 10800, "available": 0}
    assert auto_complete_orders() == 0  # safe to run again

    frozen(timedelta(days=app.config["CLEARANCE_DAYS"]) - timedelta(minutes=1))
    clear_seller_funds()
    assert company_balances(cast.company.id) == {"escrow": 0, "pending": 10800, "available": 0}
    frozen(timedelta(minutes=1))
    clear_seller_funds()
    clear_seller_funds()
    assert company_balances(cast.company.id) == {"escrow": 0, "pending": 0, "available": 10800}
    assert unbalanced_transactions() == []


def test_orders_past_due_are_flagged_late_once(db, cast, frozen, client):
    late = make_order(cast, "in_progress", due_at=START + timedelta(hours=1))
    waiting = make_order(cast, "awaiting_requirements", due_at=START - timedelta(days=1))
    delivered = make_order(cast, "delivered", due_at=START - timedelta(days=1))
    db.session.commit()
    assert flag_late_orders() == 0
    frozen(timedelta(hours=2))
    assert flag_late_orders() == 1
    assert flag_late_orders() == 0
    db.session.refresh(late)
    assert late.is_late and not waiting.is_late and not delivered.is_late
    events = db.session.scalars(select(OrderEvent).where(OrderEvent.action == "marked_late")).all()
    assert [e.order_id for e in events] == [late.id]
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "order.late")).all()
    assert sorted(told) == sorted([cast.buyer.id, cast.owner.id])


def test_the_email_sweep_sends_the_outbox_over_smtp_and_marks_it_sent(db, cast, frozen, caplog, sandbox):
    since = last_mail_id(sandbox)
    order = make_order(cast, "in_progress")
    transition_order(order, "deliver", Actor("seller", cast.owner), Params(note="Files inside"))
    db.session.commit()
    pending = db.session.scalars(select(OutgoingEmail)).all()
    assert [(e.to_email, e.status) for e in pending] == [(cast.buyer.email, "pending")]
    with caplog.at_level("INFO"):
        assert deliver_emails() == 1
    assert cast.buyer.email in caplog.text
    [message] = mail_json(sandbox, to=cast.buyer.email, since=since)
    assert message["subject"] == f"Order #{order.id} was delivered"
    assert "Files inside" in message["text"] and "Files inside" in message["html"]
    assert f"/orders/{order.id}" in message["text"]
    email = db.session.scalars(select(OutgoingEmail)).one()
    assert (email.status, email.sent_at, email.attempts) == ("sent", START, 1)
    assert [m["subject"] for m in mail_json(sandbox, to=cast.buyer.email)][:1] == [email.subject]
    assert deliver_emails() == 0
