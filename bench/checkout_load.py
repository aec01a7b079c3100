"""The required checkout load test: 1,000 buyers, each through the real `POST /gigs/<slug>/checkout`
(the slide-out checkout form, CSRF token and all) against the Stripe sandbox process.

    .venv/bin/python -m bench.checkout_load                     # 1,000 buyers, 100 at a time
    .venv/bin/python -m bench.checkout_load --buyers 50 --concurrency 10

Seeds a fresh PostgreSQL database: a verified seller with a Stripe account in the sandbox, the
logo gig, and `--buyers` buyers with a signed-in session each, in bulk (one Argon2 hash for
all, the session rows by Core INSERT, the session cookies signed with the app's SECRET_KEY and
a CSRF token each, exactly what the sign-in form would have left in the browser). Then serves
the app with gunicorn (2 sync workers; development configuration, because production refuses
the sandbox) and the sandbox (`python -m app.sandbox`, its own SQLite file) on loopback ports,
and fires every buyer's checkout POST at once, `--concurrency` connections in flight.

Reports throughput, p50/p99 latency and failures, then counts in the database: checkouts per
buyer (each exactly 1), distinct Stripe sessions (one per checkout), orders per checkout.
Goal (issue 22): all succeed, 0 duplicate sessions or orders, p99 < 3 s.
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlencode

import psycopg

from bench import harness
from bench.harness import ROOT, Row, drop_database, free_port, gunicorn, migrated_database, stop, wait_ready

DATABASE_URL = harness.database_url("checkout_load")
GOAL_P99_S = 3.0
GIG_SLUG = "logo-design"


def seed(count, sandbox_url):
    """Inside the app's environment: the shop and `count` signed-in buyers. Prints JSON
    {"buyers": [[cookie header, csrf token], ...]}."""
    import secrets

    from flask import g, session
    from flask_wtf.csrf import generate_csrf
    from sqlalchemy import insert, select

    from app import create_app
    from app.clock import now
    from app.extensions import db
    from app.models import User, UserSession
    from app.services.accounts import hash_password
    from app.services.sessions import hash_session_token
    from tests.factories.catalogue import LOGO_GIG, make_gig
    from tests.factories.money import make_connected_account
    from tests.factories.people import make_seller

    app = create_app()
    with app.app_context():
        _, company = make_seller("bench-seller@example.com")
        make_connected_account(sandbox_url, company)
        make_gig(company, slug=GIG_SLUG, **LOGO_GIG)
        password_hash = hash_password("bench-password-1")
        moment = now()
        db.session.execute(
            insert(User),
            [
                dict(
                    email=f"buyer{n}@bench.example.com",
                    password_hash=password_hash,
                    display_name=f"Buyer {n}",
                    intent="hire",
                    email_verified_at=moment,
                )
                for n in range(count)
            ],
        )
        ids = db.session.scalars(
            select(User.id).where(User.email.like("buyer%@bench.example.com")).order_by(User.id)
        ).all()
        tokens = [secrets.token_urlsafe(32) for _ in ids]
        db.session.execute(
            insert(UserSession),
            [
                dict(
                    user_id=user_id,
                    token_hash=hash_session_token(token),
                    sign_in_method="password",
                    last_seen_at=moment,
                    expires_at=moment + app.config["USER_SESSION_IDLE_TIMEOUT"],
                )
                for user_id, token in zip(ids, tokens, strict=True)
            ],
        )
        db.session.commit()
        serializer = app.session_interface.get_signing_serializer(app)
        name = app.config["SESSION_COOKIE_NAME"]
        buyers = []
        for token in tokens:
            with app.test_request_context():
                session["_user_id"], session["_fresh"] = token, True
                g.pop("csrf_token", None)  # `g` belongs to the outer app context: one token each
                csrf = generate_csrf()
                buyers.append([f"{name}={serializer.dumps(dict(session))}", csrf])
        print(json.dumps({"buyers": buyers}))


def fire(port, buyers, concurrency):
    """Every buyer's checkout POST, `concurrency` at a time; ([(status, seconds)], wall seconds)."""
    results, lock, queue = [], threading.Lock(), list(enumerate(buyers))
    start_gate = threading.Event()

    def worker():
        start_gate.wait()
        while True:
            with lock:
                if not queue:
                    return
                _, (cookie, csrf) = queue.pop()
            body = urlencode({"csrf_token": csrf, "package": "basic", "quantity": "1"})
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                conn.request(
                    "POST",
                    f"/gigs/{GIG_SLUG}/checkout",
                    body=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
                )
                response = conn.getresponse()
                response.read()
                status = response.status
                location = response.getheader("Location") or ""
                conn.close()
            except (OSError, http.client.HTTPException):
                status, location = 0, ""
            ok = status == 303 and "/checkout" in location
            with lock:
                results.append((ok, status, time.perf_counter() - started))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    wall = time.perf_counter()
    start_gate.set()
    for thread in threads:
        thread.join(600)
    return results, time.perf_counter() - wall


def duplicates():
    """What the database holds after the run: counts that must be all zero but `checkouts`."""
    with psycopg.connect(DATABASE_URL) as conn:
        one = conn.execute(
            """SELECT count(*),
                      count(DISTINCT buyer_id),
                      count(stripe_session_id),
                      count(DISTINCT stripe_session_id)
               FROM checkouts"""
        ).fetchone()
        orders_dup = conn.execute(
            "SELECT count(*) FROM (SELECT checkout_id FROM orders GROUP BY checkout_id HAVING count(*) > 1) d"
        ).fetchone()[0]
    checkouts, buyers, sessions, distinct_sessions = one
    return {
        "checkouts": checkouts,
        "buyers with more than one checkout": checkouts - buyers,
        "checkouts without a session": checkouts - sessions,
        "duplicate sessions": sessions - distinct_sessions,
        "duplicate orders": orders_dup,
    }


def measure(buyers=1000, concurrency=100, quiet=False):
    port, sandbox_port = free_port(), free_port()
    secrets_ = harness.random_production_secrets()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "STRIPE_API_BASE", "WHOP_API_BASE"))},
        **secrets_,
        "TRADEPOST_ENV": "development",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": harness.redis_url(),
        "APP_BASE_URL": f"http://127.0.0.1:{port}",
        "SANDBOX_ENABLED": "1",
        "SANDBOX_PORT": str(sandbox_port),
        "SANDBOX_SMTP_PORT": "0",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(free_port()),  # nothing listens: mail is queued, never sent, here
        "LOG_LEVEL": "WARNING",
        "FLASK_APP": "app",
        "PYTHONPATH": str(ROOT),
    }
    migrated_database(DATABASE_URL, env)
    processes = []
    workdir = tempfile.TemporaryDirectory(prefix="tp-checkout-load-")
    try:
        sandbox_env = {
            **env,
            "SANDBOX_DATABASE": os.path.join(workdir.name, "sandbox.db"),
            "SANDBOX_PUBLIC_URL": f"http://127.0.0.1:{sandbox_port}",
            "SANDBOX_DELIVER_WEBHOOKS": "0",
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "app.sandbox", "--port", str(sandbox_port)],
                cwd=ROOT,
                env=sandbox_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_ready(f"http://127.0.0.1:{sandbox_port}/_sandbox/health", timeout=120)
        t = time.monotonic()
        seeded = harness.seed_in_app("checkout_load", buyers, sandbox_port, env=env)
        if not quiet:
            print(f"seeded {buyers} signed-in buyers in {time.monotonic() - t:.1f}s", file=sys.stderr)
        processes.append(gunicorn("wsgi:app", port, env, os.path.join(workdir.name, "gunicorn.log")))
        wait_ready(f"http://127.0.0.1:{port}/healthz", timeout=120)
        results, wall = fire(port, seeded["buyers"], concurrency)
        counts = duplicates()
    finally:
        stop(processes)
        workdir.cleanup()
        drop_database(DATABASE_URL)
    latencies = sorted(seconds for _, _, seconds in results)
    failed = [status for ok, status, _ in results if not ok]
    return {
        "buyers": buyers,
        "concurrency": concurrency,
        "ok": len(results) - len(failed),
        "failed": len(failed),
        "statuses": sorted(set(failed)),
        "wall_s": wall,
        "per_s": len(results) / wall if wall else 0.0,
        "p50_s": statistics.median(latencies) if latencies else 0.0,
        "p99_s": latencies[max(int(len(latencies) * 0.99) - 1, 0)] if latencies else 0.0,
        **counts,
    }


def rows(figures):
    dup = figures["duplicate sessions"] + figures["duplicate orders"] + figures["buyers with more than one checkout"]
    met = (
        figures["failed"] == 0
        and figures["checkouts"] == figures["buyers"]
        and dup == 0
        and figures["checkouts without a session"] == 0
        and figures["p99_s"] < GOAL_P99_S
    )
    return [
        Row(
            f"{figures['buyers']:,} concurrent checkouts ({figures['concurrency']} in flight)",
            f"{figures['ok']:,}/{figures['buyers']:,} ok, {figures['per_s']:.0f}/s, p99 {figures['p99_s']:.2f} s, "
            f"{dup} duplicates",
            "",
            None,
            f"all ok, 0 duplicates, p99 < {GOAL_P99_S:.0f} s",
            met,
        )
    ]


def run(quick: bool) -> list[Row]:
    """run_all's entry point."""
    return rows(measure(buyers=20, concurrency=5, quiet=True) if quick else measure())


def main():
    parser = argparse.ArgumentParser(description="1,000 buyers through POST checkout against the sandbox.")
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seed", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        return seed(int(args.seed[0]), f"http://127.0.0.1:{args.seed[1]}")
    if not 1 <= args.buyers <= 5000 or not 1 <= args.concurrency <= 1000:
        parser.error("keep --buyers in 1..5000 and --concurrency in 1..1000")
    figures = measure(args.buyers, args.concurrency)
    print(json.dumps(figures, indent=2))
    from bench.run_all import table

    print(table(rows(figures)))


if __name__ == "__main__":
    main()
