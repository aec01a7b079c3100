"""Jobs of the outbound webhook pipeline (app/services/outbound/), all on the "webhooks" queue
except the sweep.

Each job takes ids (or none), re-loads its rows and is safe to run twice: the outbox event and
each message are claimed by conditional UPDATEs (leases) before anything is sent.

A delivery run (`deliver_due`) is where the throughput is: it leases due messages in batches,
sends them from a pool of sender threads over one keep-alive HTTP client, at most
WEBHOOKS_ENDPOINT_CONCURRENCY at a time per endpoint, and records outcomes in groups — each
group's outcomes and the next claim share one commit. Leases are committed before their
requests start, so a worker killed mid-batch loses nothing: the leases expire and the messages
are sent again, with the same webhook-id.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError

from app.extensions import db
from app.services.outbound.delivery import (
    DeliveryRequest,
    Outcome,
    SenderLanes,
    UrlVetting,
    Waiting,
    sender_pool,
)
from app.services.outbound.dispatch import (
    LEASE,
    ClaimedBatch,
    claim_due_messages,
    dispatch_outbox_event,
    due_later,
    overdue_message_ids,
    release_messages,
    undispatched_event_ids,
)
from app.services.outbound.queueing import (
    delivery_run_started,
    enqueue_delivery,
    enqueue_dispatch,
    request_delivery_run,
)
from app.services.outbound.retries import record_outcomes
from app.tasks import job_context

log = logging.getLogger(__name__)
# A run stops claiming after this long (then finishes what it holds and asks for the next run),
# so the worker's other queues get their turn.
RUN_SECONDS = 10.0
# Finished attempts wait at most this long to be committed with the next group.
GROUP_WAIT = 0.05
# A claimed message not started within this share of its lease is given back, not sent late
# (what is left of the lease must outlast the request).
START_WITHIN = LEASE / 4


def dispatch_event(event_id: int) -> int:
    """Create the event's messages (once) and ask for a delivery run."""
    with job_context():
        message_ids = dispatch_outbox_event(event_id)
        db.session.commit()
        if message_ids:
            request_delivery_run()
        return len(message_ids)


def deliver_due(message_ids: list[int] | None = None) -> dict[str, int]:
    """A delivery run: send every due message (or the due ones of `message_ids`), batched and
    concurrent, until none is left or RUN_SECONDS have passed."""
    with job_context():
        if message_ids is None:
            delivery_run_started()
        run = DeliveryRun.from_config(message_ids=message_ids)
        run.run()
        if run.more_due:  # stopped with messages left (or given back): a general run sends them
            request_delivery_run()
        return run.totals()


def deliver_message(message_id: int) -> int | str | None:
    """Deliver one message once if it is due and not leased elsewhere (a retry at its time, a
    resend, a test event); the retry is scheduled as usual."""
    with job_context():
        run = DeliveryRun.from_config(message_ids=[message_id])
        run.run()
        outcome = run.outcomes.get(message_id)
        if outcome is not None:
            return outcome.status_code or outcome.error
        due_at = due_later(message_id)
        if due_at is not None:
            # Woken early (a scheduler whose clock runs ahead): wait out the rest, don't
            # leave the retry to the sweep minutes later.
            enqueue_delivery(message_id, at=due_at)
            return "rescheduled"
        return "not sent"


@dataclass
class DeliveryRun:
    """One worker's delivery loop: claims due messages in batches (leases committed before any
    request starts), queues them in per-endpoint lanes that feed the sender threads
    (`SenderLanes`), and commits finished outcomes in groups together with the next claim.

    Each endpoint may hold a full batch leased (so one busy endpoint gets big batches), but
    counts at most 2 × `per_endpoint` against the batch, so messages for other endpoints are
    still claimed while one endpoint is slow; leased messages not started within START_WITHIN
    are given back rather than sent late.
    """

    batch_size: int
    concurrency: int
    per_endpoint: int
    message_ids: list[int] | None = None
    run_seconds: float = RUN_SECONDS
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    more_due: bool = False
    claims: int = 0
    commits: int = 0
    _asked_for_help: bool = False

    @classmethod
    def from_config(cls, message_ids: list[int] | None = None) -> "DeliveryRun":
        config = current_app.config
        return cls(
            batch_size=max(1, config["WEBHOOKS_BATCH_SIZE"]),
            concurrency=max(1, config["WEBHOOKS_CONCURRENCY"]),
            per_endpoint=max(1, config["WEBHOOKS_ENDPOINT_CONCURRENCY"]),
            message_ids=message_ids,
        )

    def totals(self) -> dict[str, int]:
        return {
            "attempts": len(self.outcomes),
            "delivered": sum(1 for outcome in self.outcomes.values() if outcome.succeeded),
            "claims": self.claims,
            "commits": self.commits,
        }

    def run(self) -> None:
        lanes = SenderLanes(sender_pool(self.concurrency), self.per_endpoint)
        stop_claiming_at = time.monotonic() + self.run_seconds
        claiming, look = True, True  # look: the next claim may find something
        while True:
            if claiming and time.monotonic() >= stop_claiming_at:
                claiming = False
                self.more_due = True  # maybe; the next run finds out
            finished = lanes.take_finished(at_least=max(1, self.batch_size // 2), timeout=GROUP_WAIT)
            look = look or bool(finished)
            stale = lanes.withdraw(None if not claiming else time.monotonic() - START_WITHIN.total_seconds())
            claimed = self._commit_group(finished, stale, lanes.held() if claiming and look else None)
            if claimed is not None:
                look = bool(claimed.examined)
                vetting = UrlVetting()  # one DNS lookup and check per endpoint URL of this batch
                claimed_at = time.monotonic()
                lanes.add([Waiting(request, vetting, claimed_at) for request in claimed.requests])
            if lanes.idle() and (not claiming or not look):
                break

    def _commit_group(
        self,
        finished: list[tuple[DeliveryRequest, Outcome]],
        stale: list[DeliveryRequest],
        held: dict[int, int] | None,
    ) -> ClaimedBatch | None:
        """Record finished outcomes, give back stale leases and (when `held` is given) claim
        more, in one commit; then schedule the retries. Returns the claim, if one was made."""
        claimed = None
        if held is not None:
            room = self.batch_size - sum(min(n, 2 * self.per_endpoint) for n in held.values())
            pending = self._pending_ids(finished)
            if pending == []:
                claimed = ClaimedBatch([], 0)
            elif room > 0:
                claimed = claim_due_messages(room, per_endpoint=self.batch_size, held=held, message_ids=pending)
                self.claims += 1
                if claimed.examined == room and self.message_ids is None and not self._asked_for_help:
                    # A full batch: more may be due; let an idle worker start on them now.
                    self._ask_for_help()
        if not finished and not stale and not (claimed and claimed.examined):
            db.session.commit()  # ends the claim's read-only transaction
            return claimed
        retries = record_outcomes(finished)
        for request, outcome in finished:
            self.outcomes[request.message_id] = outcome
        by_lease: dict[datetime, list[int]] = {}
        for request in stale:
            by_lease.setdefault(request.started_at, []).append(request.message_id)
            self.more_due = True
        for leased_at, ids in by_lease.items():
            release_messages(ids, leased_at)
        db.session.commit()
        self.commits += 1
        try:
            for message_id, at in retries:
                enqueue_delivery(message_id, at=at)
        except RedisError:  # recorded as due in the database: the sweep queues them
            log.warning("could not schedule retries of messages %s", [message_id for message_id, _ in retries])
        return claimed

    def _pending_ids(self, finished: list[tuple[DeliveryRequest, Outcome]]) -> list[int] | None:
        if self.message_ids is None:
            return None
        done = set(self.outcomes) | {request.message_id for request, _ in finished}
        return [i for i in self.message_ids if i not in done]

    def _ask_for_help(self) -> None:
        self._asked_for_help = True
        try:
            request_delivery_run()
        except RedisError:  # this run carries on alone; the sweep is the net
            log.warning("could not queue a second delivery run")


def sweep_outbound() -> dict[str, int]:
    """Dispatch committed-but-undispatched events and re-queue overdue messages.

    Covers a crash between commit and enqueue, a Redis outage, a lost scheduled job and a
    worker killed mid-delivery (its lease expires, then the message is overdue).
    """
    with job_context():
        event_ids = undispatched_event_ids()
        message_ids = overdue_message_ids()
        db.session.commit()
        for event_id in event_ids:
            enqueue_dispatch(event_id)
        if message_ids:
            delivery_run_started()  # whatever run was said to be waiting did not come
            request_delivery_run()
        return {"events": len(event_ids), "messages": len(message_ids)}
