"""Record which of our functions a flow runs: the traces in docs/traces.md.

A pytest plugin. It watches the functions named as a flow's entry points (a view, a job) while
the tests that drive the flow run, and lists every function under ``app/`` called beneath
them, file by file, in the order first called. Left out: the sandbox (Stripe's stand-in, a
process of its own in real life); the plumbing that runs on every request, query or row
whatever the flow (``app/__init__.py``'s hooks, ``tenancy``, ``session_auth``, ``inputs``,
``logs``, ``extensions``, ``models/types``); and session hooks that did nothing for the flow
(a hook that did is listed after what it called).

    .venv/bin/python -m pytest -p docs.flowtrace -q -p no:randomly $(.venv/bin/python -m docs.flowtrace)

prints the four traces as Markdown after the tests; ``python -m docs.flowtrace`` prints the
test ids that drive them.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from tests.test_import_cycles import _path, import_graph

APP = Path(__file__).resolve().parents[1] / "app"
SKIPPED = (
    "sandbox/",
    "__init__.py",
    "tenancy.py",
    "session_auth.py",
    "inputs.py",
    "logs.py",
    "extensions.py",
    "models/types.py",
)
# Work the tests' set-up causes inside an entry point, not part of the flow: the sandbox's
# `account.updated` for the seller verified before the purchase.
IGNORED_SUBTREES = {"handle_account_updated", "sync_connected_account"}

# flow -> (title, tests that drive it, entry points (file under app/, function, {argument: value}))
FLOWS = {
    "a": (
        "A buyer pays for a gig",
        ["tests/test_buy_e2e.py::test_gig_with_extras_paid_end_to_end"],
        [
            ("blueprints/buy.py", "start", {}),
            ("blueprints/webhooks.py", "stripe_event", {}),
            ("tasks/inbound.py", "process_inbound_event", {}),
        ],
    ),
    "b": (
        "Order completion",
        [
            "tests/test_orders_views.py::test_seller_delivers_and_buyer_accepts",
            "tests/test_orders_sweeps.py::test_delivered_orders_auto_complete_after_three_days_then_clear",
        ],
        [("blueprints/orders.py", "act", {"action": "accept"}), ("tasks/orders.py", "clear_seller_funds", {})],
    ),
    "c": (
        "License activation",
        ["tests/test_licensing_api.py::test_activation_then_validation_with_fingerprints"],
        # blueprints/licensing.py before the view layer's rework (for the *before* column)
        [("blueprints/license_api.py", "activate", {}), ("blueprints/licensing.py", "activate", {})],
    ),
    "d": (
        "An outbound webhook is retried",
        ["tests/test_outbound_delivery.py::test_a_retry_due_at_t_is_attempted_at_t_and_once"],
        [("tasks/outbound.py", "deliver_message", {})],
    ),
}


class Recorder:
    """Per thread, the stack of our frames inside an entry point, each with its flow."""

    def __init__(self):
        self.calls: dict[str, dict[str, list[str]]] = {flow: {} for flow in FLOWS}
        self.local = threading.local()
        self.entries = {
            (entry_file, name): (flow, match)
            for flow, (_title, _tests, entries) in FLOWS.items()
            for entry_file, name, match in entries
        }

    def record(self, flow, relative, name):
        functions = self.calls[flow].setdefault("app/" + relative, [])
        if name not in functions:
            functions.append(name)

    def profile(self, frame, event, _arg):
        if event not in ("call", "return"):
            return
        stack = getattr(self.local, "stack", None)
        if stack is None:
            stack = self.local.stack = []
        if event == "return":
            if stack and stack[-1]["frame"] is frame:
                done = stack.pop()
                # A session or ORM hook counts only where it did something of ours for the flow.
                if done["hook"] and done["busy"] and not done["ignored"]:
                    self.record(done["flow"], done["relative"], done["name"])
            return
        filename = frame.f_code.co_filename
        if not filename.startswith(str(APP)):
            return
        relative = filename[len(str(APP)) + 1 :]
        name = frame.f_code.co_qualname
        parent = stack[-1] if stack else None
        if parent is None:
            found = self.entries.get((relative, frame.f_code.co_name))
            if found is None or any(frame.f_locals.get(k) != v for k, v in found[1].items()):
                return
            flow = found[0]
        else:
            flow = parent["flow"]
        ignored = bool(parent and parent["ignored"]) or name in IGNORED_SUBTREES
        hook = "sqlalchemy" in frame.f_back.f_code.co_filename if frame.f_back else False
        listed = not relative.startswith(SKIPPED) and "<" not in name
        if parent is not None and listed:
            for outer in stack:
                outer["busy"] = True
        stack.append(
            {
                "frame": frame,
                "flow": flow,
                "ignored": ignored,
                "hook": hook and listed,
                "busy": False,
                "relative": relative,
                "name": name,
            }
        )
        if listed and not hook and not ignored:
            self.record(flow, relative, name)

    def markdown(self) -> str:
        graph = import_graph(APP)
        lines = []
        for flow, (title, _tests, _entries) in FLOWS.items():
            files = self.calls[flow]
            count = sum(len(functions) for functions in files.values())
            sizes = {path: len((APP.parent / path).read_text(encoding="utf-8").splitlines()) for path in files}
            largest = max(sizes, key=sizes.__getitem__)
            modules = {_module(path) for path in files}
            tangled = sorted(
                {
                    tuple(sorted((a, b)))
                    for a in modules
                    for b in modules
                    if a != b and b in graph.get(a, ()) and _path(graph, b, a)
                }
            )
            lines.append(f"### ({flow}) {title}: {len(files)} files, {count} functions\n")
            lines.append(
                f"Files opened: {sum(sizes.values()):,} lines, the largest `{largest}` "
                f"({sizes[largest]:,}). Of these files, importing each other back (a cycle): "
                + (", ".join(f"`{a}` ⇄ `{b}`" for a, b in tangled) or "none")
                + ".\n"
            )
            for path, functions in files.items():
                lines.append(f"- `{path}` ({sizes[path]} lines): " + ", ".join(f"`{f}`" for f in functions))
            lines.append("")
        return "\n".join(lines)


def _module(path: str) -> str:
    """`app/services/orders.py` -> `app.services.orders` (a package by its `__init__`)."""
    parts = list(Path(path).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


_recorder = Recorder()


def pytest_configure(config):
    sys.setprofile(_recorder.profile)
    threading.setprofile(_recorder.profile)


def pytest_unconfigure(config):
    sys.setprofile(None)
    threading.setprofile(None)
    sys.stdout.write("\n" + _recorder.markdown() + "\n")


if __name__ == "__main__":
    print(" ".join(test for _title, tests, _entries in FLOWS.values() for test in tests))
