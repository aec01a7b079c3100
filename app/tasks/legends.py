"""Legends on schedule (registered with RQ cron in app/tasks/schedule.py): issue each period's
quests to every member, and roll the leaderboards into the new period.

Both are safe to run any number of times: a quest exists once per member, template and
period; a rebuild writes the same boards from the same database.
"""

import logging

from redis.exceptions import RedisError

from app.extensions import db
from app.services.legends.boards import rebuild_all
from app.services.legends.quests import issue_due_quests
from app.tasks import job_context

log = logging.getLogger(__name__)


def issue_legends_quests() -> int:
    """Issue the current day's, week's and month's quests (and specials) to every member of
    every enabled game lacking them; returns how many were issued."""
    with job_context():
        issued = issue_due_quests()
        db.session.commit()
        return issued


def roll_legends_boards() -> int:
    """Rebuild every game's leaderboards from the database — the new week's and month's boards
    start from what the XP ledger holds for them; returns the entries written (0 when Redis is
    unavailable: the pages compute the boards from the database meanwhile)."""
    with job_context():
        try:
            return sum(rebuild_all().values())
        except RedisError as error:
            log.warning("Legends leaderboards not rolled over: %s", error)
            return 0
        finally:
            db.session.rollback()
