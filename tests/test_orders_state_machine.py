"""The state machine, service level: every (status, action, actor role) combination.

The expected table is written out below, entry by entry, so that any change to the service's
`TRANSITIONS` fails here until this file says the same. Allowed combinations change the status
as the table says and write exactly one timeline event;
every other combination raises TransitionRefused (403 when the role can never take the
action, 409 when it can't now) and changes nothing: no status change, no event, no
notification, no email, no outbound event.
"""

import itertools

import pytest
from sqlalchemy import func, select

from app.extensions import db as _db
from app.models import Notification, OrderEvent, OutboxEvent, OutgoingEmail
from app.models.order import ORDER_STATUSES
from app.services.ledger import company_balances, unbalanced_transactions
from app.services.orders import (
    ACTIONS,
    ROLES,
    TRANSITIONS,
    Actor,
    OrderInputError,
    Params,
    TransitionRefused,
    allowed_actions,
    transition_order,
)
from tests.factories import answers_for, make_cast, make_order, request_cancel_event

STATUSES = (
    "awaiting_requirements",
    "in_progress",
    "delivered",
    "revision_requested",
    "completed",
    "cancel_requested",
    "cancelled",
    "disputed",
    "refunded",
)
ACTION_NAMES = (
    "submit_requirements",
    "deliver",
    "request_revision",
    "accept",
    "auto_complete",
    "request_cancel",
    "accept_cancel",
    "decline_cancel",
    "withdraw_cancel",
    "cancel",
    "open_dispute",
    "resolve_refund",
    "resolve_partial",
    "resolve_release",
    "record_refund",
)
ROLE_NAMES = ("buyer", "seller", "admin", "system")
PREVIOUS = "previous"  # back to the status the order had before the cancellation request

# (from status, action, actor role) -> to status; every other combination is refused.
EXPECTED_TRANSITIONS = {
    ("awaiting_requirements", "submit_requirements", "buyer"): "in_progress",
    ("awaiting_requirements", "request_cancel", "buyer"): "cancel_requested",
    ("awaiting_requirements", "request_cancel", "seller"): "cancel_requested",
    ("awaiting_requirements", "cancel", "admin"): "cancelled",
    ("awaiting_requirements", "open_dispute", "system"): "disputed",
    ("awaiting_requirements", "record_refund", "system"): "refunded",
    ("in_progress", "deliver", "seller"): "delivered",
    ("in_progress", "request_cancel", "buyer"): "cancel_requested",
    ("in_progress", "request_cancel", "seller"): "cancel_requested",
    ("in_progress", "cancel", "admin"): "cancelled",
    ("in_progress", "open_dispute", "buyer"): "disputed",
    ("in_progress", "open_dispute", "seller"): "disputed",
    ("in_progress", "open_dispute", "system"): "disputed",
    ("in_progress", "record_refund", "system"): "refunded",
    ("delivered", "request_revision", "buyer"): "revision_requested",
    ("delivered", "accept", "buyer"): "completed",
    ("delivered", "auto_complete", "system"): "completed",
    ("delivered", "request_cancel", "buyer"): "cancel_requested",
    ("delivered", "request_cancel", "seller"): "cancel_requested",
    ("delivered", "cancel", "admin"): "cancelled",
    ("delivered", "open_dispute", "buyer"): "disputed",
    ("delivered", "open_dispute", "seller"): "disputed",
    ("delivered", "open_dispute", "system"): "disputed",
    ("delivered", "record_refund", "system"): "refunded",
    ("revision_requested", "deliver", "seller"): "delivered",
    ("revision_requested", "request_cancel", "buyer"): "cancel_requested",
    ("revision_requested", "request_cancel", "seller"): "cancel_requested",
    ("revision_requested", "cancel", "admin"): "cancelled",
    ("revision_requested", "open_dispute", "buyer"): "disputed",
    ("revision_requested", "open_dispute", "seller"): "disputed",
    ("revision_requested", "open_dispute", "system"): "disputed",
    ("revision_requested", "record_refund", "system"): "refunded",
    ("completed", "open_dispute", "system"): "disputed",
    ("completed", "record_refund", "system"): "refunded",
    ("cancel_requested", "accept_cancel", "buyer"): "cancelled",
    ("cancel_requested", "accept_cancel", "seller"): "cancelled",
    ("cancel_requested", "decline_cancel", "buyer"): "previous",
    ("cancel_requested", "decline_cancel", "seller"): "previous",
    ("cancel_requested", "withdraw_cancel", "buyer"): "previous",
    ("cancel_requested", "withdraw_cancel", "seller"): "previous",
    ("cancel_requested", "cancel", "admin"): "cancelled",
    ("cancel_requested", "open_dispute", "system"): "disputed",
    ("cancel_requested", "record_refund", "system"): "refunded",
    ("disputed", "cancel", "admin"): "cancelled",
    ("disputed", "resolve_refund", "admin"): "refunded",
    ("disputed", "resolve_partial", "admin"): "completed",
    ("disputed", "resolve_release", "admin"): "completed",
    ("disputed", "resolve_release", "system"): "completed",  # a chargeback the seller won
    ("disputed", "record_refund", "system"): "refunded",
}

COMBINATIONS = list(itertools.product(STATUSES, ACTION_NAMES, ROLE_NAMES))


def actor_of(cast, role):
    return Actor(role, {"buyer": cast.buyer, "seller": cast.owner, "admin": cast.admin, "system": None}[role])


def params_for(cast, action):
    if action == "submit_requirements":
        return Params(form=answers_for(cast.gig))
    return Params(note="Because of reasons.", amount_cents=100)


def counts(db):
    """Rows of everything a transition writes besides the order itself."""
    return db.session.execute(
        select(
            *(
                select(func.count()).select_from(model).scalar_subquery()
                for model in (OrderEvent, Notification, OutgoingEmail, OutboxEvent)
            )
        )
    ).one()


def test_the_service_has_exactly_this_table_of_statuses_actions_and_roles():
    assert (ORDER_STATUSES, tuple(ACTIONS), ROLES) == (STATUSES, ACTION_NAMES, ROLE_NAMES)
    assert TRANSITIONS == EXPECTED_TRANSITIONS
    assert len(EXPECTED_TRANSITIONS) == 49 and len(COMBINATIONS) == 9 * 15 * 4


def try_combination(db, cast, status, action, role):
    """Set up an order in `status`, let `role` try `action` inside a savepoint, report what happened."""
    # A cancellation request always comes from the other party, so answering it is allowed;
    # the guard that stops a party answering its own request has a test of its own below.
    order = make_order(cast, status, requested_by="buyer" if role == "seller" else "seller")
    if status == "cancel_requested" and action == "withdraw_cancel" and role in ("buyer", "seller"):
        request_cancel_event(order, role)
    actor = actor_of(cast, role)
    result = {"listed": action in allowed_actions(order, actor), "previous": order.previous_status}
    before = counts(db)
    attempt = db.session.begin_nested()
    try:
        transition_order(order, action, actor, params_for(cast, action))
    except (TransitionRefused, OrderInputError) as exc:
        attempt.rollback()
        db.session.refresh(order)
        result.update(status=order.status, unchanged=counts(db) == before)
        if isinstance(exc, TransitionRefused):
            result.update(outcome="refused", code=exc.status)
        else:
            result.update(outcome="input", fields=sorted(exc.errors))
        return result
    attempt.commit()
    events = db.session.scalars(
        select(OrderEvent).where(
            OrderEvent.order_id == order.id, OrderEvent.actor_role == role, OrderEvent.action == action
        )
    ).all()
    result.update(outcome="done", status=order.status, events=[(e.from_status, e.to_status) for e in events])
    return result


@pytest.fixture(scope="module")
def outcomes(app):
    """Every combination tried once, each on its own order, inside one transaction rolled back
    at the end (one fixture run instead of 540 database setups keeps this file fast)."""
    with app.app_context():
        engine = _db.engines[None]
        connection = engine.connect()
        outer = connection.begin()
        _db.engines[None] = connection
        _db.session.remove()
        _db.session.configure(join_transaction_mode="create_savepoint")
        try:
            cast = make_cast("sm-")
            _db.session.commit()
            results = {combo: try_combination(_db, cast, *combo) for combo in COMBINATIONS}
            results["unbalanced"] = unbalanced_transactions()
            return results
        finally:
            _db.session.remove()
            _db.engines[None] = engine
            outer.rollback()
            connection.close()


@pytest.mark.parametrize("status, action, role", COMBINATIONS, ids=["-".join(c) for c in COMBINATIONS])
def test_transition(outcomes, status, action, role):
    result = outcomes[(status, action, role)]
    key = (status, action, role)
    if key not in EXPECTED_TRANSITIONS:
        can_ever = any(a == action and r == role for (_s, a, r) in EXPECTED_TRANSITIONS)
        assert result["outcome"] == "refused" and result["code"] == (409 if can_ever else 403)
        assert result["status"] == status and result["unchanged"]
        assert not result["listed"]
        return
    assert result["listed"]
    if action == "resolve_partial":
        # Allowed by the table; these orders carry no Stripe payment, so there is nothing to
        # refund part of and the amount is refused. tests/test_orders_money_e2e.py does it for real.
        assert result["outcome"] == "input" and result["fields"] == ["amount"] and result["unchanged"]
        return
    expected = EXPECTED_TRANSITIONS[key]
    expected = result["previous"] if expected == PREVIOUS else expected
    assert result["outcome"] == "done", result
    assert result["status"] == expected
    assert result["events"] == [(status, expected)]
    assert outcomes["unbalanced"] == []


def test_a_party_cannot_answer_its_own_cancellation_request(db, cast):
    order = make_order(cast, "cancel_requested", requested_by="buyer")
    buyer = actor_of(cast, "buyer")
    assert allowed_actions(order, buyer) == ["withdraw_cancel"]
    for action in ("accept_cancel", "decline_cancel"):
        with pytest.raises(TransitionRefused) as refused:
            transition_order(order, action, buyer)
        assert refused.value.status == 409
    seller = actor_of(cast, "seller")
    assert "withdraw_cancel" not in allowed_actions(order, seller)
    transition_order(order, "decline_cancel", seller)
    assert (order.status, order.previous_status) == ("in_progress", None)


def test_revisions_stop_when_the_package_allowance_is_used(db, cast):
    order = make_order(cast, "delivered", revisions_allowed=1)
    buyer, seller = actor_of(cast, "buyer"), actor_of(cast, "seller")
    transition_order(order, "request_revision", buyer, Params(note="Bigger logo"))
    transition_order(order, "deliver", seller, Params(note="Bigger now"))
    assert order.revisions_used == 1 and "request_revision" not in allowed_actions(order, buyer)
    with pytest.raises(TransitionRefused) as refused:
        transition_order(order, "request_revision", buyer, Params(note="Again"))
    assert refused.value.status == 409 and "revisions" in refused.value.message


def test_unlimited_revisions(db, cast):
    order = make_order(cast, "delivered", revisions_allowed=None, revisions_used=7)
    transition_order(order, "request_revision", actor_of(cast, "buyer"), Params(note="Once more"))
    assert order.status == "revision_requested" and order.revisions_used == 8


def test_auto_complete_waits_three_days_after_delivery(db, cast):
    from datetime import timedelta

    from app.clock import now

    order = make_order(cast, "delivered", delivered_at=now() - timedelta(days=2, hours=23))
    with pytest.raises(TransitionRefused):
        transition_order(order, "auto_complete", Actor("system"))
    assert order.status == "delivered"


def test_completion_releases_escrow_once_and_counts_the_gig_order(db, cast):
    order = make_order(cast, "delivered")
    transition_order(order, "accept", actor_of(cast, "buyer"))
    assert company_balances(cast.company.id) == {"escrow": 0, "pending": 9000, "available": 0}
    db.session.refresh(cast.gig)
    assert cast.gig.orders_completed == 1
    outbound = db.session.scalars(select(OutboxEvent).where(OutboxEvent.company_id == cast.company.id)).all()
    assert [e.type for e in outbound] == ["order.completed"]
    assert outbound[0].data["order_id"] == order.id and outbound[0].data["seller_amount_cents"] == 9000


def test_each_transition_tells_the_other_side(db, cast):
    order = make_order(cast, "in_progress")
    transition_order(order, "deliver", actor_of(cast, "seller"), Params(note="Here you go"))
    notes = db.session.scalars(select(Notification).where(Notification.kind == "order.deliver")).all()
    assert [n.user_id for n in notes] == [cast.buyer.id]
    emails = db.session.scalars(select(OutgoingEmail)).all()
    assert [e.to_email for e in emails] == [cast.buyer.email] and emails[0].status == "pending"
    assert emails[0].subject == f"Order #{order.id} was delivered" and "Here you go" in emails[0].body


@pytest.mark.parametrize(
    "form, field",
    [
        ({}, "q_{0}"),
        ({"q_{0}": "Acme", "q_{1}": "Baroque"}, "q_{1}"),
        ({"q_{0}": "x" * 301, "q_{1}": "Modern"}, "q_{0}"),
        ({"q_{0}": "Acme", "q_{1}": "Modern", "q_{2}": "x" * 5001}, "q_{2}"),
    ],
)
def test_requirements_are_validated_against_the_gig_questions(db, cast, form, field):
    ids = [q.id for q in cast.gig.questions]
    order = make_order(cast)
    form = {key.format(*ids): value for key, value in form.items()}
    before = counts(db)
    with pytest.raises(OrderInputError) as bad:
        transition_order(order, "submit_requirements", actor_of(cast, "buyer"), Params(form=form))
    db.session.rollback()
    assert field.format(*ids) in bad.value.errors
    assert order.status == "awaiting_requirements" and counts(db) == before
