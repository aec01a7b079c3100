"""Listing, search and gig-page throughput, as a ratio to a bare Flask "hello" in the same run.

    .venv/bin/python -m bench.listing                 # ~1.5 minutes
    .venv/bin/python -m bench.listing --rounds 3      # medians of three

Creates a fresh PostgreSQL database (dropped again at the end unless --keep), migrates it,
bulk-loads published gigs, then serves the app (TRADEPOST_ENV=production, no sandbox) and
bench/hello.py with the same gunicorn settings as the Procfile (2 sync workers) on loopback
ports, and drives each URL with wrk (or a Python generator when wrk is missing) for a fixed
time with fixed concurrency. One server is loaded at a time.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request

import psycopg

from bench import harness, loadgen
from bench.harness import ROOT, Row, drop_database, free_port, gunicorn, migrated_database, stop, wait_ready
from bench.loadgen import generator_name, load

DATABASE_URL = harness.database_url("listing")
REDIS_URL = harness.redis_url()
APP_PORT = int(os.environ.get("BENCH_PORT") or free_port())
GOAL = 0.35


def production_env(port):
    return harness.production_env(port, DATABASE_URL, REDIS_URL)


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def measure(gigs=2000, seconds=10, connections=32, rounds=1, word="logo", keep=False, quiet=False):
    """Load every target; returns {name: [loadgen.Result per round]} (hello twice a round)."""
    env = production_env(APP_PORT)
    if not quiet:
        print(f"database {DATABASE_URL} (fresh), redis {REDIS_URL}, load generator: {generator_name()}")
    migrated_database(DATABASE_URL, env)
    servers = []
    try:
        t = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "bench.catalog", "--gigs", str(gigs)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not quiet:
            print(f"{out} in {time.monotonic() - t:.1f}s")
        with psycopg.connect(DATABASE_URL) as conn:
            slug = conn.execute(
                "SELECT slug FROM gigs WHERE status = 'published' ORDER BY id OFFSET %s LIMIT 1", (min(100, gigs - 1),)
            ).fetchone()[0]
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

        hello_port, nocache_port = free_port(), free_port()
        servers.append(gunicorn("wsgi:app", APP_PORT, env, "/tmp/bench-app-gunicorn.log"))
        servers.append(gunicorn("bench.hello:app", hello_port, env, "/tmp/bench-hello-gunicorn.log"))
        # The same app with the anonymous page cache off: what every cache miss costs.
        servers.append(
            gunicorn(
                "wsgi:app", nocache_port, {**env, "PAGE_CACHE_SECONDS": "0"}, "/tmp/bench-app-nocache-gunicorn.log"
            )
        )
        app_base, hello_url = f"http://127.0.0.1:{APP_PORT}", f"http://127.0.0.1:{hello_port}/"
        nocache_base = f"http://127.0.0.1:{nocache_port}"
        wait_ready(hello_url, timeout=120)
        wait_ready(app_base + "/healthz", timeout=120)
        wait_ready(nocache_base + "/healthz", timeout=120)

        # /signin renders base.html with a small form and no SQL: the floor any page of the
        # app pays (session, CSRF token, nav), to read the other ratios against.
        targets = [
            ("bare hello", hello_url),
            ("/signin (app floor)", app_base + "/signin"),
            ("/gigs", app_base + "/gigs"),
            (f"/gigs?q={word}", f"{app_base}/gigs?q={word}"),
            ("gig page", f"{app_base}/gigs/{slug}"),
            ("/gigs, no cache", nocache_base + "/gigs"),
            (f"/gigs?q={word}, no cache", f"{nocache_base}/gigs?q={word}"),
            ("gig page, no cache", f"{nocache_base}/gigs/{slug}"),
        ]
        for name, url in targets[2:]:
            status, body = fetch(url)
            if status != 200 or not ("gig-card" in body or "gig-title" in body):
                raise RuntimeError(f"{name} did not render a page of gigs")
        for _, url in targets:
            load(url, connections, 1 if seconds < 5 else 2)  # warm-up: connections, caches, imports

        results = {name: [] for name, _ in targets}
        for _ in range(rounds):
            for name, url in targets + [targets[0]]:
                results[name].append(load(url, connections, seconds))
    finally:
        stop(servers)
        if not keep:
            drop_database(DATABASE_URL)
    return results


def _median(runs):
    return loadgen.Result(
        sum(r.requests for r in runs),
        sum(r.seconds for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.errors for r in runs),
    ), statistics.median(r.rps for r in runs)


def run(quick: bool) -> list[Row]:
    """run_all's entry point: anonymous listing, search and gig page (page cache on, as
    production serves them) against bare hello."""
    results = measure(gigs=60, seconds=1, connections=4, quiet=True) if quick else measure(seconds=10, connections=32)
    hello, hello_rps = _median(results["bare hello"])
    rows = []
    for name in ("/gigs", "/gigs?q=logo", "gig page"):
        result, rps = _median(results[name])
        rows.append(
            Row(
                f"{name}, anonymous (page cache)",
                f"{rps:,.0f} req/s, p99 {result.p99_ms:.0f} ms" + (f", {result.errors} err" if result.errors else ""),
                f"hello {hello_rps:,.0f} req/s",
                rps / hello_rps,
                f">= {GOAL}",
                rps / hello_rps >= GOAL and not result.errors,
            )
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description="Listing/search/gig page vs bare hello, same run.")
    parser.add_argument("--gigs", type=int, default=2000)
    parser.add_argument("--word", default="logo", help="search word for the /gigs?q= run")
    harness.load_arguments(parser, connections=32, max_connections=256)
    args = parser.parse_args()
    harness.check_load_arguments(parser, args)

    started = time.monotonic()
    results = measure(args.gigs, args.seconds, args.connections, args.rounds, args.word, args.keep)
    hello_rps = statistics.median(r.rps for r in results["bare hello"])
    print(
        f"\n{args.connections} connections, {args.seconds}s per run, {args.rounds} round(s); "
        f"hello measured before and after each round\n"
    )
    print(f"{'endpoint':<28}{'req/s':>10}{'p99 ms':>10}{'errors':>8}{'ratio':>8}")
    for name, runs in results.items():
        rps = statistics.median(r.rps for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        flag = "  < goal" if name.startswith("/gigs") and rps / hello_rps < GOAL else ""
        print(f"{name:<28}{rps:>10.0f}{p99:>10.1f}{errors:>8}{rps / hello_rps:>8.2f}{flag}")
    print(f"\ngoal: listing and search >= {GOAL} of bare hello; total time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
