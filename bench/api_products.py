"""`GET /api/v1/products` (a page of 100, with their plans) as a ratio to a bare Flask "hello"
in the same run.

    .venv/bin/python -m bench.api_products                   # ~1 minute
    .venv/bin/python -m bench.api_products --rounds 3        # medians of three

Creates a fresh PostgreSQL database (dropped at the end unless --keep), migrates it, seeds a
company with --products products (one plan each) and an API key, then serves the app
(TRADEPOST_ENV=production, no sandbox; the API rate limit raised so it is counted in Redis on
every request but never refuses) and bench/hello.py with the Procfile's gunicorn settings
(2 sync workers) on loopback ports, and drives each with wrk (or Python threads when wrk is
missing) at fixed concurrency for a fixed time. One server is loaded at a time; hello is
measured before and after each round.
"""

import json
import os
import statistics
import time
import urllib.request

import psycopg

from bench import harness
from bench.harness import gunicorn, recreate_database, wait_ready
from bench.loadgen import generator_name, load

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tp_api_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
APP_PORT = int(os.environ.get("BENCH_PORT", "5144"))
GOAL = 0.4
PAGE = 100


def production_env():
    return harness.production_env(APP_PORT, DATABASE_URL, REDIS_URL, API_RATE_LIMIT_PER_MINUTE="1000000000")


def seed(count):
    """Run inside the production environment: a seller company with `count` products (one
    plan each) and an API key with products:read; prints the key as JSON."""
    from app import create_app
    from app.extensions import db
    from app.models import Product
    from app.services.accounts import register_user
    from app.services.api_keys import create_key
    from app.services.companies import create_seller_company
    from app.services.plans import sync_first_plan

    app = create_app()
    with app.app_context():
        seller = register_user("bench-seller@example.com", "bench-password-1", "Bench Seller", "sell")
        company = create_seller_company(seller, "Bench Shop")
        for number in range(count):
            product = Product(
                company_id=company.id,
                title=f"Bench product {number}",
                slug=f"bench-product-{number}",
                description_md="A product for the benchmark.",
                description_html="<p>A product for the benchmark.</p>",
                price_cents=1000 + number,
                billing="one_time",
            )
            db.session.add(product)
            db.session.flush()
            sync_first_plan(product)
        _, plaintext = create_key(company, name="bench", scopes=["products:read"])
        db.session.commit()
        print(json.dumps({"key": plaintext}))


def fetch(url, headers):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def main():
    parser = harness.load_parser("GET /api/v1/products (page of 100) vs bare hello, same run.", connections=16)
    parser.add_argument("--products", type=int, default=300)
    args = parser.parse_args()
    if args.seed:
        return seed(args.seed)
    if not 1 <= args.seconds <= 30 or not 1 <= args.rounds <= 5 or not 1 <= args.connections <= 128:
        parser.error("keep --seconds in 1..30, --rounds in 1..5, --connections in 1..128")
    if not PAGE <= args.products <= 5000:
        parser.error(f"keep --products in {PAGE}..5000")

    started = time.monotonic()
    env = production_env()
    print(f"database {DATABASE_URL} (fresh), redis {REDIS_URL}, load generator: {generator_name()}")
    recreate_database(DATABASE_URL)
    servers = []
    try:
        seeded = harness.migrate_and_seed(env, "bench.api_products", args.products)
        headers = {"Authorization": f"Bearer {json.loads(seeded)['key']}"}
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

        hello_port = APP_PORT + 1
        servers.append(gunicorn("wsgi:app", APP_PORT, env, "/tmp/api-bench-app-gunicorn.log"))
        servers.append(gunicorn("bench.hello:app", hello_port, env, "/tmp/api-bench-hello-gunicorn.log"))
        app_base, hello_url = f"http://127.0.0.1:{APP_PORT}", f"http://127.0.0.1:{hello_port}/"
        wait_ready(hello_url, timeout=90)
        wait_ready(app_base + "/healthz", timeout=90)
        products_url = f"{app_base}/api/v1/products?limit={PAGE}"
        status, body = fetch(products_url, headers)
        if status != 200 or len(body["data"]) != PAGE or not body["data"][0]["plans"]:
            raise RuntimeError(f"/api/v1/products did not answer a page of {PAGE}: {status}")

        targets = [("bare hello", hello_url, None), (f"GET /api/v1/products?limit={PAGE}", products_url, headers)]
        for _, url, sent in targets:
            load(url, args.connections, 2, headers=sent)  # warm-up: connections, pools, imports
        results = {name: [] for name, _, _ in targets}
        for _ in range(args.rounds):
            for name, url, sent in targets + [targets[0]]:
                results[name].append(load(url, args.connections, args.seconds, headers=sent))
    finally:
        harness.stop_servers(servers, None if args.keep else DATABASE_URL)

    hello_rps = statistics.median(r.rps for r in results["bare hello"])
    print(
        f"\n{args.connections} connections, {args.seconds}s per run, {args.rounds} round(s), {args.products} products; "
        f"hello measured before and after each round; gunicorn 2 sync workers each\n"
    )
    print(f"{'endpoint':<36}{'req/s':>10}{'p99 ms':>10}{'errors':>8}{'ratio':>8}")
    for name, _, _ in targets:
        runs = results[name]
        rps, p99 = statistics.median(r.rps for r in runs), statistics.median(r.p99_ms for r in runs)
        flag = "  < goal" if name != "bare hello" and rps / hello_rps < GOAL else ""
        print(f"{name:<36}{rps:>10.0f}{p99:>10.1f}{sum(r.errors for r in runs):>8}{rps / hello_rps:>8.2f}{flag}")
    print(f"\ngoal: the products page >= {GOAL} of bare hello; total time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
