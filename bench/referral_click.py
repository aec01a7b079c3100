"""Click tracking stays off the money path: a gig page with `?ref=<code>` against the same page
without it, as ratios measured in the same run (goal: `?ref=` costs at most 1.2× the plain page).

    .venv/bin/python -m bench.referral_click                # ~2 minutes
    .venv/bin/python -m bench.referral_click --rounds 3     # medians of three

Creates a fresh PostgreSQL database (dropped at the end unless --keep), migrates it, loads a
catalogue (bench.catalog), gives the first gig's seller an affiliate program and one user a
referral code, then serves the app in production mode with the Procfile's gunicorn settings
(2 sync workers) and bench/hello.py, and drives one URL at a time for a fixed time:

- the gig page without `ref` and with `?ref=<code>`, page cache off, every click queued
  (REFERRAL_CLICKS_PER_MINUTE raised so no click is rate limited: one Redis EVAL per request,
  sent without waiting for the answer, that counts the IP and appends the click; no SQL — the
  job writes the rows);
- the same `?ref=` page at the default per-IP limit (a flood from one address);
- both pages with the anonymous page cache on (production's default).
The ratio that matters is "gig page ?ref=" / "gig page" (time per request is 1 / req/s).
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
from bench.harness import ROOT, drop_database, gunicorn, wait_ready
from bench.loadgen import load

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tp_referral_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
APP_PORT = int(os.environ.get("BENCH_PORT", "5132"))
GOAL = 1.2
SETUP = """
from app import create_app
from app.extensions import db
from app.models import Company, Gig
from app.services.accounts import register_user
from app.services.affiliates.links import referral_code_for
from app.services.affiliates.programs import ProgramSettings, save_program
from sqlalchemy import select

app = create_app()
with app.app_context():
    gig = db.session.scalars(select(Gig).where(Gig.status == "published").order_by(Gig.id).offset(100)).first()
    company = db.session.get(Company, gig.company_id)
    affiliate = register_user("affiliate@bench.example", "bench-password-123", "Bench Affiliate")
    owner = company.managers()[0] if company.managers() else affiliate
    save_program(company, ProgramSettings(enabled=True, commission_bps=1000), owner)
    print(gig.slug, referral_code_for(affiliate).code)
    db.session.commit()
"""


FLUSH = "from app.tasks.referrals import flush_referral_clicks; print(flush_referral_clicks())"


def main():
    parser = argparse.ArgumentParser(description="Gig page with ?ref= vs without, same run.")
    parser.add_argument("--gigs", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    args.max_connections = 256
    harness.check_load_arguments(parser, args)

    started = time.monotonic()
    env = harness.fresh_bench_env(APP_PORT, DATABASE_URL, REDIS_URL)
    servers = []
    try:
        run = dict(cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        subprocess.run([sys.executable, "-m", "flask", "db", "upgrade", "heads"], **run)
        subprocess.run([sys.executable, "-m", "bench.catalog", "--gigs", str(args.gigs)], **run)
        slug, code = subprocess.run([sys.executable, "-c", SETUP], **run).stdout.split()[-2:]
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

        unlimited = {"PAGE_CACHE_SECONDS": "0", "REFERRAL_CLICKS_PER_MINUTE": "1000000000"}
        ports = {name: APP_PORT + n for n, name in enumerate(("nocache", "limited", "cached", "hello"))}
        servers.append(gunicorn("wsgi:app", ports["nocache"], {**env, **unlimited}, "/tmp/bench-ref-nocache.log"))
        servers.append(
            gunicorn("wsgi:app", ports["limited"], {**env, "PAGE_CACHE_SECONDS": "0"}, "/tmp/bench-ref-lim.log")
        )
        servers.append(
            gunicorn(
                "wsgi:app", ports["cached"], {**env, "REFERRAL_CLICKS_PER_MINUTE": "1000000000"}, "/tmp/bench-ref-c.log"
            )
        )
        servers.append(gunicorn("bench.hello:app", ports["hello"], env, "/tmp/bench-ref-hello.log"))
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name in ("nocache", "limited", "cached"):
            wait_ready(base[name] + "/healthz", timeout=120)
        wait_ready(base["hello"] + "/", timeout=120)

        targets = [
            ("bare hello", base["hello"] + "/"),
            ("gig page", f"{base['nocache']}/gigs/{slug}"),
            ("gig page ?ref=", f"{base['nocache']}/gigs/{slug}?ref={code}"),
            ("gig page ?ref= (rate limited)", f"{base['limited']}/gigs/{slug}?ref={code}"),
            ("gig page, cached", f"{base['cached']}/gigs/{slug}"),
            ("gig page ?ref=, cached", f"{base['cached']}/gigs/{slug}?ref={code}"),
        ]
        for name, url in targets[1:]:
            with urllib.request.urlopen(url, timeout=10) as response:
                if response.status != 200 or "gig-title" not in response.read().decode():
                    raise RuntimeError(f"{name} did not render the gig page")
        for _, url in targets:
            load(url, args.connections, 2)  # warm-up
        results = {name: [] for name, _ in targets}
        for _ in range(args.rounds):
            for name, url in targets:
                results[name].append(load(url, args.connections, args.seconds))
        # The click job (every minute in production) writes what the pages queued.
        flushed = subprocess.run([sys.executable, "-c", FLUSH], **run).stdout.split()[-1]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=60)  # graceful: sync workers finish their request first
            except subprocess.TimeoutExpired:
                server.kill()
        if not args.keep:
            drop_database(DATABASE_URL)

    hello_rps = statistics.median(r.rps for r in results["bare hello"])
    print(f"\n{args.connections} connections, {args.seconds}s per run, {args.rounds} round(s)\n")
    print(f"{'endpoint':<32}{'req/s':>10}{'p99 ms':>10}{'errors':>8}{'of hello':>10}")
    rps = {}
    for name, _ in targets:
        runs = results[name]
        rps[name] = statistics.median(r.rps for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        print(f"{name:<32}{rps[name]:>10.0f}{p99:>10.1f}{errors:>8}{rps[name] / hello_rps:>10.2f}")
    print(f"\nclick rows the click job wrote afterwards: {flushed}")
    for plain, tracked in (
        ("gig page", "gig page ?ref="),
        ("gig page", "gig page ?ref= (rate limited)"),
        ("gig page, cached", "gig page ?ref=, cached"),
    ):
        ratio = rps[plain] / rps[tracked]
        flag = "ok" if ratio <= GOAL else "OVER GOAL"
        print(f"time per request, {tracked!r} / {plain!r}: {ratio:.2f}x ({flag}, goal <= {GOAL}x)")
    print(f"total time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
