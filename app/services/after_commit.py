"""Work queued for after the commit: what a transaction noted, handed on once it has committed.

A transaction notes things under a name in `session.info` (`db.session.info.setdefault(name,
set()).add(...)`); a commit hook takes them (`take_notes`), and `forget_on_rollback(*names)`
drops them when the outer transaction rolls back instead.

`AfterCommit(key, hand_on, log, failure)` registers the session hooks once: `remember(id)` notes
an id in the session's transaction; after the outer commit each noted id goes to `hand_on` (a
failure is logged on `log` with `failure % id`: a sweep picks the row up later); a rollback of
the outer transaction forgets them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from app.extensions import db


def take_notes(session: Session, *names: str) -> list[Any]:
    """What the transaction noted under each of `names` (None where nothing), taken away."""
    return [session.info.pop(name, None) for name in names]


def forget_on_rollback(*names: str) -> None:
    """Drop what a transaction noted under `names` when the outer transaction rolls back."""

    def forget(session: Session, previous_transaction: SessionTransaction) -> None:
        if previous_transaction.parent is None:
            take_notes(session, *names)

    sa_event.listen(Session, "after_soft_rollback", forget)


class AfterCommit:
    def __init__(self, key: str, hand_on: Callable[[int], object], log: logging.Logger, failure: str):
        self.key, self.hand_on, self.log, self.failure = key, hand_on, log, failure
        sa_event.listen(Session, "after_commit", self._hand_on_committed)
        forget_on_rollback(key)

    def remember(self, row_id: int) -> None:
        db.session.info.setdefault(self.key, []).append(row_id)

    def _hand_on_committed(self, session: Session) -> None:
        (noted,) = take_notes(session, self.key)
        for row_id in noted or ():
            try:
                self.hand_on(row_id)
            except Exception:  # the sweep picks it up; the commit already happened
                self.log.exception(self.failure, row_id)
