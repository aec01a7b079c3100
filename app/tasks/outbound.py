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

import contextvars
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from flask import current_app

from app.extensions import db
from app.services.outbound.delivery import DeliveryRequest, Outcome, UrlVetting, send_request, sender_pool
from app.services.outbound.dispatch import (
    LEASE,
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

# A run stops claiming after this long (then finishes what it holds and asks for the next run),
# so the worker's other queues get their turn.
RUN_SECONDS = 10.0
# Finished attempts wait at most this long to be committed with the next group.
GROUP_WAIT = 0.05
# A claimed message not started within this share of its lease is given back, not sent late.
START_WITHIN = LEASE / 2


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
        if run.more_due and message_ids is None:
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


class _Waiting(NamedTuple):
    """A leased, signed request waiting for a sender thread."""

    request: DeliveryRequest
    vetting: UrlVetting
    claimed_at: float  # time.monotonic()


@dataclass
class DeliveryRun:
    """One worker's delivery loop. Claims (leases committed before sending), hands requests to
    the sender threads as endpoint and pool capacity allow, and commits finished outcomes in
    groups together with the next claim.

    Holds at most `per_endpoint` requests of one endpoint in flight and as many again leased and
    waiting, so a slow endpoint occupies at most `per_endpoint` of the `concurrency` threads
    while the others keep sending and committing.
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
    _ready: deque[_Waiting] = field(default_factory=deque)
    _in_flight: dict[Future[Outcome], DeliveryRequest] = field(default_factory=dict)
    _sending: Counter[int] = field(default_factory=Counter)  # endpoint id → requests in flight
    _held: Counter[int] = field(default_factory=Counter)  # endpoint id → in flight or waiting
    _finished: list[tuple[DeliveryRequest, Outcome]] = field(default_factory=list)
    _finished_since: float = 0.0
    _since_claim: int = 1  # attempts finished since the last claim (1: claim at once)
    _claiming: bool = True

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
        delivered = sum(1 for outcome in self.outcomes.values() if outcome.succeeded)
        return {
            "attempts": len(self.outcomes),
            "delivered": delivered,
            "claims": self.claims,
            "commits": self.commits,
        }

    def run(self) -> None:
        pool = sender_pool(self.concurrency)
        stop_claiming_at = time.monotonic() + self.run_seconds
        while True:
            clock = time.monotonic()
            if self._claiming and clock >= stop_claiming_at:
                self._claiming = False
                self.more_due = True  # maybe; the next run finds out
            claim = self._claiming and (
                self._since_claim >= self.per_endpoint
                or (self._since_claim > 0 and (not self._in_flight or clock - self._finished_since >= GROUP_WAIT))
            )
            group = bool(self._finished) and (
                claim
                or not self._in_flight
                or len(self._finished) >= self.batch_size
                or clock - self._finished_since >= GROUP_WAIT
            )
            if claim or group or (not self._claiming and self._ready):
                self._commit_group(claim)
            self._start(pool)
            if not self._in_flight and not self._finished:
                if not self._claiming or self._since_claim == 0:
                    break
                continue
            if self._in_flight:
                self._collect(clock)

    def _commit_group(self, claim: bool) -> None:
        """Record finished outcomes, give back what will not be sent, claim more: one commit."""
        finished, self._finished = self._finished, []
        retries = record_outcomes(finished)
        for request, outcome in finished:
            self.outcomes[request.message_id] = outcome
        self._release_stale()
        claimed: list[DeliveryRequest] = []
        if claim:
            room = self.batch_size - len(self._ready) - len(self._in_flight)
            self._since_claim = 0
            if room > 0:
                batch = claim_due_messages(
                    room, per_endpoint=2 * self.per_endpoint, held=self._held, message_ids=self._pending_ids()
                )
                claimed = batch.requests
                self.claims += 1
                if batch.examined == room and self.message_ids is None:
                    # A full batch: more may be due; let an idle worker start on them now.
                    self._ask_for_help()
                if batch.examined and not claimed:
                    self._since_claim = 1  # all taken meanwhile or disabled: look again
        db.session.commit()
        self.commits += 1
        for message_id, at in retries:
            enqueue_delivery(message_id, at=at)
        if claimed:
            vetting = UrlVetting()  # one DNS lookup and check per endpoint URL of this batch
            claimed_at = time.monotonic()
            for request in claimed:
                self._ready.append(_Waiting(request, vetting, claimed_at))
                self._held[request.endpoint_id] += 1

    def _pending_ids(self) -> list[int] | None:
        if self.message_ids is None:
            return None
        return [i for i in self.message_ids if i not in self.outcomes]

    def _ask_for_help(self) -> None:
        try:
            request_delivery_run()
        except Exception:  # Redis trouble: this run carries on alone; the sweep is the net
            current_app.logger.warning("could not queue a second delivery run", exc_info=True)

    def _release_stale(self) -> None:
        """Give back claimed messages that could not start in time, and all that wait once the
        run stops claiming (they are due: the next run sends them)."""
        too_old = time.monotonic() - START_WITHIN.total_seconds()
        keep: deque[_Waiting] = deque()
        release: dict[datetime, list[int]] = {}
        for waiting in self._ready:
            if self._claiming and waiting.claimed_at > too_old:
                keep.append(waiting)
                continue
            request = waiting.request
            release.setdefault(request.started_at, []).append(request.message_id)
            self._held[request.endpoint_id] -= 1
            self.more_due = True
        self._ready = keep
        for leased_at, ids in release.items():
            release_messages(ids, leased_at)

    def _start(self, pool: ThreadPoolExecutor) -> None:
        """Hand waiting requests to the sender threads, respecting both bounds, oldest first."""
        if not self._ready or len(self._in_flight) >= self.concurrency:
            return
        still: deque[_Waiting] = deque()
        for waiting in self._ready:
            request = waiting.request
            if len(self._in_flight) >= self.concurrency or self._sending[request.endpoint_id] >= self.per_endpoint:
                still.append(waiting)
                continue
            context = contextvars.copy_context()  # the job's request id, for the X-Request-ID header
            future = pool.submit(context.run, send_request, request, waiting.vetting)
            self._in_flight[future] = request
            self._sending[request.endpoint_id] += 1
        self._ready = still

    def _collect(self, clock: float) -> None:
        """Wait for at least one request to finish (or the group's time to be up)."""
        timeout = max(0.0, GROUP_WAIT - (clock - self._finished_since)) if self._finished else GROUP_WAIT
        done, _ = wait(list(self._in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            request = self._in_flight.pop(future)
            self._sending[request.endpoint_id] -= 1
            self._held[request.endpoint_id] -= 1
            if not self._finished:
                self._finished_since = time.monotonic()
            self._finished.append((request, future.result()))
            self._since_claim += 1


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
