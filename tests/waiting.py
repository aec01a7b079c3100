"""Waiting for what happens in another thread or process: poll until true, or fail the test."""

import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import InboundEvent


def wait_until(predicate, timeout=30.0, interval=0.05, message="condition not met"):
    """Poll `predicate` until it returns something truthy (returned); fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{message} within {timeout}s")
        time.sleep(interval)


def wait_for_inbound(app, event_type, count=1, timeout=15):
    """Wait until `count` inbound events of `event_type` (webhooks the sandbox delivered to the
    live app) are stored; processing them is the test's `run_jobs()`."""

    def stored():
        with app.app_context():
            return (
                db.session.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.type == event_type))
                >= count
            )

    wait_until(stored, timeout=timeout, message=f"{event_type} not delivered")
