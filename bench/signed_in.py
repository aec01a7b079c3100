"""Signed-in pages (no page cache: signed-in visitors never get one) against bare hello.

    .venv/bin/python -m bench.signed_in                      # ~1.5 minutes
    .venv/bin/python -m bench.signed_in --profile /gigs      # where one page's time goes
    .venv/bin/python -m bench.signed_in --cpu                # in-process CPU per request, each page

Seeds a fresh PostgreSQL database (bench.catalog's published gigs, plus a seller company with
30 gigs and 30 orders from one buyer), serves the app (production configuration) and
bench/hello.py with the Procfile's gunicorn settings (2 sync workers) on loopback ports, signs
the buyer and the seller in through the real /signin form, and loads each page with their
session cookie: /gigs, a gig page, an order page and /account as the buyer, /sell as the
seller. Goal (issue 22): each >= 0.25 of hello's req/s with p99 < 100 ms.

--profile PATH renders PATH signed in as the buyer 50 times in-process under pyinstrument
(SQLAlchemy on the same database) and prints the call tree. --cpu renders each page 300 times
in-process (after 20 warm-ups) and prints the CPU time (time.process_time) per request: the
figure to compare before and after a change on a loaded machine, where wrk's ratios are noise.
"""

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import time
from urllib.parse import urlencode

from bench import harness
from bench.harness import ROOT, Row, drop_database, free_port, gunicorn, migrated_database, stop, wait_ready
from bench.loadgen import load

DATABASE_URL = harness.database_url("signed_in")
GOAL_RATIO, GOAL_P99_MS = 0.25, 100.0
PASSWORD = "bench-password-1"
BUYER, SELLER = "bench-buyer@example.com", "bench-seller@example.com"


def seed(gigs, orders):
    """Inside the app's environment: the catalogue, a seller with `orders` gigs and orders
    from one buyer. Prints {"gig": slug, "order": id} as JSON."""
    from types import SimpleNamespace

    from app import create_app
    from app.extensions import db
    from bench.catalog import load_catalog
    from tests.factories.catalogue import make_gig
    from tests.factories.orders import make_order
    from tests.factories.people import make_seller, make_user

    with create_app().app_context():
        load_catalog(gigs)
        _, company = make_seller(SELLER, "Bench Seller Studio", password=PASSWORD)
        buyer = make_user(BUYER, password=PASSWORD, display_name="Bench Buyer")
        own = [
            make_gig(company, f"I will benchmark your app, take {n}", tiers=("basic", "standard"))
            for n in range(orders)
        ]
        made = [make_order(SimpleNamespace(company=company, gig=gig, buyer=buyer), status="in_progress") for gig in own]
        db.session.commit()
        print(json.dumps({"gig": own[0].slug, "order": made[-1].id}))


def sign_in(port, email):
    """The session cookie of `email` after the real sign-in form (CSRF token and all)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/signin")
    response = conn.getresponse()
    page = response.read().decode()
    cookies = _cookies(response, {})
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    body = urlencode({"csrf_token": token.group(1), "email": email, "password": PASSWORD})
    conn.request(
        "POST",
        "/signin",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": _header(cookies)},
    )
    response = conn.getresponse()
    response.read()
    if response.status not in (302, 303):
        raise RuntimeError(f"sign-in of {email} answered {response.status}")
    conn.close()
    return _header(_cookies(response, cookies))


def _cookies(response, jar):
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            key, _, rest = value.partition("=")
            jar[key] = rest.split(";", 1)[0]
    return dict(jar)


def _header(jar):
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def get(port, path, cookie):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    return response.status, response.read().decode()


def measure(gigs=2000, orders=30, seconds=10, connections=8, rounds=1, quiet=False):
    env = harness.production_env(0, DATABASE_URL, harness.redis_url())
    port, hello_port = free_port(), free_port()
    env["APP_BASE_URL"] = f"http://127.0.0.1:{port}"
    migrated_database(DATABASE_URL, env)
    servers = []
    try:
        seeded = harness.seed_in_app("signed_in", gigs, orders, env=env)
        servers.append(gunicorn("wsgi:app", port, env, "/tmp/bench-signed-in-gunicorn.log"))
        servers.append(gunicorn("bench.hello:app", hello_port, env, "/tmp/bench-signed-in-hello.log"))
        wait_ready(f"http://127.0.0.1:{port}/healthz", timeout=120)
        wait_ready(f"http://127.0.0.1:{hello_port}/", timeout=120)
        buyer, seller = sign_in(port, BUYER), sign_in(port, SELLER)
        base = f"http://127.0.0.1:{port}"
        targets = [
            ("bare hello", f"http://127.0.0.1:{hello_port}/", None, "hello"),
            ("/gigs", base + "/gigs", buyer, "gig-card"),
            ("gig page", f"{base}/gigs/{seeded['gig']}", buyer, "gig-title"),
            ("order page", f"{base}/orders/{seeded['order']}", buyer, "I will benchmark"),
            ("/account", base + "/account", buyer, "I will benchmark"),
            ("/sell (seller home)", base + "/sell/", seller, "I will benchmark"),
        ]
        for name, url, cookie, marker in targets[1:]:
            status, body = get(port, url.removeprefix(base), cookie)
            if status != 200 or marker not in body or "Sign out" not in body and "sign-out" not in body:
                raise RuntimeError(f"{name} did not render signed in: {status}")
        for _, url, cookie, _ in targets if seconds >= 5 else []:
            load(url, connections, 1, headers={"Cookie": cookie} if cookie else None)  # warm-up
        results = {name: [] for name, *_ in targets}
        for _ in range(rounds):
            for name, url, cookie, _ in targets + [targets[0]]:
                results[name].append(load(url, connections, seconds, headers={"Cookie": cookie} if cookie else None))
    finally:
        stop(servers)
        drop_database(DATABASE_URL)
    return results


def rows(results):
    hello_rps = statistics.median(r.rps for r in results["bare hello"])
    out = []
    for name, runs in results.items():
        if name == "bare hello":
            continue
        rps, p99 = statistics.median(r.rps for r in runs), statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        out.append(
            Row(
                f"{name}, signed in (no page cache)",
                f"{rps:,.0f} req/s, p99 {p99:.0f} ms" + (f", {errors} err" if errors else ""),
                f"hello {hello_rps:,.0f} req/s",
                rps / hello_rps,
                f">= {GOAL_RATIO}, p99 < {GOAL_P99_MS:.0f} ms",
                rps / hello_rps >= GOAL_RATIO and p99 < GOAL_P99_MS and not errors,
            )
        )
    return out


def run(quick: bool) -> list[Row]:
    """run_all's entry point."""
    if quick:
        return rows(measure(gigs=40, orders=3, seconds=0.5, connections=2, quiet=True))
    return rows(measure())


def profile(path, gigs, orders, function="_profile_here"):
    """pyinstrument over 50 in-process renders of `path` as the buyer (after 5 warm-ups);
    with `function="_cpu_here"`, CPU per request of every page instead."""
    env = harness.production_env(0, DATABASE_URL, harness.redis_url())
    migrated_database(DATABASE_URL, env)
    try:
        harness.seed_in_app("signed_in", gigs, orders, env=env)
        code = f"import sys; from bench.signed_in import {function}; {function}(sys.argv[1])"
        # The CPU run's log lines (written as in production) go nowhere: only its figures print.
        quiet = {"stderr": subprocess.DEVNULL} if function == "_cpu_here" else {}
        subprocess.run([sys.executable, "-c", code, path], cwd=ROOT, env=env, check=True, **quiet)
    finally:
        drop_database(DATABASE_URL)


def _signed_in_client(app, email):
    client = app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post("/signin", data={"csrf_token": token, "email": email, "password": PASSWORD})
    return client


def _app_and_paths():
    from sqlalchemy import select

    from app import create_app
    from app.extensions import db
    from app.models import Gig, Order, User

    app = create_app()
    with app.app_context():
        buyer = db.session.scalar(select(User).where(User.email == BUYER))
        order_id = db.session.scalar(select(Order.id).where(Order.buyer_id == buyer.id).order_by(Order.id.desc()))
        gig_slug = db.session.scalar(select(Gig.slug).join(Order, Order.gig_id == Gig.id).where(Order.id == order_id))
    return app, lambda path: path.replace("ORDER", str(order_id)).replace("GIG", gig_slug)


def _profile_here(path):
    from pyinstrument import Profiler

    app, resolve = _app_and_paths()
    client = _signed_in_client(app, SELLER if path.startswith("/sell") else BUYER)
    path = resolve(path)
    for _ in range(5):
        assert client.get(path).status_code == 200
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(50):
        client.get(path)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


def _cpu_here(_path, requests=300):
    app, resolve = _app_and_paths()
    buyer, seller = _signed_in_client(app, BUYER), _signed_in_client(app, SELLER)
    pages = [("/healthz", buyer), ("/gigs", buyer), ("/gigs/GIG", buyer), ("/orders/ORDER", buyer)]
    pages += [("/account", buyer), ("/sell/", seller)]
    for path, client in pages:
        for _ in range(20):
            assert client.get(resolve(path)).status_code == 200
        started = time.process_time()
        for _ in range(requests):
            client.get(resolve(path))
        print(f"{path:14s} {(time.process_time() - started) / requests * 1000:6.2f} ms CPU per request")


def main():
    parser = argparse.ArgumentParser(description="Signed-in pages vs bare hello, same run.")
    parser.add_argument("--gigs", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=30)
    harness.load_arguments(parser, connections=8, max_connections=64)
    parser.add_argument(
        "--profile", metavar="PATH", help="profile PATH (/gigs, /gigs/GIG, /account, /orders/ORDER, /sell/)"
    )
    parser.add_argument("--cpu", action="store_true", help="in-process CPU per request of each page")
    parser.add_argument("--seed", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        return seed(*args.seed)
    if args.profile:
        return profile(args.profile, args.gigs, args.orders)
    if args.cpu:
        return profile("", args.gigs, args.orders, function="_cpu_here")
    harness.check_load_arguments(parser, args)
    started = time.monotonic()
    from bench.run_all import table

    print(table(rows(measure(args.gigs, args.orders, args.seconds, args.connections, args.rounds))))
    print(f"\ntotal time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
