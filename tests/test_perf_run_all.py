"""bench/run_all: it finds every benchmark module and prints one table of the agreed shape.

The smoke run is `--quick` (tiny data, half-second loads) on a SQLite file and the suite's
Redis; it asserts the table's shape only, never a timing."""

import re
import subprocess
import sys

from bench.harness import Row
from bench.run_all import COLUMNS, discover, table
from tests.processes import REPO_ROOT


def test_every_benchmark_module_with_a_run_function_is_found():
    found = discover()
    assert {"checkout_load", "licensing", "listing", "ops_overhead", "signed_in"} <= set(found)
    assert {"legends_leaderboard", "legends_sse"} <= set(found)
    assert not {"harness", "loadgen", "hello", "catalog", "licensing_baseline", "run_all"} & set(found)


def test_the_table_has_one_line_per_row_and_the_six_columns():
    rows = [
        Row("a", "1 req/s", "hello 4 req/s", 0.25, ">= 0.25", True),
        Row("b | c", "FAILED", "", None, "", False),
    ]
    lines = table(rows).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == list(COLUMNS)
    assert len(lines) == 4 and set(lines[1]) <= {"|", "-"}
    assert lines[2].split("|")[4].strip() == "0.25" and lines[2].rstrip("| ").endswith("yes")
    assert lines[3].rstrip("| ").endswith("NO")


def test_a_quick_run_prints_one_table_with_every_row_of_the_benchmark(tmp_path, redis_url):
    env = {
        "PATH": "/usr/bin:/bin",
        "BENCH_PG": f"sqlite:///{tmp_path}",
        "BENCH_DB_PREFIX": "smoke_",
        "BENCH_REDIS_URL": redis_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.run_all", "--quick", "--only", "signed_in"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert [c.strip() for c in lines[0].strip("|").split("|")] == list(COLUMNS)
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [r[0] for r in body] == [
        f"{page}, signed in (no page cache)"
        for page in ("/gigs", "gig page", "order page", "/account", "/sell (seller home)")
    ]
    for _workload, figure, baseline, ratio, goal, met in body:
        assert re.fullmatch(r"[\d,]+ req/s, p99 \d+ ms(, \d+ err)?", figure), figure
        assert baseline.startswith("hello ") and float(ratio) >= 0
        assert goal == ">= 0.25, p99 < 100 ms" and met in ("yes", "NO")
    assert "bench/run_all --quick:" in done.stdout and "SQLite (smoke run)" in done.stdout
    assert not list(tmp_path.iterdir()), "the smoke run left its databases behind"
