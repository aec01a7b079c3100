"""Work queued for after the commit: ids a transaction wrote, handed on once it has committed.

`AfterCommit(key, hand_on, log, failure)` registers the session hooks once: `remember(id)` notes
an id in the session's transaction; after the outer commit each noted id goes to `hand_on` (a
failure is logged on `log` with `failure % id`: a sweep picks the row up later); a rollback of
the outer transaction forgets them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from app.extensions import db


class AfterCommit:
    def __init__(self, key: str, hand_on: Callable[[int], object], log: logging.Logger, failure: str):
        self.key, self.hand_on, self.log, self.failure = key, hand_on, log, failure
        sa_event.listen(Session, "after_commit", self._hand_on_committed)
        sa_event.listen(Session, "after_soft_rollback", self._forget_rolled_back)

    def remember(self, row_id: int) -> None:
        db.session.info.setdefault(self.key, []).append(row_id)

    def _hand_on_committed(self, session: Session) -> None:
        for row_id in session.info.pop(self.key, None) or ():
            try:
                self.hand_on(row_id)
            except Exception:  # the sweep picks it up; the commit already happened
                self.log.exception(self.failure, row_id)

    def _forget_rolled_back(self, session: Session, previous_transaction: SessionTransaction) -> None:
        if previous_transaction.parent is None:
            session.info.pop(self.key, None)
