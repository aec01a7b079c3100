"""Multiprocess metrics: gunicorn's workers and an RQ worker, separate processes sharing
PROMETHEUS_MULTIPROC_DIR, add up in the one /metrics answer."""

import os
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.extensions import db
from app.services.companies import create_seller_company
from app.services.outbound import endpoints, outbox
from app.services.outbound.catalogue import example_data
from tests import loopback
from tests.processes import REPO_ROOT, free_port, start_worker
from tests.waiting import wait_until

pytestmark = pytest.mark.committed


def start_gunicorn(port, database_url, redis_url, metrics_dir):
    """gunicorn as the Procfile runs it (2 sync workers, gunicorn.conf.py), on the test config."""
    env = {
        **os.environ,
        "TRADEPOST_ENV": "test",
        "TEST_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PYTHONPATH": str(REPO_ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def samples(url):
    found = {}
    for family in text_string_to_metric_families(loopback.get(url + "/metrics", timeout=10).text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def answers(url):
    try:
        return loopback.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_web_and_worker_processes_add_up_in_one_metrics_answer(app, database_url, redis_url, sink, tmp_path, make_user):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web = start_gunicorn(port, database_url, redis_url, metrics_dir)
    worker = start_worker(database_url, redis_url, env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    try:
        wait_until(lambda: answers(url), timeout=60, message="gunicorn did not start")
        for _ in range(5):
            assert loopback.get(url + "/healthz").status_code == 200
        with app.app_context():
            owner = make_user(intent="sell")
            company = create_seller_company(owner, "Multi Studio")
            endpoints.create_endpoint(company, sink.url + "/mp")
            db.session.commit()
            sink.respond_with(500, "down", path="/mp")
            outbox.record_event(company.id, "order.created", example_data("order.created", order_id=1))
            db.session.commit()  # the dispatch job goes to Redis, where the worker process takes it
        sink.wait_for("/mp")
        retrying = (("outcome", "retrying"),)
        lag = ("tradepost_webhook_delivery_lag_seconds_count", ())
        # The worker counts the delivery, then observes its lag: wait for both (asserted below).
        found = wait_until(
            lambda: (
                (s := samples(url)).get(("tradepost_webhook_deliveries_total", retrying)) == 1
                and s.get(lag, 0) >= 1
                and s
            ),
            timeout=30,
            message="the worker's delivery never showed in gunicorn's /metrics",
        )
        healthz = (("endpoint", "ops.healthz"), ("method", "GET"), ("status", "200"))
        assert found[("tradepost_http_requests_total", healthz)] >= 6  # the readiness wait's, and ours
        assert found[lag] == 1
        files = {path.name for path in metrics_dir.iterdir()}
        assert f"counter_{worker.pid}.db" in files  # the worker's own file...
        assert len([name for name in files if name.startswith("counter_")]) >= 2  # ...and gunicorn's
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            try:
                process.wait(timeout=60)  # gunicorn stops its workers gracefully; slow on a busy machine
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
