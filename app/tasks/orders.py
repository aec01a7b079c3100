"""Order sweeps, registered with RQ cron in app/tasks/schedule.py.

Each sweep works under app.clock.now() (tests move it with app.clock.freeze), commits one
order at a time so one failure doesn't hold up the rest, and is safe to run any number of
times and concurrently: every step re-checks the order under its row lock.
"""

import logging
from collections.abc import Callable, Iterable

from app.extensions import db
from app.services import orders
from app.services.escrow import clear_pending_funds
from app.tasks import job_context

log = logging.getLogger(__name__)


def _each_order(order_ids: Iterable[int], step: Callable[[int], bool]) -> int:
    """Run `step` on each order, committing each alone; a failure is logged and the rest go on."""
    done = 0
    for order_id in order_ids:
        try:
            done += bool(step(order_id))
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("order sweep step %s failed for order %s", step.__name__, order_id)
    return done


def auto_complete_orders() -> int:
    """Complete orders delivered more than 3 days ago (actor: system). Returns how many."""
    with job_context():
        return _each_order(orders.orders_due_for_auto_completion(), orders.auto_complete_order)


def flag_late_orders() -> int:
    """Flag orders past their due date as late and tell both parties. Returns how many."""
    with job_context():
        return _each_order(orders.orders_past_due(), orders.mark_order_late)


def clear_seller_funds() -> int:
    """Move sellers' pending funds to available once the clearance period has passed."""
    with job_context():
        cleared = clear_pending_funds()
        db.session.commit()
        return cleared
