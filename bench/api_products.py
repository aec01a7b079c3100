"""`GET /api/v1/products` (a page of 100, with their plans) as a ratio to a bare Flask "hello"
in the same run (goal, issue 20: >= 0.4), with the app's own /healthz alongside (the floor any
request of the app pays).

    .venv/bin/python -m bench.api_products                   # ~1 minute
    .venv/bin/python -m bench.api_products --rounds 3        # medians of three
    .venv/bin/python -m bench.run_all --only api_products    # the same, as one run_all row

Copies the run's migrated template database (harness.migrated_database; dropped at the end
unless --keep), seeds a company with --products products (one plan each) and an API key, then
serves the app (production configuration, no sandbox; the API rate limit raised so it is
counted in Redis on every request but never refuses) and bench/hello.py with the Procfile's
gunicorn settings (2 sync workers) on free loopback ports, and drives each with wrk (or
Python threads when wrk is missing) at fixed concurrency for a fixed time. One server is loaded
at a time; hello is measured before and after each round. Settings: BENCH_PG, BENCH_DB_PREFIX,
BENCH_REDIS_URL (bench/README.md).
"""

import json
import statistics
import time
import urllib.request

from bench import harness
from bench.harness import Row, drop_database, free_port, gunicorn, migrated_database, stop, wait_ready
from bench.loadgen import load

DATABASE_URL = harness.database_url("api_products")
GOAL = 0.4
PAGE = 100
PRODUCTS = f"GET /api/v1/products?limit={PAGE}"


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


def measure(products=300, seconds=8, connections=16, rounds=1, keep=False):
    """{target name: [loadgen.Result per round]} for hello, /healthz and the products page."""
    port, hello_port = free_port(), free_port()
    env = harness.production_env(port, DATABASE_URL, harness.redis_url(), API_RATE_LIMIT_PER_MINUTE="1000000000")
    print(f"database {DATABASE_URL}, redis {harness.redis_url()}, load generator: {harness.generator()}")
    migrated_database(DATABASE_URL, env)
    servers = []
    try:
        seeded = harness.seed_in_app("api_products", products, env=env)
        headers = {"Authorization": f"Bearer {seeded['key']}"}
        servers.append(gunicorn("wsgi:app", port, env, "/tmp/api-bench-app-gunicorn.log"))
        servers.append(gunicorn("bench.hello:app", hello_port, env, "/tmp/api-bench-hello-gunicorn.log"))
        app_base, hello_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{hello_port}/"
        wait_ready(hello_url, timeout=90)
        wait_ready(app_base + "/healthz", timeout=90)
        products_url = f"{app_base}/api/v1/products?limit={PAGE}"
        status, body = fetch(products_url, headers)
        if status != 200 or len(body["data"]) != PAGE or not body["data"][0]["plans"]:
            raise RuntimeError(f"/api/v1/products did not answer a page of {PAGE}: {status}")

        targets = [("bare hello", hello_url, None), ("/healthz", app_base + "/healthz", None)]
        targets.append((PRODUCTS, products_url, headers))
        for _, url, sent in targets:
            load(url, connections, 1 if seconds < 5 else 2, headers=sent)  # warm-up: connections, pools, imports
        results = {name: [] for name, _, _ in targets}
        for _ in range(rounds):
            for name, url, sent in targets + [targets[0]]:
                results[name].append(load(url, connections, seconds, headers=sent))
    finally:
        stop(servers)
        if not keep:
            drop_database(DATABASE_URL)
    return results


def rows(results):
    """One run_all row: the products page against hello (the app's /healthz in the baseline)."""
    hello_rps = statistics.median(r.rps for r in results["bare hello"])
    floor_rps = statistics.median(r.rps for r in results["/healthz"])
    runs = results[PRODUCTS]
    rps, p99 = statistics.median(r.rps for r in runs), statistics.median(r.p99_ms for r in runs)
    errors = sum(r.errors for r in runs)
    return [
        Row(
            f"{PRODUCTS} (API key, page cache)",
            f"{rps:,.0f} req/s, p99 {p99:.0f} ms" + (f", {errors} err" if errors else ""),
            f"hello {hello_rps:,.0f} req/s (app /healthz {floor_rps:,.0f} = {floor_rps / hello_rps:.2f})",
            rps / hello_rps,
            f">= {GOAL}",
            rps / hello_rps >= GOAL and not errors,
        )
    ]


def run(quick: bool) -> list[Row]:
    """run_all's entry point: `quick` = 120 products and 1 s loads (the suite's smoke run)."""
    if quick:
        return rows(measure(products=PAGE + 20, seconds=1, connections=2))
    return rows(measure())


def main():
    parser = harness.load_parser(f"{PRODUCTS} vs bare hello, same run.", connections=16)
    parser.add_argument("--products", type=int, default=300)
    args = parser.parse_args()
    if args.seed:
        return seed(args.seed)
    args.max_connections = 128
    harness.check_load_arguments(parser, args)
    if not PAGE <= args.products <= 5000:
        parser.error(f"keep --products in {PAGE}..5000")
    started = time.monotonic()
    from bench.run_all import table

    results = measure(args.products, args.seconds, args.connections, args.rounds, args.keep)
    print(
        f"\n{args.connections} connections, {args.seconds}s per run, {args.rounds} round(s), {args.products} "
        "products; hello measured before and after each round; gunicorn 2 sync workers each\n"
    )
    for name, runs in results.items():
        rps, p99 = statistics.median(r.rps for r in runs), statistics.median(r.p99_ms for r in runs)
        print(f"{name:<40}{rps:>10,.0f} req/s{p99:>8.1f} ms p99{sum(r.errors for r in runs):>6} err")
    print()
    print(table(rows(results)))
    print(f"\ntotal time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
