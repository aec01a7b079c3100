"""The real Tradepost stack as separate processes on free loopback ports, for browser tests.

What an operator runs, configured the way an operator configures it (environment variables
only): a fresh database migrated with `flask db upgrade heads`, a private redis-server, the
web app under gunicorn with sync workers (as in the Procfile), an RQ SimpleWorker, the RQ
cron process, the Stripe/Whop sandbox and the Legends live-updates process (gunicorn with a
gevent worker). Each process writes its output to a log file under the artifacts directory;
`log_errors()` reads the web, worker and stream logs for 5xx answers and tracebacks.

`python -m tests.browser.stack` starts the stack, prints its URLs and waits for Ctrl-C
(handy to look at the pages the tests see).
"""

from __future__ import annotations

import base64
import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.config import database_url as normalize_database_url
from app.devredis import server_args
from app.services.user_tokens import new_private_key_pem
from app.streaming import gunicorn_command

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# A 5xx in gunicorn's access log (format below); a traceback in the web, worker or stream log.
ACCESS_5XX = re.compile(r'^access (5\d\d) "([^"]*)"', re.MULTILINE)
TRACEBACK = re.compile(r"^Traceback \(most recent call last\)|unhandled error on", re.MULTILINE)


try:  # resolved here, in the parent: the child between fork and exec only calls it
    _PRCTL = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except OSError:
    _PRCTL = None
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child, before exec: receive SIGTERM when the test run dies, even by SIGKILL,
    so no web, worker or sandbox process outlives it (Linux; a no-op elsewhere)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    log_file: object

    def running(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Stack:
    """Start with `start()`, stop with `stop()`; `env` is what every process gets."""

    artifacts: Path
    database: str | None = None  # a PostgreSQL URL to empty and use; None: a temp SQLite file
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self):
        self.artifacts = Path(self.artifacts)
        self.logs = self.artifacts / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="tp-browser-"))
        self.ports = {name: free_port() for name in ("web", "sandbox", "redis", "smtp", "stream")}
        self.base_url = f"http://127.0.0.1:{self.ports['web']}"
        self.sandbox_url = f"http://127.0.0.1:{self.ports['sandbox']}"
        self.redis_url = f"redis://127.0.0.1:{self.ports['redis']}/0"
        self.stream_url = f"http://127.0.0.1:{self.ports['stream']}"
        self.database_url = self.database or f"sqlite:///{self.workdir / 'tradepost.db'}"
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("TRADEPOST_", "DATABASE_", "REDIS_", "SANDBOX_", "STRIPE_", "WHOP_", "MAIL_"))
            },
            "TRADEPOST_ENV": "development",
            "FLASK_APP": "app",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "APP_BASE_URL": self.base_url,
            "SANDBOX_ENABLED": "1",
            "SANDBOX_URL": self.sandbox_url,
            "SANDBOX_PUBLIC_URL": self.sandbox_url,
            "SANDBOX_DATABASE": str(self.workdir / "sandbox.db"),
            # the sandbox's mail catcher, where the app's mail goes (SANDBOX_URL/_sandbox/mail.json)
            "SANDBOX_SMTP_PORT": str(self.ports["smtp"]),
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(self.ports["smtp"]),
            "STRIPE_SECRET_KEY": "sk_test_" + secrets.token_hex(12),
            "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
            "WHOP_WEBHOOK_SECRET": "ws_" + secrets.token_hex(16),
            "LICENSE_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "APP_TOKEN_SIGNING_KEYS": new_private_key_pem(),
            "UPLOAD_DIR": str(self.workdir / "uploads"),
            "PAGE_CACHE_SECONDS": "0",
            "LEGENDS_STREAM_PORT": str(self.ports["stream"]),
            "LEGENDS_STREAM_URL": self.stream_url,
        }

    # -- processes ---------------------------------------------------------------------

    def spawn(self, name: str, args: list[str]) -> Process:
        log_path = self.logs / f"{name}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 (closed in stop())
        popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        process = Process(name, popen, log_path, log_file)
        self.processes.append(process)
        return process

    def flask(self, *args: str, timeout: float = 120) -> str:
        """Run `flask ARGS` as an operator would; returns its output, raises on failure."""
        result = subprocess.run(
            [str(BIN / "flask"), *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        with open(self.logs / "cli.log", "a") as log:
            log.write(f"$ flask {' '.join(args)}\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def wait_for(self, url: str, process: Process, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if not process.running():
                raise RuntimeError(f"{process.name} exited; see {process.log_path}:\n{self.tail(process)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{process.name} did not answer {url} within {timeout}s:\n{self.tail(process)}")
            time.sleep(0.1)

    @staticmethod
    def tail(process: Process, lines: int = 40) -> str:
        return "\n".join(process.log_path.read_text(errors="replace").splitlines()[-lines:])

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        self._fresh_database()
        redis = self.spawn("redis", server_args(self.ports["redis"], self.workdir))
        self._wait_for_redis(redis)
        self.flask("db", "upgrade", "heads")
        sandbox = self.spawn(
            "sandbox",
            [sys.executable, "-m", "app.sandbox", "--host", "127.0.0.1", "--port", str(self.ports["sandbox"])],
        )
        self.wait_for(self.sandbox_url + "/_sandbox/health", sandbox)
        self.spawn(
            "worker",
            [
                str(BIN / "rq"),
                "worker",
                "--with-scheduler",
                "--worker-class",
                "rq.worker.SimpleWorker",
                "--url",
                self.redis_url,
                "default",
                "webhooks",
                "scheduled",
            ],
        )
        self.spawn("cron", [str(BIN / "rq"), "cron", "--url", self.redis_url, "app.tasks.schedule"])
        stream = self.spawn("stream", gunicorn_command(f"127.0.0.1:{self.ports['stream']}", "--error-logfile", "-"))
        self.wait_for(self.stream_url + "/healthz", stream)
        web = self.spawn(
            "web",
            [
                str(BIN / "gunicorn"),
                "--workers",
                "2",
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.ports['web']}",
                "--timeout",
                "60",
                "--access-logfile",
                "-",
                "--error-logfile",
                "-",
                "--access-logformat",
                'access %(s)s "%(r)s" %(M)sms',
                "wsgi:app",
            ],
        )
        self.wait_for(self.base_url + "/healthz", web)

    def _wait_for_redis(self, process: Process, timeout: float = 10):
        from redis import Redis

        client = Redis.from_url(self.redis_url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return
            except Exception:
                if not process.running() or time.monotonic() > deadline:
                    raise RuntimeError(f"redis did not start:\n{self.tail(process)}") from None
                time.sleep(0.05)
            finally:
                client.close()

    def _fresh_database(self):
        """An empty database: PostgreSQL's public schema dropped and recreated."""
        if not self.database_url.startswith(("postgres://", "postgresql")):
            return
        import psycopg

        url = normalize_database_url(self.database_url).replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")

    def stop(self):
        """Stop every process, last started first, each before the next (so the worker never
        sees Redis vanish under it): TERM, then KILL after 15 s. Closes the logs."""
        for process in reversed(self.processes):
            if process.running():
                os.killpg(process.popen.pid, signal.SIGTERM)
                try:
                    process.popen.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.popen.pid, signal.SIGKILL)
                    process.popen.wait(timeout=10)
            process.log_file.close()
        self.processes.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- log checks ---------------------------------------------------------------------

    CHECKED_LOGS = ("web", "worker", "stream")

    def log_sizes(self) -> dict[str, int]:
        return {
            name: (self.logs / f"{name}.log").stat().st_size
            for name in self.CHECKED_LOGS
            if (self.logs / f"{name}.log").exists()
        }

    def log_errors(self, since: dict[str, int] | None = None) -> list[str]:
        """5xx answers in the web log, and tracebacks in the web or worker log (a failed job),
        written after the byte offsets in `since`."""
        problems = []
        for name in self.CHECKED_LOGS:
            if not (self.logs / f"{name}.log").exists():  # a process this stack did not start
                continue
            with open(self.logs / f"{name}.log", "rb") as log:
                log.seek((since or {}).get(name, 0))
                text = log.read().decode(errors="replace")
            problems += [f"{name}: {status} {request}" for status, request in ACCESS_5XX.findall(text)]
            if match := TRACEBACK.search(text):
                problems.append(f"{name}: traceback:\n" + text[match.start() :][:4000])
        return problems


def main():
    artifacts = ROOT / "test-artifacts" / "browser"
    stack = Stack(artifacts, database=os.environ.get("TEST_DATABASE_URL")).start()
    print(stack.flask("seed-demo"))
    print(
        f"web {stack.base_url}\nsandbox {stack.sandbox_url}\nlive {stack.stream_url}\n"
        f"mail {stack.sandbox_url}/_sandbox/mail\n"
        f"logs {stack.logs}\nCtrl-C stops.",
        flush=True,
    )
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
