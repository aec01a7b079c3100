"""Route coverage gate: every URL rule of the app is exercised by the suite.

A pytest plugin, registered from tests/conftest.py. The `app` fixture hands the app to
`route_coverage.watch(app, ...)`; from then on every request the app answers — through a
Flask test client or over real HTTP from the `live_server` thread, which serves the same app
object — is recorded by URL rule, method and outcome. At the end of a full run the session
FAILS when a rule (static files aside) was never answered with a success for one of its
methods (HEAD and OPTIONS aside), or when a rule taking POST, PUT, PATCH or DELETE was never
answered with a refusal (4xx). The terminal summary names each missing rule and method.

Outcomes, from the status and from what answered:
  success  2xx or 3xx from the view
  refused  4xx from the view or its decorators (wrong user, other tenant, wrong state,
           bad input, 404 for somebody else's object...)
  sign-in  Flask-Login sent the visitor to sign in: neither a success nor a refusal,
           so an anonymous request cannot stand in for the signed-in user's test
  guard    4xx answered by an app-wide `before_request` hook before the view was reached
           (a missing CSRF token, a rate limit): not a refusal of the route itself, except
           for the endpoints declared `refused_by_guard` (routes that take no input)
  error    5xx
URLs that match no rule (404, 405) are not recorded.

Declared in the `watch()` call, reviewed like code:
  refused_by_guard  endpoints whose only possible refusal is the app-wide guard (sign-out
                    takes no input: refusing a cross-site POST is all it can refuse)
  known_gaps        {(method, rule): why} missing today for a reason tracked elsewhere;
                    listed, not failed. A known gap that is covered, or names no rule,
                    fails the run until it is removed, so the list cannot go stale.

When the gate applies:
  - ROUTE_COVERAGE=off: never; ROUTE_COVERAGE=on: always (use it with -k while writing tests).
  - Otherwise only on a complete, green run: no -k/-m/--lf/--sw/--ignore/--deselect, no
    deselected tests, no file or node ids narrower than `testpaths`, no failure, no early
    stop (-x, --maxfail), not --collect-only. A subset run prints a one-line summary.

pytest-xdist: the controller names a temporary folder in each worker's `workerinput`; each
worker writes what it recorded (and whether its run was narrowed) to a JSON file there at
the end of its session; the controller merges the files in `pytest_sessionfinish`.
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
PLUGIN_NAME = "route-coverage-gate"
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WORKER_DIR_KEY = "route_coverage_dir"
# Suites run on their own, with their own processes (`make test-browser`): ignoring them
# (pytest.ini does) does not make a run of this suite a subset.
SEPARATE_SUITES = ("tests/browser",)
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
    config.pluginmanager.register(RouteCoverage(config, mode), PLUGIN_NAME)


@pytest.fixture(scope="session")
def route_coverage(pytestconfig):
    """The run's route recorder: call `route_coverage.watch(app)` on each app under test."""
    return pytestconfig.pluginmanager.get_plugin(PLUGIN_NAME)


def is_static(rule):
    return rule.endpoint == "static" or rule.endpoint.endswith(".static")


class RouteCoverage:
    """Records (rule, method) → outcome counts for the watched apps and enforces the gate."""

    def __init__(self, config, mode):
        self.config = config
        self.mode = mode
        self.apps = []
        self.counts = defaultdict(Counter)
        self.lock = threading.Lock()
        self.deselected = 0
        self.worker_dir = None  # the xdist controller's folder for the workers' files
        self.workers = 0
        self.verdict = None

    # -- recording -----------------------------------------------------------------------

    def watch(self, app, *, refused_by_guard=(), known_gaps=None, exclude=is_static):
        """Record every request `app` answers. Call before its first request."""
        self.apps.append(
            {
                "app": app,
                "exclude": exclude,
                "refused_by_guard": frozenset(refused_by_guard),
                "known_gaps": dict(known_gaps or {}),
            }
        )
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

    def plan(self):
        """What the watched apps require: the rule methods expected, the known gaps, and any
        `refused_by_guard` endpoint that does not exist."""
        expected, known_gaps, unknown = {}, {}, []
        for watched in self.apps:
            unknown += sorted(watched["refused_by_guard"] - set(watched["app"].view_functions))
            for rule in watched["app"].url_map.iter_rules():
                if watched["exclude"](rule):
                    continue
                for method in sorted((rule.methods or set()) - IGNORED_METHODS):
                    expected[(rule.rule, method)] = {
                        "endpoint": rule.endpoint,
                        "refused_by_guard": rule.endpoint in watched["refused_by_guard"],
                    }
            known_gaps.update({(rule, method): why for (method, rule), why in watched["known_gaps"].items()})
        return {"expected": expected, "known_gaps": known_gaps, "unknown_refused_by_guard": unknown}

    # -- is this run the whole suite? ------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_deselected(self, items):
        self.deselected += len(items)

    def narrowed_by(self):
        """Why this run is a subset of the suite, or None when it is the whole suite."""
        option = self.config.option
        flags = [
            ("-k", "keyword"),
            ("-m", "markexpr"),
            ("--lf", "lf"),
            ("--sw", "stepwise"),
            ("--ignore", "ignore"),
            ("--ignore-glob", "ignore_glob"),
            ("--deselect", "deselect"),
            ("--collect-only", "collectonly"),
        ]
        for flag, name in flags:
            value = getattr(option, name, None)
            if name == "ignore" and value:
                # Suites that run on their own (the browser journeys) are not part of this one.
                value = [path for path in value if self._resolve(path) not in self._separate_suites()]
            if value:
                return f"{flag} given"
        if self.deselected:
            return f"{self.deselected} tests deselected"
        if self.config.args_source == pytest.Config.ArgsSource.ARGS:
            roots = self._test_roots()
            for arg in self.config.args:
                if "::" in arg:
                    return f"{arg} selected"
                path = (self.config.invocation_params.dir / arg).resolve()
                if not any(root == path or path in root.parents for root in roots):
                    return f"{arg} selected"
        return None

    def _resolve(self, path):
        return (self.config.invocation_params.dir / path).resolve()

    def _separate_suites(self):
        return [(self.config.rootpath / path).resolve() for path in SEPARATE_SUITES]

    def _test_roots(self):
        testpaths = self.config.getini("testpaths") or ["."]
        return [(self.config.rootpath / path).resolve() for path in testpaths]

    # -- xdist ---------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        """Controller: tell each worker where to write what it recorded."""
        if self.worker_dir is None:
            self.worker_dir = tempfile.mkdtemp(prefix="route-coverage-")
        self.workers += 1
        node.workerinput[_WORKER_DIR_KEY] = self.worker_dir

    def _worker_dir_given(self):
        workerinput = getattr(self.config, "workerinput", None)
        return workerinput is not None and _WORKER_DIR_KEY in workerinput

    def _write_worker_file(self):
        workerinput = self.config.workerinput
        plan = self.plan()
        payload = {
            "expected": [[rule, method, item] for (rule, method), item in plan["expected"].items()],
            "known_gaps": [[rule, method, why] for (rule, method), why in plan["known_gaps"].items()],
            "unknown_refused_by_guard": plan["unknown_refused_by_guard"],
            "counts": [[rule, method, dict(counter)] for (rule, method), counter in self.counts.items()],
            "narrowed_by": self.narrowed_by(),
        }
        folder = Path(workerinput[_WORKER_DIR_KEY])
        partial = folder / f"{workerinput['workerid']}.json.part"
        partial.write_text(json.dumps(payload))
        partial.replace(folder / f"{workerinput['workerid']}.json")

    def _merge_worker_files(self):
        """Controller: fold the workers' records into ours; (plan, why the run is partial)."""
        files = sorted(Path(self.worker_dir).glob("*.json"))
        plan, narrowed = {"expected": {}, "known_gaps": {}, "unknown_refused_by_guard": []}, None
        for path in files:
            payload = json.loads(path.read_text())
            plan["expected"].update({(rule, method): item for rule, method, item in payload["expected"]})
            plan["known_gaps"].update({(rule, method): why for rule, method, why in payload["known_gaps"]})
            plan["unknown_refused_by_guard"] = payload["unknown_refused_by_guard"]
            for rule, method, counter in payload["counts"]:
                self.counts[(rule, method)].update(counter)
            narrowed = narrowed or payload["narrowed_by"]
        if len(files) < self.workers:
            narrowed = narrowed or f"only {len(files)} of {self.workers} workers reported"
        return plan, narrowed

    # -- the verdict ---------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self._worker_dir_given():
            self._write_worker_file()
            return
        if self.worker_dir is not None:
            plan, narrowed = self._merge_worker_files()
        else:
            plan, narrowed = self.plan(), self.narrowed_by()
        problems, gaps = find_missing(plan, self.counts)
        enforce, reason = self._should_enforce(session, exitstatus, narrowed)
        self.verdict = {"plan": plan, "problems": problems, "gaps": gaps, "enforce": enforce, "reason": reason}
        if enforce and (problems or not plan["expected"]):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _should_enforce(self, session, exitstatus, narrowed):
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
        expected, problems, gaps = verdict["plan"]["expected"], verdict["problems"], verdict["gaps"]
        short = {key for key, _ in problems} | {key for key, _ in gaps}
        tally = f"{len(expected) - len(short & expected.keys())}/{len(expected)} rule methods exercised"
        if not verdict["enforce"]:
            write(f"route coverage: not enforced, {verdict['reason']}; {tally}")
            return
        if not expected:
            terminalreporter.write_sep("=", "route coverage: FAILED", red=True)
            write("no app was watched: the app fixture must call route_coverage.watch(app)")
            return
        if problems:
            terminalreporter.write_sep("=", f"route coverage: FAILED, {len(problems)} missing", red=True)
        else:
            terminalreporter.write_sep("=", f"route coverage: passed, {tally}", green=True)
        width = max((len(f"{method} {rule}") for (rule, method), _ in problems + gaps), default=0)
        for (rule, method), what in problems:
            write(f"  {f'{method} {rule}':<{width}}  {what}  ({self._seen(rule, method, expected)})")
        for (rule, method), why in gaps:
            write(f"  {f'{method} {rule}':<{width}}  known gap: {why}")
        if problems:
            write(
                "Each rule needs a test its view answers with a 2xx/3xx as the right user, and each "
                "POST/PUT/PATCH/DELETE rule a test it refuses with a 4xx (wrong user, other tenant, "
                "wrong state, bad input) writing nothing. Subset runs are not gated; "
                f"{ENV_VAR}=on forces the gate, {ENV_VAR}=off skips it."
            )

    def _seen(self, rule, method, expected):
        seen = self.counts.get((rule, method))
        text = ", ".join(f"{n} {outcome}" for outcome, n in sorted(seen.items())) if seen else "never requested"
        endpoint = expected.get((rule, method), {}).get("endpoint")
        return f"seen: {text}; {endpoint}" if endpoint else f"seen: {text}"

    def pytest_unconfigure(self):
        for watched in self.apps:
            request_finished.disconnect(self._record, sender=watched["app"])
            if user_unauthorized is not None:
                user_unauthorized.disconnect(_mark_sign_in, sender=watched["app"])
        if self.worker_dir is not None:
            shutil.rmtree(self.worker_dir, ignore_errors=True)


def find_missing(plan, counts):
    """(problems, known gaps still open): lists of ((rule, method), text), sorted by rule."""
    problems, gaps = [], []
    known = plan["known_gaps"]
    for key in sorted(plan["expected"]):
        item, seen = plan["expected"][key], counts.get(key, Counter())
        refusals = seen["refused"] + (seen["guard"] if item["refused_by_guard"] else 0)
        lacks = []
        if not seen["success"]:
            lacks.append("no success (2xx/3xx)")
        if key[1] in WRITE_METHODS and not refusals:
            lacks.append("no refusal (4xx)")
        if key in known:
            if lacks:
                gaps.append((key, f"{known[key]} [{' and '.join(lacks)}]"))
            else:
                problems.append((key, "covered now: remove it from the known gaps"))
        elif lacks:
            problems.append((key, " and ".join(lacks)))
    for key in sorted(set(known) - set(plan["expected"])):
        problems.append((key, "declared a known gap, but the app has no such rule and method"))
    for endpoint in plan["unknown_refused_by_guard"]:
        problems.append(((endpoint, "refused_by_guard"), "declared, but the app has no such endpoint"))
    return problems, gaps


def _mark_passed_guards():
    request.environ[_PASSED_GUARDS] = True


def _mark_sign_in(sender, **_):
    request.environ[_SIGN_IN] = True
