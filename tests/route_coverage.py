"""Route coverage gate: every URL rule of the app is exercised by the suite.

A pytest plugin (registered from tests/conftest.py). The `app` fixture hands the app to
`route_coverage.watch(app)`; from then on every request the app answers — through a Flask
test client or over real HTTP from the `live_server` thread — is recorded by its URL rule,
method and outcome. At the end of a full run the session FAILS when a rule (static files
aside) was never answered with a success for one of its methods (HEAD and OPTIONS aside),
or when a rule taking POST, PUT, PATCH or DELETE was never answered with a refusal (4xx).

Outcomes, from the status and from what answered:
  success  2xx or 3xx from the view
  refused  4xx from the view or its decorators (wrong user, other tenant, wrong state,
           bad input, 404 for a missing object...)
  sign-in  Flask-Login sent the visitor to sign in: neither a success nor a refusal,
           so an anonymous request cannot stand in for the signed-in user's test
  guard    4xx answered by an app-wide `before_request` hook before the view was
           reached (a missing CSRF token, a rate limit): it proves nothing about the route
  error    5xx
URLs that match no rule (404, 405) are not recorded.

When the gate applies:
  - ROUTE_COVERAGE=off: never; ROUTE_COVERAGE=on: always (e.g. with `-k` while writing tests).
  - Otherwise only on a complete, green run: no `-k`/`-m`/`--lf`/`--sw`/`--ignore`, no
    deselected tests, no file or node ids narrower than `testpaths`, no failure, no early
    stop (`-x`, `--maxfail`), not `--collect-only`. A subset prints a one-line summary.

pytest-xdist: each worker writes what it recorded (and whether its run was narrowed) to
a JSON file in a temporary folder the controller names in `workerinput`; the controller
merges the files in `pytest_sessionfinish` and decides there.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from flask import request, request_finished

ENV_VAR = "ROUTE_COVERAGE"
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OUTCOMES = ("success", "refused", "sign-in", "guard", "error")
_WORKER_DIR_KEY = "route_coverage_dir"
# Per-request marks live in the WSGI environ: `g` belongs to the app context, which a test
# holding one open shares across all its requests.
_PASSED_GUARDS = "route_coverage.passed_guards"
_SIGN_IN = "route_coverage.sign_in"

try:
    from flask_login import user_unauthorized
except ImportError:  # the gate works for apps without Flask-Login too
    user_unauthorized = None


def pytest_configure(config):
    mode = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if mode not in ("auto", "on", "off"):
        raise pytest.UsageError(f"{ENV_VAR} must be 'on', 'off' or unset, not {mode!r}")
    config.pluginmanager.register(RouteCoverage(config, mode), "route-coverage-gate")


@pytest.fixture(scope="session")
def route_coverage(pytestconfig):
    """The run's route recorder: call `route_coverage.watch(app)` on each app under test."""
    return pytestconfig.pluginmanager.get_plugin("route-coverage-gate")


class RouteCoverage:
    """Records (rule, method) → outcome counts for the watched apps and enforces the gate."""

    def __init__(self, config, mode):
        self.config = config
        self.mode = mode
        self.apps = []
        self.counts = defaultdict(Counter)
        self.lock = threading.Lock()
        self.deselected = 0
        self.worker_dir = None  # set on the xdist controller once a worker is configured
        self.workers = 0
        self.verdict = None

    # -- recording -------------------------------------------------------------------

    def watch(self, app, exclude=lambda rule: rule.endpoint == "static" or rule.endpoint.endswith(".static")):
        """Record every request `app` answers; `exclude(rule)` drops rules from the gate."""
        self.apps.append((app, exclude))
        # Registered after create_app, so it runs after every app-wide hook (CSRF, limits):
        # a 4xx without this mark was answered before the view was reached.
        app.before_request(_mark_passed_guards)
        request_finished.connect(self._record, sender=app, weak=False)
        if user_unauthorized is not None:
            user_unauthorized.connect(_mark_sign_in, sender=app, weak=False)

    def _record(self, sender, response, **_):
        rule = request.url_rule
        if rule is None:
            return
        status = response.status_code
        if status >= 500:
            outcome = "error"
        elif request.environ.get(_SIGN_IN) and status < 400:
            outcome = "sign-in"
        elif status >= 400:
            outcome = "refused" if request.environ.get(_PASSED_GUARDS) else "guard"
        else:
            outcome = "success"
        with self.lock:
            self.counts[(rule.rule, request.method)][outcome] += 1

    def expected(self):
        """{(rule, method): endpoint} for every rule the gate covers, over all watched apps."""
        wanted = {}
        for app, exclude in self.apps:
            for rule in app.url_map.iter_rules():
                if exclude(rule):
                    continue
                for method in sorted((rule.methods or set()) - IGNORED_METHODS):
                    wanted[(rule.rule, method)] = rule.endpoint
        return wanted

    # -- deciding whether this run is complete ----------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_deselected(self, items):
        self.deselected += len(items)

    def narrowed_by(self):
        """Why this run is a subset of the suite, or None when it is the whole suite."""
        option = self.config.option
        flags = [("-k", "keyword"), ("-m", "markexpr"), ("--lf", "lf"), ("--sw", "stepwise"),
                 ("--ignore", "ignore"), ("--ignore-glob", "ignore_glob"), ("--deselect", "deselect"),
                 ("--collect-only", "collectonly")]
        for flag, name in flags:
            if getattr(option, name, None):
                return f"{flag} given"
        if self.deselected:
            return f"{self.deselected} tests deselected"
        if self.config.args_source == pytest.Config.ArgsSource.ARGS:
            roots = self._test_roots()
            for arg in self.config.args:
                if "::" in arg:
                    return f"node {arg} selected"
                path = (self.config.invocation_params.dir / arg).resolve()
                if not any(root == path or path in root.parents for root in roots):
                    return f"{arg} selected"
        return None

    def _test_roots(self):
        rootpath = self.config.rootpath
        testpaths = self.config.getini("testpaths") or ["."]
        return [(rootpath / path).resolve() for path in testpaths]

    # -- xdist ---------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        """Controller: tell each worker where to write what it recorded."""
        if self.worker_dir is None:
            self.worker_dir = tempfile.mkdtemp(prefix="route-coverage-")
        self.workers += 1
        node.workerinput[_WORKER_DIR_KEY] = self.worker_dir

    def _worker_input(self):
        return getattr(self.config, "workerinput", None)

    def _write_worker_file(self):
        workerinput = self._worker_input()
        folder = Path(workerinput[_WORKER_DIR_KEY])
        payload = {
            "expected": [[rule, method, endpoint] for (rule, method), endpoint in self.expected().items()],
            "counts": [[rule, method, dict(counter)] for (rule, method), counter in self.counts.items()],
            "narrowed_by": self.narrowed_by(),
        }
        partial = folder / f"{workerinput['workerid']}.json.part"
        partial.write_text(json.dumps(payload))
        partial.replace(folder / f"{workerinput['workerid']}.json")

    def _merge_worker_files(self):
        """Controller: fold the workers' records into ours; the reason a run is partial, if any."""
        files = sorted(Path(self.worker_dir).glob("*.json"))
        expected, narrowed = {}, None
        for path in files:
            payload = json.loads(path.read_text())
            expected.update({(rule, method): endpoint for rule, method, endpoint in payload["expected"]})
            for rule, method, counter in payload["counts"]:
                self.counts[(rule, method)].update(counter)
            narrowed = narrowed or payload["narrowed_by"]
        if len(files) < self.workers:
            narrowed = narrowed or f"only {len(files)} of {self.workers} workers reported"
        return expected, narrowed

    # -- the verdict ------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self._worker_input() is not None and _WORKER_DIR_KEY in self._worker_input():
            self._write_worker_file()
            return
        if self.worker_dir is not None:
            expected, narrowed = self._merge_worker_files()
        else:
            expected, narrowed = self.expected(), self.narrowed_by()
        missing = find_missing(expected, self.counts)
        enforce, reason = self._should_enforce(session, exitstatus, narrowed, bool(expected))
        self.verdict = {"expected": expected, "missing": missing, "enforce": enforce, "reason": reason}
        if enforce and (missing or not expected):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _should_enforce(self, session, exitstatus, narrowed, watched):
        if self.mode == "off":
            return False, f"{ENV_VAR}=off"
        if self.mode == "on":
            return True, f"{ENV_VAR}=on"
        if exitstatus != pytest.ExitCode.OK or session.testsfailed:
            return False, "the run did not pass"
        if session.shouldstop or session.shouldfail:
            return False, "the run stopped early"
        if narrowed:
            return False, f"a subset ran ({narrowed})"
        return True, "full run"

    def pytest_terminal_summary(self, terminalreporter):
        verdict = self.verdict
        if verdict is None:
            return
        write = terminalreporter.write_line
        expected, missing = verdict["expected"], verdict["missing"]
        covered = len(expected) - len({key for key, _ in missing})
        counts = f"{covered}/{len(expected)} rule methods fully exercised"
        if not verdict["enforce"]:
            write(f"route coverage: not enforced, {verdict['reason']}; {counts}")
            return
        if not expected:
            terminalreporter.write_sep("=", "route coverage: FAILED", red=True)
            write("no app was watched: the `app` fixture must call route_coverage.watch(app)")
            return
        if not missing:
            write(f"route coverage: every rule exercised ({counts})", green=True)
            return
        terminalreporter.write_sep("=", f"route coverage: FAILED, {len(missing)} missing", red=True)
        width = max(len(f"{method} {rule}") for (rule, method), _ in missing)
        for (rule, method), what in missing:
            seen = self.counts.get((rule, method))
            seen_text = ", ".join(f"{n} {o}" for o, n in sorted(seen.items())) if seen else "never requested"
            write(f"  {f'{method} {rule}':<{width}}  {what}  (seen: {seen_text}; {expected[(rule, method)]})")
        write("Each rule needs a test answered 2xx/3xx by the view as the right user, and each "
              "POST/PUT/PATCH/DELETE a test refused with a 4xx (wrong user, other tenant, wrong "
              "state, bad input) asserting nothing was written. Subset runs are not gated; "
              f"{ENV_VAR}=on forces the gate, {ENV_VAR}=off skips it.")

    def pytest_unconfigure(self):
        for app, _ in self.apps:
            request_finished.disconnect(self._record, sender=app)
            if user_unauthorized is not None:
                user_unauthorized.disconnect(_mark_sign_in, sender=app)
        if self.worker_dir is not None:
            shutil.rmtree(self.worker_dir, ignore_errors=True)


def find_missing(expected, counts):
    """[((rule, method), "what is missing"), ...] sorted by rule then method."""
    missing = []
    for (rule, method) in sorted(expected):
        seen = counts.get((rule, method), Counter())
        lacks = []
        if not seen["success"]:
            lacks.append("no success (2xx/3xx)")
        if method in WRITE_METHODS and not seen["refused"]:
            lacks.append("no refusal (4xx)")
        if lacks:
            missing.append(((rule, method), " and ".join(lacks)))
    return missing


def _mark_passed_guards():
    request.environ[_PASSED_GUARDS] = True


def _mark_sign_in(sender, **_):
    request.environ[_SIGN_IN] = True
