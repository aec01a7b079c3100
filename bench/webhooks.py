"""Outbound webhook throughput: the real pipeline against a plain loop, in the same run.

    .venv/bin/python -m bench.webhooks [--messages 3000] [--database-url URL] [--redis-url URL]
                                       [--profile]
    .venv/bin/python -m bench.run_all --only webhooks   # the three goal rows (bench/README.md)

Steps: start a loopback sink (a minimal asyncio HTTP/1.1 keep-alive receiver in its own
process: one receiver, one endpoint); measure a plain loop of the same signed POSTs with one reused httpx client (the
baseline); then for 1 and 2 `rq worker` SimpleWorker processes, make `--messages` due
messages and ask for a delivery run as dispatch does (`request_delivery_run`: one
`deliver_due` job; a run that claims a full batch asks for another, so the second worker joins)
and time until the queue is drained; every message must then be recorded as delivered in the
database. Prints deliveries per second, each as a ratio to the plain loop, and per minute
against the goals (10,000 a minute from one worker, 30,000 from two). `--profile` instead runs
one delivery run in this process under pyinstrument and prints where the time went.
Bounded: a fixed message count and a time limit per run. Defaults: a fresh SQLite file and a
private Redis on a free port.
"""

import argparse
import asyncio
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from redis import Redis
from rq import Queue, SimpleWorker, Worker
from sqlalchemy import func, select

from bench import harness
from bench.harness import Row, bench_redis, drop_database, free_port, migrated_database

REPO_ROOT = Path(__file__).resolve().parents[1]
GOALS_PER_MINUTE = {1: 10_000, 2: 30_000}
RUN_LIMIT_SECONDS = 300


class _SinkProtocol(asyncio.Protocol):
    """A minimal HTTP/1.1 keep-alive receiver: reads each request (headers, Content-Length
    body) and answers 204. Cheap on purpose: on a 2-core machine every CPU cycle the receiver
    spends is taken from the worker under test (a real receiver runs elsewhere)."""

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n")


def _serve_sink(port):
    loop = asyncio.new_event_loop()
    loop.run_until_complete(loop.create_server(_SinkProtocol, "127.0.0.1", port))
    loop.run_forever()


def start_sink():
    """A loopback receiver (its own process, HTTP/1.1 keep-alive) answering 204; (url, stop)."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve_sink, args=(port,), daemon=True)
    process.start()
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("sink did not start") from None
            time.sleep(0.05)

    def stop():
        process.terminate()
        process.join(10)

    return f"http://127.0.0.1:{port}/bench", stop


def build_app(database_url, redis_url):
    from app import create_app
    from app.config import TestConfig
    from app.config import database_url as normalize

    config = type(
        "BenchConfig",
        (TestConfig,),
        {
            "SQLALCHEMY_DATABASE_URI": normalize(database_url),
            "REDIS_URL": redis_url,
            "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": True,
        },
    )
    return create_app(config)


def prepare_messages(app, sink_url, count):
    """A seller with one endpoint and `count` pending messages; returns their ids."""
    from flask_migrate import upgrade

    from app.extensions import db
    from app.models import User
    from app.services.accounts import register_user
    from app.services.companies import create_seller_company
    from app.services.outbound import dispatch, endpoints, outbox

    with app.app_context():
        upgrade(revision="heads")
        owner = db.session.scalar(select(User).where(User.email == "bench@example.com")) or register_user(
            "bench@example.com", "bench-password-123", "Bench", "sell"
        )
        company = owner.seller_company or create_seller_company(owner, "Bench Studio")
        for stale in endpoints.list_endpoints(company):  # from an earlier run, another sink
            endpoints.delete_endpoint(stale)
        endpoints.create_endpoint(company, sink_url)
        db.session.commit()
        events = [
            outbox.record_event(company.id, "order.created", {"order_id": n, "amount_cents": 4200})
            for n in range(count)
        ]
        db.session.commit()
        ids = []
        for event in events:
            ids.extend(dispatch.dispatch_outbox_event(event.id))
        db.session.commit()
        # Dispatch ran above; drop the no-op dispatch jobs the after-commit hook queued.
        Queue("webhooks", connection=app.extensions["redis"]).empty()
        return ids


def plain_loop(app, message_ids):
    """The ceiling: the same signed requests POSTed in a loop with one reused client."""
    from app.extensions import db
    from app.services.outbound import dispatch

    with app.app_context():
        requests = dispatch.claim_due_messages(len(message_ids), message_ids=message_ids).requests
        db.session.rollback()
    with httpx.Client(timeout=15.0) as client:
        started = time.perf_counter()
        for request in requests:
            response = client.post(request.url, content=request.body, headers=request.headers)
            assert response.status_code == 204
        return len(requests) / (time.perf_counter() - started)


def delivered_count(app, message_ids):
    from app.extensions import db
    from app.models import WebhookMessage

    with app.app_context():
        n = db.session.scalar(
            select(func.count())
            .select_from(WebhookMessage)
            .where(WebhookMessage.id.in_(message_ids), WebhookMessage.status == "delivered")
        )
        db.session.rollback()
        return n


class WarmWorker(SimpleWorker):
    """A SimpleWorker that makes the app before it registers, as a long-running production
    worker did long ago: the timed runs measure delivering, not each worker's first-job
    start-up (creating the app takes seconds on a loaded machine, and the second worker's
    would be paid in the middle of the two-worker run)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from app.tasks import job_context

        with job_context():  # creates this process's app for the jobs to come
            pass


def run_workers(app, database_url, redis_url, message_ids, workers):
    """Start `workers` SimpleWorker processes, queue every message, time until all delivered."""
    env = {
        **os.environ,
        "TRADEPOST_ENV": "test",
        "TEST_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
        "PYTHONPATH": str(REPO_ROOT),
    }
    rq = str(Path(sys.executable).parent / "rq")
    processes = [
        subprocess.Popen(
            [
                rq,
                "worker",
                "--worker-class",
                "bench.webhooks.WarmWorker",
                "--url",
                redis_url,
                "--logging_level",
                "WARNING",
                "webhooks",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    redis = Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=redis)) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.1)
        queue = Queue("webhooks", connection=redis)
        started = time.perf_counter()
        with app.app_context():  # what dispatch_event does once it has made messages
            from app.services.outbound.queueing import request_delivery_run

            request_delivery_run()
        # Watch Redis, and the database only when Redis looks idle (a job moves from the queue to
        # the started registry in two steps; a reader polling SQLite would stall the commits).
        registry = queue.started_job_registry
        while True:
            if time.perf_counter() - started > RUN_LIMIT_SECONDS:
                raise RuntimeError("run took too long")
            if queue.count or registry.count:
                time.sleep(0.02)
            elif delivered_count(app, message_ids) == len(message_ids):
                break
            else:
                time.sleep(0.1)
        elapsed = time.perf_counter() - started
        return len(message_ids) / elapsed
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def profile_run(app, message_ids):
    """One delivery run in this process under pyinstrument; prints the rate and the profile."""
    from pyinstrument import Profiler

    from app.tasks.outbound import deliver_due

    with app.app_context():
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        with profiler:
            while delivered_count(app, message_ids) < len(message_ids):
                print(deliver_due())
        elapsed = time.perf_counter() - started
    print(f"\none in-process delivery run: {len(message_ids) / elapsed:.0f} deliveries/s")
    print(profiler.output_text(unicode=False, color=False))


def measure(database_url, redis_url, messages):
    """The plain loop, then 1 and 2 worker processes: {name: deliveries per second}."""
    sink_url, stop_sink = start_sink()
    try:
        app = build_app(database_url, redis_url)
        Redis.from_url(redis_url).flushdb()
        results = {LOOP: plain_loop(app, prepare_messages(app, sink_url, messages))}
        for workers in (1, 2):
            ids = prepare_messages(app, sink_url, messages)
            results[workers] = run_workers(app, database_url, redis_url, ids, workers)
        with app.app_context():
            from app.extensions import db

            db.engine.dispose()  # before the database is dropped
        return results
    finally:
        stop_sink()


LOOP = "plain loop, one httpx client"
LOOP_RATIO_GOAL = 0.6  # of the plain loop, with 2 worker processes


def run(quick: bool) -> list[Row]:
    """run_all's entry point: deliveries a minute from 1 and 2 worker processes, and 2 against
    the plain loop (quick: 100 messages a run, on whatever BENCH_PG is)."""
    database_url = harness.database_url("webhooks")
    env = harness.production_env(free_port(), database_url, harness.redis_url())
    migrated_database(database_url, env)
    try:
        results = measure(database_url, harness.redis_url(), 100 if quick else 3000)
    finally:
        drop_database(database_url)
    loop = results[LOOP]
    baseline = f"plain httpx loop {loop * 60:,.0f}/min"
    rows = []
    for workers in (1, 2):
        rate = results[workers]
        goal = GOALS_PER_MINUTE[workers]
        rows.append(
            Row(
                f"outbound webhooks, {workers} worker process{'es' if workers > 1 else ''}",
                f"{rate * 60:,.0f} deliveries/min",
                baseline,
                None,
                f">= {goal:,}/min",
                rate * 60 >= goal,
            )
        )
    two = results[2]
    rows.append(
        Row(
            "outbound webhooks, 2 workers vs a plain loop",
            f"{two * 60:,.0f} deliveries/min",
            baseline,
            two / loop,
            f">= {LOOP_RATIO_GOAL}",
            two / loop >= LOOP_RATIO_GOAL,
        )
    )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="profile one in-process run instead")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tp-bench-webhooks-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    redis_url, redis_process = bench_redis(args.redis_url, workdir)
    try:
        if args.profile:
            sink_url, stop_sink = start_sink()
            try:
                app = build_app(database_url, redis_url)
                Redis.from_url(redis_url).flushdb()
                profile_run(app, prepare_messages(app, sink_url, args.messages))
            finally:
                stop_sink()
            return
        results = measure(database_url, redis_url, args.messages)
    finally:
        if redis_process:
            redis_process.terminate()
            redis_process.wait(10)
    baseline = results[LOOP]
    backend = database_url.split(":", 1)[0]
    print(f"\nOutbound webhooks, {args.messages} messages per run, {backend} + Redis, loopback sink")
    print(f"{'run':34} {'deliveries/s':>13} {'per minute':>11} {'vs loop':>8} {'goal/min':>9} {'vs goal':>8}")
    for key, rate in results.items():
        name = key if key == LOOP else f"{key} SimpleWorker process{'es' if key > 1 else ''}"
        goal = GOALS_PER_MINUTE.get(key)
        versus = f"{rate * 60 / goal:7.2f}x" if goal else ""
        print(f"{name:34} {rate:13.0f} {rate * 60:11.0f} {rate / baseline:8.2f} {goal or '':>9} {versus:>8}")


if __name__ == "__main__":
    main()
