"""What structured logging and Prometheus metrics cost: /gigs with them on vs off, one run.

    .venv/bin/python -m bench.ops_overhead                             # ~3 minutes
    .venv/bin/python -m bench.ops_overhead --rounds 3 --seconds 8      # medians of three

Creates a fresh PostgreSQL database (dropped at the end unless --keep), migrates it, loads
published gigs, then serves the app twice with the Procfile's gunicorn settings (2 sync
workers), production configuration, on loopback ports:

- on:  METRICS_ENABLED=1, LOG_FORMAT=json, LOG_LEVEL=INFO (one access line per request,
       written to a file), PROMETHEUS_MULTIPROC_DIR set (metrics in shared files);
- off: METRICS_ENABLED=0, LOG_LEVEL=WARNING (no access lines), no multiprocess directory.

Each URL is loaded on one server at a time, off and on back to back, the order reversed every
round, so drift on a shared machine hits both alike (use --rounds 3 or more on a busy machine).
The ratio is on ÷ off (goal ≥ 0.9). /gigs is measured with the anonymous page cache as
production runs it, and with the cache off (the query-and-render path).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from bench import harness
from bench.harness import ROOT, Row, drop_database, free_port, migrated_database, stop, wait_ready
from bench.loadgen import generator_name, load

DATABASE_URL = harness.database_url("ops_overhead")
REDIS_URL = harness.redis_url()
APP_PORT = int(os.environ.get("BENCH_PORT") or free_port())
GOAL = 0.9


def serve(port, env, log_path):
    """gunicorn as the Procfile runs it; the app's log lines (stderr) go to `log_path`."""
    log = open(log_path, "a")  # noqa: SIM115 (closed when the server stops); O_APPEND: two workers write
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    process.log = log
    return process


def measure(gigs=2000, seconds=10, connections=32, rounds=1, keep=False, quiet=False):
    """Load /gigs on the four servers; ({name: [Result per round]}, counted lines, access lines)."""
    base_env = harness.production_env(APP_PORT, DATABASE_URL, REDIS_URL)
    if not quiet:
        print(f"database {DATABASE_URL} (fresh), redis {REDIS_URL}, load generator: {generator_name()}")
    migrated_database(DATABASE_URL, base_env)
    servers = []
    metrics_dir = tempfile.TemporaryDirectory(prefix="tp-bench-metrics-")
    try:
        subprocess.run(
            [sys.executable, "-m", "bench.catalog", "--gigs", str(gigs)],
            cwd=ROOT,
            env=base_env,
            check=True,
            capture_output=True,
        )
        off_env = {**base_env, "METRICS_ENABLED": "0", "LOG_LEVEL": "WARNING"}
        off_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        on_env = {
            **base_env,
            "METRICS_ENABLED": "1",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir.name,
        }
        ports = {"off": APP_PORT, "on": free_port(), "off, no cache": free_port(), "on, no cache": free_port()}
        log_dir = tempfile.mkdtemp(prefix="tp-bench-logs-")
        for name, port in ports.items():
            env = on_env if name.startswith("on") else off_env
            if "no cache" in name:
                env = {**env, "PAGE_CACHE_SECONDS": "0"}
            servers.append(serve(port, env, os.path.join(log_dir, name.replace(", ", "-") + ".log")))
            wait_ready(f"http://127.0.0.1:{port}/healthz", timeout=180)  # one at a time: a busy machine
        urls = {name: f"http://127.0.0.1:{port}/gigs" for name, port in ports.items()}
        for name, url in urls.items():
            with urllib.request.urlopen(url, timeout=10) as response:
                if response.status != 200 or "gig-card" not in response.read().decode():
                    raise RuntimeError(f"/gigs ({name}) did not render a page of gigs")
            load(url, connections, 1 if seconds < 5 else 2)  # warm-up
        results = {name: [] for name in urls}
        for round_ in range(rounds):
            order = ("off", "on", "on, no cache", "off, no cache")
            for name in order if round_ % 2 == 0 else order[::-1]:  # who goes first alternates
                results[name].append(load(urls[name], connections, seconds))
        token = base_env["METRICS_TOKEN"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['on']}/metrics", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            counted = [
                line
                for line in response.read().decode().splitlines()
                if line.startswith('tradepost_http_requests_total{endpoint="browse.index"')
            ]
        with open(os.path.join(log_dir, "on.log")) as log:
            access_lines = sum(1 for line in log if '"logger": "app.access"' in line)
    finally:
        stop(servers)
        for server in servers:
            server.log.close()
        metrics_dir.cleanup()
        if not keep:
            drop_database(DATABASE_URL)
    return results, counted, access_lines


def run(quick: bool) -> list[Row]:
    """run_all's entry point: /gigs with logging and metrics on, as a ratio to off."""
    results, _, _ = measure(gigs=40, seconds=1, connections=4, quiet=True) if quick else measure()
    rows = []
    for label, on, off in (("page cache on", "on", "off"), ("page cache off", "on, no cache", "off, no cache")):
        on_rps = statistics.median(r.rps for r in results[on])
        off_rps = statistics.median(r.rps for r in results[off])
        p99 = statistics.median(r.p99_ms for r in results[on])
        errors = sum(r.errors for r in results[on] + results[off])
        rows.append(
            Row(
                f"/gigs with logs+metrics, {label}",
                f"{on_rps:,.0f} req/s, p99 {p99:.0f} ms" + (f", {errors} err" if errors else ""),
                f"off {off_rps:,.0f} req/s",
                on_rps / off_rps,
                f">= {GOAL}",
                on_rps / off_rps >= GOAL and not errors,
            )
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description="/gigs with logging and metrics on vs off, same run.")
    parser.add_argument("--gigs", type=int, default=2000)
    harness.load_arguments(parser, connections=32, max_connections=256)
    args = parser.parse_args()
    harness.check_load_arguments(parser, args)

    started = time.monotonic()
    results, counted, access_lines = measure(args.gigs, args.seconds, args.connections, args.rounds, args.keep)
    print(f"\n{args.connections} connections, {args.seconds}s per run, {args.rounds} round(s), off/on alternating\n")
    print(f"{'/gigs':<22}{'req/s':>10}{'p99 ms':>10}{'errors':>8}")
    rps = {}
    for name, runs in results.items():
        rps[name] = statistics.median(r.rps for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        print(f"{name:<22}{rps[name]:>10.0f}{p99:>10.1f}{sum(r.errors for r in runs):>8}")
    print()
    for label, on, off in (("page cache on", "on", "off"), ("page cache off", "on, no cache", "off, no cache")):
        ratio = rps[on] / rps[off]
        flag = "" if ratio >= GOAL else "  < goal"
        print(f"on / off, {label}: {ratio:.2f}{flag}")
    print(f"(the 'on' server counted {', '.join(counted) or 'nothing'}; wrote {access_lines} JSON access lines)")
    print(f"\ngoal: on >= {GOAL} of off; total time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
