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

from bench import harness
from bench.harness import ROOT, drop_database, gunicorn, recreate_database, wait_ready
from bench.loadgen import generator_name, load

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tp_browse_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
APP_PORT = int(os.environ.get("BENCH_PORT", "5112"))
GOAL = 0.35


def production_env(port):
    return harness.production_env(port, DATABASE_URL, REDIS_URL)


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def main():
    parser = argparse.ArgumentParser(description="Listing/search/gig page vs bare hello, same run.")
    parser.add_argument("--gigs", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--word", default="logo", help="search word for the /gigs?q= run")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 30 or not 1 <= args.rounds <= 5 or not 1 <= args.connections <= 256:
        parser.error("keep --seconds in 1..30, --rounds in 1..5, --connections in 1..256")

    started = time.monotonic()
    env = production_env(APP_PORT)
    print(f"database {DATABASE_URL} (fresh), redis {REDIS_URL}, load generator: {generator_name()}")
    recreate_database(DATABASE_URL)
    servers = []
    try:
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade", "heads"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        t = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "bench.catalog", "--gigs", str(args.gigs)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        print(f"{out} in {time.monotonic() - t:.1f}s")
        with psycopg.connect(DATABASE_URL) as conn:
            slug = conn.execute(
                "SELECT slug FROM gigs WHERE status = 'published' ORDER BY id OFFSET 100 LIMIT 1"
            ).fetchone()[0]
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

        hello_port = APP_PORT + 1
        servers.append(gunicorn("wsgi:app", APP_PORT, env, "/tmp/bench-app-gunicorn.log"))
        servers.append(gunicorn("bench.hello:app", hello_port, env, "/tmp/bench-hello-gunicorn.log"))
        # The same app with the anonymous page cache off: what every cache miss costs.
        servers.append(
            gunicorn(
                "wsgi:app", APP_PORT + 2, {**env, "PAGE_CACHE_SECONDS": "0"}, "/tmp/bench-app-nocache-gunicorn.log"
            )
        )
        app_base, hello_url = f"http://127.0.0.1:{APP_PORT}", f"http://127.0.0.1:{hello_port}/"
        nocache_base = f"http://127.0.0.1:{APP_PORT + 2}"
        wait_ready(hello_url)
        wait_ready(app_base + "/healthz")
        wait_ready(nocache_base + "/healthz")

        # /signin renders base.html with a small form and no SQL: the floor any page of the
        # app pays (session, CSRF token, nav), to read the other ratios against.
        targets = [
            ("bare hello", hello_url),
            ("/signin (app floor)", app_base + "/signin"),
            ("/gigs", app_base + "/gigs"),
            (f"/gigs?q={args.word}", f"{app_base}/gigs?q={args.word}"),
            ("gig page", f"{app_base}/gigs/{slug}"),
            ("/gigs, no cache", nocache_base + "/gigs"),
            (f"/gigs?q={args.word}, no cache", f"{nocache_base}/gigs?q={args.word}"),
            ("gig page, no cache", f"{nocache_base}/gigs/{slug}"),
        ]
        for name, url in targets[2:]:
            status, body = fetch(url)
            if status != 200 or not ("gig-card" in body or "gig-title" in body):
                raise RuntimeError(f"{name} did not render a page of gigs")
        for _, url in targets:
            load(url, args.connections, 2)  # warm-up: connections, caches, JIT-less Python imports

        results = {name: [] for name, _ in targets}
        for _ in range(args.rounds):
            for name, url in targets + [targets[0]]:
                results[name].append(load(url, args.connections, args.seconds))
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=15)
        if not args.keep:
            drop_database(DATABASE_URL)

    hello_rps = statistics.median(r.rps for r in results["bare hello"])
    print(
        f"\n{args.connections} connections, {args.seconds}s per run, {args.rounds} round(s); "
        f"hello measured before and after each round\n"
    )
    print(f"{'endpoint':<28}{'req/s':>10}{'p99 ms':>10}{'errors':>8}{'ratio':>8}")
    for name, _ in targets:
        runs = results[name]
        rps = statistics.median(r.rps for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        flag = "  < goal" if name.startswith("/gigs") and rps / hello_rps < GOAL else ""
        print(f"{name:<28}{rps:>10.0f}{p99:>10.1f}{errors:>8}{rps / hello_rps:>8.2f}{flag}")
    print(f"\ngoal: listing and search >= {GOAL} of bare hello; total time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
