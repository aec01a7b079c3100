"""Processes and ports the tests start: the sandbox, an `rq worker`, free loopback ports."""

import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.streaming import gunicorn_command
from tests import loopback
from tests.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_ok(url):
    """True when `url` answers 200 (a health check)."""
    try:
        return loopback.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def sandbox_answers(url):
    """True when the sandbox at `url` answers its health check."""
    return answers_ok(url + "/_sandbox/health")


def start_sandbox(app, port, database, app_base_url, deliver_webhooks=True, smtp_port=0):
    """The Stripe/Whop sandbox as its own process on `port`, keeping its state in `database`,
    with its mail catcher on `smtp_port` (0: none); returns the Popen once it answers."""
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SANDBOX_DATABASE": str(database),
        "SANDBOX_SMTP_PORT": str(smtp_port),
        "APP_BASE_URL": app_base_url,
        "SANDBOX_PUBLIC_URL": url,
        "SANDBOX_DELIVER_WEBHOOKS": "1" if deliver_webhooks else "0",
        "STRIPE_WEBHOOK_SECRET": app.config["STRIPE_WEBHOOK_SECRET"],
        "WHOP_WEBHOOK_SECRET": app.config["WHOP_WEBHOOK_SECRET"],
        "PYTHONPATH": str(REPO_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.sandbox", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: sandbox_answers(url), timeout=60, message="sandbox did not start")
    return process


def stop_process(process):
    process.terminate()
    process.wait(timeout=10)


class OwnSandbox:
    """A sandbox process of a test's own — on a free port, with its own database, delivering no
    webhooks — that the test can stop (Stripe unreachable) and start again (Stripe is back,
    remembering everything it did)."""

    def __init__(self, app, directory):
        self.app, self.port, self.database = app, free_port(), directory / "sandbox.db"
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        if self.process is None:
            self.process = start_sandbox(
                self.app, self.port, self.database, self.app.config["APP_BASE_URL"], deliver_webhooks=False
            )

    def stop(self):
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def start_worker(database_url, redis_url, *options, env=None):
    """`rq worker` (SimpleWorker, not burst) on the webhooks queue, as production runs it;
    `options` are extra `rq worker` flags (e.g. "--with-scheduler"), `env` extra variables."""
    env = {
        **os.environ,
        **(env or {}),
        "TRADEPOST_ENV": "test",
        "TEST_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
        "PYTHONPATH": str(REPO_ROOT),
    }
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "rq"),
            "worker",
            "--worker-class",
            "rq.worker.SimpleWorker",
            "--url",
            redis_url,
            *options,
            "webhooks",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def worker_process(database_url, redis_url, *options, env=None):
    """`start_worker` for the block; killed (SIGKILL) at its end if it is still running."""
    worker = start_worker(database_url, redis_url, *options, env=env)
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)


def start_cron(redis_url):
    """`rq cron` with the app's schedule (app/tasks/schedule.py), as production runs it."""
    env = {**os.environ, "TRADEPOST_ENV": "test", "REDIS_URL": redis_url, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "rq"), "cron", "--url", redis_url, "app.tasks.schedule"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stream_answers(url):
    """True when the Legends streaming process at `url` answers its health check."""
    try:
        return loopback.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start_stream(app, port, redis_url, log_path=None, env=None):
    """The Legends live-updates process as production runs it (gunicorn, one gevent worker)
    on `port`, on `redis_url`, checking links with the app's SECRET_KEY; returns the Popen
    once it answers. Its output goes to `log_path` (else nowhere)."""
    env = {
        **os.environ,
        **(env or {}),
        "TRADEPOST_ENV": "test",
        "REDIS_URL": redis_url,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "APP_BASE_URL": app.config["APP_BASE_URL"],
        "PYTHONPATH": str(REPO_ROOT),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
    process = subprocess.Popen(
        gunicorn_command(f"127.0.0.1:{port}", "--workers", "1"),
        cwd=REPO_ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    if log_path:
        output.close()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: process.poll() is not None or stream_answers(url), timeout=60, message="stream did not start")
    if process.poll() is not None:
        raise RuntimeError(f"the stream process exited with {process.returncode}")
    return process


def start_hello_app(port, tradepost_url, app_id, app_secret):
    """The example app (examples/hello_app) as its own process on `port`, for the app `app_id`
    of the Tradepost at `tradepost_url`; returns the Popen once it answers."""
    env = {
        **os.environ,
        "TRADEPOST_URL": tradepost_url,
        "TRADEPOST_APP_ID": app_id,
        "TRADEPOST_APP_SECRET": app_secret,
        "JWKS_REFRESH_COOLDOWN": "0",
        "PYTHONPATH": str(REPO_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.hello_app", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/health"
    wait_until(lambda: answers_ok(url), timeout=30, message="the hello app did not start")
    return process
