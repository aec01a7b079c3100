"""Automatic payouts: companies on a daily / weekly / monthly schedule are paid their whole
available balance once per period (registered with RQ cron in app/tasks/schedule.py).

Safe to run any number of times and concurrently: each period's payout has its own request
token, unique per company, and every step re-checks under the company's row lock.
"""

import logging

from app.extensions import db
from app.services.payouts import companies_with_payout_schedules, complete_payout, request_scheduled_payout
from app.tasks import job_context

log = logging.getLogger(__name__)


def run_payout_schedule() -> int:
    """Pay out every company whose schedule is due this period; returns for how many it saw
    this period's payout through to paid (a run racing another may both finish the same one).
    Each company commits alone (the pending payout, then the transfer), so one failure —
    Stripe unreachable, say — leaves that payout pending for the next run and the rest go on."""
    paid = 0
    with job_context():
        for company_id in companies_with_payout_schedules():
            try:
                payout = request_scheduled_payout(company_id)
                db.session.commit()
                if payout is None:
                    continue
                if complete_payout(payout, None).status == "paid":
                    paid += 1
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("scheduled payout failed for company %s", company_id)
    return paid
