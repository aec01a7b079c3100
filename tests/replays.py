"""Delivering one Stripe event many times at once: over HTTP to the live app, and straight to
`complete_checkout` in as many concurrent sessions (the race the row locks must win)."""

import concurrent.futures

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import InboundEvent
from app.services.checkout import complete_checkout
from tests import loopback
from tests.webhook_signing import stripe_signed

TIMES = 20


def replay_checkout_completed(app, live_server, times=TIMES):
    """The stored checkout.session.completed event posted `times` times at once to the live
    app's webhook (each answer must be 200), then completed `times` times at once in separate
    sessions. Returns each completion's order/membership id, or the error class name of a loser
    of the race (which Stripe's retry would repeat)."""
    with app.app_context():
        event = db.session.scalars(select(InboundEvent).where(InboundEvent.type == "checkout.session.completed")).one()
        payload, secret = event.payload, current_app.config["STRIPE_WEBHOOK_SECRET"]
    body, headers = stripe_signed(payload, secret)
    with concurrent.futures.ThreadPoolExecutor(max_workers=times) as pool:
        answers = list(
            pool.map(
                lambda _: loopback.post(f"{live_server}/webhooks/stripe", content=body, headers=headers, timeout=20),
                range(times),
            )
        )
    assert all(answer.status_code == 200 for answer in answers)

    def complete_in_own_session(_):
        with app.app_context():
            try:
                result = complete_checkout(payload["data"]["object"])
                db.session.commit()
                return result.id
            except Exception as exc:  # a loser of the race may fail on the unique key; it retries
                db.session.rollback()
                return type(exc).__name__

    with concurrent.futures.ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(complete_in_own_session, range(times)))
