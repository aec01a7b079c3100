"""/healthz (alive) and /readyz (every dependency, each named) against real processes: an
`rq worker` and `rq cron` started here, killed here; the sandbox as the payments provider."""

import signal
import time

import pytest

from app.queue import enqueue
from tests.processes import start_cron, start_worker
from tests.waiting import wait_until

HEARTBEAT = 3.0  # seconds of silence after which a worker counts as dead (test setting)
WORKER_TTL = "16"  # rq worker --worker-ttl 16: it beats every 16 - 15 = 1 s while idle


@pytest.fixture
def ready_app(app, own_sandbox, monkeypatch):
    """The app with a short worker heartbeat, paying through a sandbox process of its own."""
    monkeypatch.setitem(app.config, "WORKER_HEARTBEAT_SECONDS", HEARTBEAT)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", own_sandbox.url)
    return app


@pytest.fixture
def processes():
    started = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def readiness(client):
    response = client.get("/readyz")
    return response.status_code, response.json


def test_healthz_answers_while_dependencies_are_down(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_ready_when_every_dependency_answers(ready_app, client, database_url, redis_url, processes):
    status, body = readiness(client)
    assert status == 503
    assert body["checks"]["workers"] == "error: no RQ worker is running"
    assert body["checks"]["scheduler"] == "error: no cron scheduler (rq cron) is running"
    processes.append(start_worker(database_url, redis_url, "--worker-ttl", WORKER_TTL))
    processes.append(start_cron(redis_url))
    status, body = wait_until(lambda: (r := readiness(client))[0] == 200 and r, timeout=60, message="not ready")
    assert body == {
        "status": "ok",
        "failing": [],
        "checks": {
            "database": "ok",
            "redis": "ok",
            "workers": "ok (1 alive)",
            "scheduler": "ok",
            "queue_lag": "ok",
            "payments": "ok",
        },
    }


def test_a_killed_worker_turns_readyz_red_within_its_heartbeat(ready_app, client, database_url, redis_url, processes):
    worker = start_worker(database_url, redis_url, "--worker-ttl", WORKER_TTL)
    processes.append(worker)
    wait_until(lambda: readiness(client)[1]["checks"]["workers"] == "ok (1 alive)", timeout=60, message="no worker")
    worker.send_signal(signal.SIGKILL)  # no goodbye: it stays registered in Redis
    worker.wait(timeout=10)
    killed_at = time.monotonic()
    status, body = wait_until(
        lambda: (r := readiness(client))[1]["checks"]["workers"].startswith("error") and r,
        timeout=HEARTBEAT + 5,
        interval=0.1,
        message="a killed worker still counted",
    )
    assert time.monotonic() - killed_at <= HEARTBEAT + 1.0
    assert status == 503 and "workers" in body["failing"]
    assert body["checks"]["workers"].startswith(f"error: no heartbeat for {HEARTBEAT:g} s from ")
    assert body["checks"]["workers"].endswith("(0 alive)")


def test_a_stopped_worker_leaves_no_worker(ready_app, client, database_url, redis_url, processes):
    worker = start_worker(database_url, redis_url, "--worker-ttl", WORKER_TTL)
    processes.append(worker)
    wait_until(lambda: readiness(client)[1]["checks"]["workers"] == "ok (1 alive)", timeout=60, message="no worker")
    worker.terminate()  # a clean stop unregisters it at once
    worker.wait(timeout=20)
    assert readiness(client)[1]["checks"]["workers"] == "error: no RQ worker is running"


def test_queue_lag_and_an_unreachable_provider_are_named(ready_app, client, own_sandbox, monkeypatch):
    monkeypatch.setitem(ready_app.config, "QUEUE_LAG_SECONDS", 0.5)
    with ready_app.app_context():
        enqueue("app.tasks.sweeps.prune_notifications")  # nobody works the default queue here
    assert readiness(client)[1]["checks"]["queue_lag"] == "ok"
    time.sleep(0.6)
    status, body = readiness(client)
    assert status == 503 and body["checks"]["queue_lag"].startswith(
        "error: oldest job waiting longer than 0.5 s: default "
    )
    assert body["checks"]["payments"] == "ok"
    own_sandbox.stop()
    assert readiness(client)[1]["checks"]["payments"] == "error: sandbox unreachable: ConnectError"
