"""The route coverage gate (tests/route_coverage.py), tried on a tiny app in pytester runs.

The tiny app has a page (GET /hello), a form (POST /items: 303 when named, 422 when not),
an app-wide guard standing in for CSRF (POST without `X-Token: ok` → 400), and a signed-in
page behind Flask-Login (GET /private).
"""

import os
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

CONFTEST = """
import threading

import pytest
from flask import Flask, abort, request
from flask_login import LoginManager, UserMixin, login_required, login_user
from werkzeug.serving import make_server

pytest_plugins = ["tests.route_coverage"]
WATCH = {watch}


class Person(UserMixin):
    id = "1"


def make_app():
    app = Flask("tiny")
    app.config.update(SECRET_KEY="tiny", TESTING=True)
    logins = LoginManager(app)
    logins.login_view = "sign_in"
    logins.user_loader(lambda user_id: Person())

    @app.before_request
    def guard():
        if request.method == "POST" and request.headers.get("X-Token") != "ok":
            abort(400)

    @app.get("/hello")
    def hello():
        return "hello"

    @app.post("/items")
    def add_item():
        if not request.form.get("name"):
            abort(422)
        return "", 303, {{"Location": "/hello"}}

    @app.get("/private")
    @login_required
    def private():
        return "private"

    @app.get("/signin")
    def sign_in():
        login_user(Person())
        return "signed in"

    return app


@pytest.fixture(scope="session")
def app(route_coverage):
    app = make_app()
    route_coverage.watch(app, **WATCH)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{{server.server_port}}"
    server.shutdown()
    server.server_close()
"""

HELLO = """
def test_hello(client):
    assert client.get("/hello").data == b"hello"
"""
PRIVATE = """
def test_private(client):
    client.get("/signin")
    assert client.get("/private").data == b"private"
"""
ADD = """
def test_add(client):
    assert client.post("/items", data={"name": "pen"}, headers={"X-Token": "ok"}).status_code == 303
"""
REFUSE = """
def test_add_refused(client):
    assert client.post("/items", data={}, headers={"X-Token": "ok"}).status_code == 422
"""
GUARD = """
def test_add_without_token(client):
    assert client.post("/items", data={"name": "pen"}).status_code == 400
"""
ANONYMOUS_PRIVATE = """
def test_private_signed_out(client):
    assert client.get("/private").status_code == 302
"""
UNMATCHED = """
def test_unmatched_urls(client):
    assert client.get("/nowhere").status_code == 404
    assert client.get("/items").status_code == 405
"""
ALL = HELLO + PRIVATE + ADD + REFUSE


@pytest.fixture
def tiny(pytester, monkeypatch):
    """tiny(tests, watch="{}", **files) writes the tiny app's conftest and test files."""
    monkeypatch.delenv("ROUTE_COVERAGE", raising=False)
    # Only the plugins under test: pytester forgets modules an inner run imports, so a
    # plugin like hypothesis's would be imported afresh by every run (seconds each).
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.syspath_prepend(str(REPO_ROOT))

    def write(tests=None, watch="{}", **files):
        pytester.makeconftest(CONFTEST.format(watch=watch))
        if tests is not None:
            files["test_tiny"] = tests
        pytester.makepyfile(**{name: textwrap.dedent(body) for name, body in files.items()})
        return pytester

    return write


def test_a_route_never_requested_fails_the_run_and_is_named(tiny):
    result = tiny(HELLO + PRIVATE).runpytest()
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*route coverage: FAILED, 1 missing*",
            "*POST /items*no success (2xx/3xx) and no refusal (4xx)*never requested; add_item*",
        ]
    )
    assert "GET /hello" not in result.stdout.str()


def test_every_route_answered_passes(tiny):
    result = tiny(ALL + UNMATCHED).runpytest()
    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*route coverage: passed, 4/4 rule methods exercised*"])


def test_a_write_route_without_a_refusal_fails(tiny):
    result = tiny(HELLO + PRIVATE + ADD).runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*POST /items*no refusal (4xx)  (seen: 1 success; add_item)"])


def test_a_guard_refusal_is_not_the_routes_refusal_unless_declared(tiny):
    result = tiny(HELLO + PRIVATE + ADD + GUARD).runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*POST /items*no refusal (4xx)  (seen: 1 guard, 1 success; add_item)"])

    result = tiny(HELLO + PRIVATE + ADD + GUARD, watch='{"refused_by_guard": {"add_item"}}').runpytest()
    assert result.ret == pytest.ExitCode.OK


def test_a_sign_in_redirect_is_not_a_success(tiny):
    result = tiny(HELLO + ADD + REFUSE + ANONYMOUS_PRIVATE).runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*GET /private*no success (2xx/3xx)  (seen: 1 sign-in; private)"])


def test_requests_over_http_to_the_live_server_count(tiny):
    over_http = """
        import httpx

        def test_everything_over_http(live_server):
            assert httpx.get(live_server + "/hello").text == "hello"
            post = lambda data: httpx.post(live_server + "/items", data=data, headers={"X-Token": "ok"})
            assert post({"name": "pen"}).status_code == 303
            assert post({}).status_code == 422
            with httpx.Client(base_url=live_server) as browser:
                assert browser.get("/signin").status_code == 200
                assert browser.get("/private").text == "private"
    """
    result = tiny(over_http).runpytest()
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize(
    "args, reason",
    [
        (["-k", "hello"], "a subset ran (-k given)"),
        (["-m", "not slow"], "a subset ran (-m given)"),
        (["test_tiny.py"], "a subset ran (test_tiny.py selected)"),
        (["test_tiny.py::test_hello"], "a subset ran (test_tiny.py::test_hello selected)"),
        (["--deselect", "test_other.py::test_add"], "a subset ran (--deselect given)"),
        (["--ignore", "test_other.py"], "a subset ran (--ignore given)"),
    ],
)
def test_a_subset_is_not_enforced(tiny, args, reason):
    result = tiny(HELLO, test_other=ADD).runpytest(*args)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"route coverage: not enforced, {reason}; */4 rule methods exercised"])


def test_ignoring_the_separately_run_browser_suite_is_not_a_subset(tiny):
    pytester = tiny(HELLO)
    (pytester.path / "tests" / "browser").mkdir(parents=True)
    result = pytester.runpytest("--ignore=tests/browser")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*route coverage: FAILED*"])


def test_rerunning_the_last_failures_is_a_subset(tiny):
    pytester = tiny(ALL + "\ndef test_flaky():\n    assert False\n")
    assert pytester.runpytest().ret == pytest.ExitCode.TESTS_FAILED
    tiny(ALL + "\ndef test_flaky():\n    assert True\n")
    result = pytester.runpytest("--lf")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["route coverage: not enforced, a subset ran (--lf given); *"])


def test_the_whole_tree_named_explicitly_is_enforced(tiny):
    pytester = tiny(HELLO)
    assert pytester.runpytest(str(pytester.path)).ret == pytest.ExitCode.TESTS_FAILED


def test_a_run_with_a_failure_or_an_early_stop_is_not_enforced(tiny):
    failing = "\ndef test_broken():\n    assert False\n"
    result = tiny(failing + HELLO).runpytest("-x")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["route coverage: not enforced, the run did not pass; *"])
    result.stdout.no_fnmatch_line("*route coverage: FAILED*")


def test_route_coverage_on_forces_the_gate_and_off_skips_it(tiny, monkeypatch):
    pytester = tiny(HELLO)
    monkeypatch.setenv("ROUTE_COVERAGE", "on")
    forced = pytester.runpytest("-k", "hello")
    assert forced.ret == pytest.ExitCode.TESTS_FAILED
    forced.stdout.fnmatch_lines(["*POST /items*no success*"])

    monkeypatch.setenv("ROUTE_COVERAGE", "off")
    skipped = pytester.runpytest()
    assert skipped.ret == pytest.ExitCode.OK
    skipped.stdout.fnmatch_lines(["route coverage: not enforced, ROUTE_COVERAGE=off; *"])

    monkeypatch.setenv("ROUTE_COVERAGE", "sometimes")
    assert pytester.runpytest().ret == pytest.ExitCode.USAGE_ERROR


def test_known_gaps_are_listed_and_fail_once_covered(tiny):
    gap = '{"known_gaps": {("POST", "/items"): "tracked in issue 1"}}'
    result = tiny(HELLO + PRIVATE, watch=gap).runpytest()
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*POST /items*known gap: tracked in issue 1 ?no success (2xx/3xx) and no refusal (4xx)?"]
    )

    covered = tiny(ALL, watch=gap).runpytest()
    assert covered.ret == pytest.ExitCode.TESTS_FAILED
    covered.stdout.fnmatch_lines(["*POST /items*covered now: remove it from the known gaps*"])


def test_declarations_naming_nothing_fail(tiny):
    watch = '{"known_gaps": {("PUT", "/items"): "old"}, "refused_by_guard": {"gone"}}'
    result = tiny(ALL, watch=watch).runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*PUT /items*declared a known gap, but the app has no such rule and method*",
            "*refused_by_guard gone*declared, but the app has no such endpoint*",
        ]
    )


def test_a_run_that_watched_no_app_fails(tiny):
    result = tiny("def test_nothing():\n    pass\n").runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*no app was watched*"])


@pytest.mark.parametrize(
    "tests, outcome",
    [
        (ALL, pytest.ExitCode.OK),
        (HELLO + PRIVATE + ADD, pytest.ExitCode.TESTS_FAILED),
    ],
)
def test_xdist_workers_records_are_merged(tiny, tests, outcome):
    """Each test in its own file, spread over two worker processes: only the merged
    records cover every route."""
    files = {f"test_part{n}": f"\ndef {chunk.strip()}" for n, chunk in enumerate(tests.split("\ndef ")[1:])}
    result = tiny(**files).runpytest("-p", "xdist.plugin", "-n", "2", "--dist", "loadfile")
    assert result.ret == outcome
    if outcome == pytest.ExitCode.OK:
        result.stdout.fnmatch_lines(["*route coverage: passed, 4/4 rule methods exercised*"])
    else:
        result.stdout.fnmatch_lines(["*POST /items*no refusal (4xx)  (seen: 1 success; add_item)"])


def test_xdist_subset_is_not_enforced(tiny):
    result = tiny(HELLO, test_other=ADD).runpytest("-p", "xdist.plugin", "-n", "2", "-k", "hello")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["route coverage: not enforced, a subset ran (-k given); *"])


def test_xdist_full_run_of_the_testpaths_is_enforced(tiny):
    pytester = tiny(**{"checks/test_hello": HELLO + PRIVATE, "checks/test_items": ADD})
    pytester.makeini("[pytest]\ntestpaths = checks\n")
    result = pytester.runpytest("-p", "xdist.plugin", "-n", "2")
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*POST /items*no refusal (4xx)  (seen: 1 success; add_item)"])
