"""Every benchmark in bench/, one table: workload, figure, baseline, ratio, goal, met?

    .venv/bin/python -m bench.run_all                 # the full run (~15 minutes on 2 cores)
    .venv/bin/python -m bench.run_all --quick         # smoke test: tiny counts, 1-2 s loads
    .venv/bin/python -m bench.run_all --only listing,licensing

A benchmark is any module bench/<name>.py with a top-level `run(quick: bool) -> list[Row]`
(bench/harness.py Row); see bench/README.md for the contract. Modules run one after another
(never two loads at once); PostgreSQL databases are named BENCH_DB_PREFIX<name> and migrated
once per run (a template database copied for each benchmark). Exit status 1 when a module
failed, 0 otherwise (goals not met are reported in the table, not as a failure).
"""

import argparse
import ast
import importlib
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import bench
from bench import harness
from bench.harness import Row

COLUMNS = ("workload", "figure", "baseline", "ratio", "goal", "met?")


def discover():
    """Names of the modules in bench/ with a top-level `def run(quick...)`, in name order.

    Read from the source (not imported): some modules are gunicorn targets that need the
    app's environment at import time (bench/hello.py, bench/licensing_baseline.py).
    """
    names = []
    for path in sorted(Path(bench.__path__[0]).glob("*.py")):
        if path.stem in ("run_all", "__init__"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in tree.body):
            names.append(path.stem)
    return names


def cells(row):
    ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
    return (row.workload, row.figure, row.baseline, ratio, row.goal, "yes" if row.met else "NO")


def table(rows):
    """A Markdown table (renders in the README, reads fine in a terminal)."""
    lines = [tuple(COLUMNS)] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    out = []
    for n, line in enumerate(lines):
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run every benchmark in bench/ and print one table.")
    parser.add_argument("--quick", action="store_true", help="tiny counts and short loads (a smoke test)")
    parser.add_argument("--only", default="", help="comma-separated module names (default: all)")
    args = parser.parse_args(argv)
    names = discover()
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"no benchmark module with run(quick): {', '.join(unknown)} (have: {', '.join(names)})")
        names = [n for n in names if n in wanted]
    started = time.monotonic()
    rows: list[Row] = []
    failed = []
    try:
        for name in names:
            t = time.monotonic()
            print(f"== {name} ...", file=sys.stderr, flush=True)
            try:
                rows.extend(importlib.import_module(f"bench.{name}").run(args.quick))
            except Exception:
                traceback.print_exc()
                failed.append(name)
                rows.append(Row(name, "FAILED (see stderr)", "", None, "", False))
            print(f"== {name} done in {time.monotonic() - t:.0f}s", file=sys.stderr, flush=True)
    finally:
        harness.drop_template()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cores = harness.cpu_count()
    print(
        f"\nbench/run_all{' --quick' if args.quick else ''}: {stamp}, {platform.machine()} {cores} cores, "
        f"Python {platform.python_version()}, {harness.engine_name()}, gunicorn 2 sync workers, "
        f"load generator {harness.generator()}; {time.monotonic() - started:.0f}s\n"
    )
    print(table(rows))
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
