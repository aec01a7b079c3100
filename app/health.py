"""Readiness: can this deployment do its work right now? One named check per dependency.

`/readyz` runs every check in `readiness_checks()` and answers 503 when one fails:

- database: `SELECT 1`;
- redis: `PING`;
- workers: at least one RQ worker, and none silent past WORKER_HEARTBEAT_SECONDS (a worker
  killed without a goodbye — SIGKILL, OOM, a lost host — stays registered until its key
  expires: its silence is what tells);
- scheduler: the `rq cron` scheduler beat within SCHEDULER_HEARTBEAT_SECONDS;
- queue_lag: no queue's oldest waiting job older than QUEUE_LAG_SECONDS;
- payments: the Stripe API base (the sandbox in development) answers HTTP at all.

`/healthz` (liveness) only proves the process answers.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from flask import current_app
from rq import Worker
from rq.cron import CronScheduler
from rq.registry import ScheduledJobRegistry
from sqlalchemy import text

from app.extensions import db
from app.queue import QUEUE_NAMES, get_queue, get_redis

PROBE_TIMEOUT = 2.0


class CheckFailed(Exception):
    """A readiness check's reason for failing, in words an operator can act on."""


def _now() -> datetime:
    return datetime.now(UTC)


def queue_figures() -> dict[str, dict[str, float]]:
    """Per queue: jobs waiting, jobs scheduled for later, and how long the oldest waiting job
    has waited (0 when none)."""
    redis = get_redis()
    figures = {}
    for name in QUEUE_NAMES:
        queue = get_queue(name)
        depth = queue.count
        lag = 0.0
        oldest = queue.get_job_ids(0, 1)
        if oldest:
            job = queue.fetch_job(oldest[0])
            if job is not None and job.enqueued_at is not None:
                lag = max(0.0, (_now() - job.enqueued_at.replace(tzinfo=UTC)).total_seconds())
        scheduled = ScheduledJobRegistry(name, connection=redis).count
        figures[name] = {"depth": depth, "scheduled": scheduled, "lag_seconds": lag}
    return figures


def worker_figures() -> dict[str, Any]:
    """RQ workers seen in Redis: how many beat within WORKER_HEARTBEAT_SECONDS, how many not
    (with their names)."""
    limit = current_app.config["WORKER_HEARTBEAT_SECONDS"]
    alive, stale = [], []
    for worker in Worker.all(connection=get_redis()):
        beat = worker.last_heartbeat
        if beat is not None and (_now() - beat.replace(tzinfo=UTC)).total_seconds() <= limit:
            alive.append(worker.name)
        else:
            stale.append(worker.name)
    return {"alive": len(alive), "stale": len(stale), "stale_names": stale}


def check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        db.session.rollback()
        raise CheckFailed(type(exc).__name__) from exc
    return "ok"


def check_redis() -> str:
    get_redis().ping()
    return "ok"


def check_workers() -> str:
    figures = worker_figures()
    limit = current_app.config["WORKER_HEARTBEAT_SECONDS"]
    if figures["stale"]:
        names = ", ".join(sorted(figures["stale_names"]))
        raise CheckFailed(f"no heartbeat for {limit:g} s from {names} ({figures['alive']} alive)")
    if not figures["alive"]:
        raise CheckFailed("no RQ worker is running")
    return f"ok ({figures['alive']} alive)"


def check_scheduler() -> str:
    limit = current_app.config["SCHEDULER_HEARTBEAT_SECONDS"]
    beats = [s.last_heartbeat for s in CronScheduler.all(get_redis(), cleanup=False)]
    beats = [beat for beat in beats if beat is not None]
    if not beats:
        raise CheckFailed("no cron scheduler (rq cron) is running")
    age = (_now() - max(beats)).total_seconds()
    if age > limit:
        raise CheckFailed(f"last heartbeat {age:.0f} s ago (limit {limit:g} s)")
    return "ok"


def check_queue_lag() -> str:
    limit = current_app.config["QUEUE_LAG_SECONDS"]
    late = {name: f["lag_seconds"] for name, f in queue_figures().items() if f["lag_seconds"] > limit}
    if late:
        waits = ", ".join(f"{name} {lag:.0f} s" for name, lag in sorted(late.items()))
        raise CheckFailed(f"oldest job waiting longer than {limit:g} s: {waits}")
    return "ok"


def check_payments() -> str:
    base = current_app.config["STRIPE_API_BASE"].rstrip("/")
    url = base + "/_sandbox/health" if current_app.config["SANDBOX_ENABLED"] else base + "/v1"
    try:
        httpx.get(url, timeout=PROBE_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise CheckFailed(
            f"{'sandbox' if current_app.config['SANDBOX_ENABLED'] else 'Stripe'} unreachable: {type(exc).__name__}"
        ) from exc
    return "ok"


def readiness_checks() -> dict[str, Callable[[], str]]:
    return {
        "database": check_database,
        "redis": check_redis,
        "workers": check_workers,
        "scheduler": check_scheduler,
        "queue_lag": check_queue_lag,
        "payments": check_payments,
    }


def run_checks(checks: dict[str, Callable[[], str]]) -> tuple[dict[str, str], list[str]]:
    """Each check's answer ("ok ..." or "error: why"), and the names of those that failed.
    A check that needs Redis fails, naming the error, when Redis is down."""
    results, failing = {}, []
    for name, check in checks.items():
        try:
            results[name] = check()
        except CheckFailed as exc:
            results[name] = f"error: {exc}"
            failing.append(name)
        except Exception as exc:  # any failure means not ready; the name is what operators need
            results[name] = f"error: {type(exc).__name__}"
            failing.append(name)
    return results, failing
