"""License API throughput (validate, activate) as a ratio to a bare Flask SELECT+UPDATE endpoint.

    .venv/bin/python -m bench.licensing                        # ~1.5 minutes
    .venv/bin/python -m bench.licensing --rounds 3 --connections 8

Creates a fresh PostgreSQL database (dropped at the end unless --keep), migrates it, issues
--keys license keys (each already active on one machine), then serves the app
(TRADEPOST_ENV=production, no sandbox, rate limits raised so the limiter runs but never refuses)
and bench/licensing_baseline.py with the same gunicorn settings as the Procfile (2 sync
workers) on loopback ports. Each target gets POSTs with random keys from wrk (a Lua script), or
from a Python thread generator when wrk is missing, at fixed concurrency for a fixed time. One
server is loaded at a time; the baseline is measured before and after each round.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

from app.services.licensing.license_keys import hash_key
from bench import harness, loadgen
from bench.harness import Row, drop_database, free_port, gunicorn, migrated_database, stop, wait_ready

DATABASE_URL = harness.database_url("licensing")
REDIS_URL = harness.redis_url()
APP_PORT = int(os.environ.get("BENCH_PORT") or free_port())
BASELINE_PORT = free_port()
FINGERPRINT = "bench-host"


def production_env():
    # Rate limits raised so the limiter still runs on every request but never refuses.
    return harness.production_env(
        APP_PORT,
        DATABASE_URL,
        REDIS_URL,
        LICENSE_RATE_LIMIT_PER_IP="100000000/minute",
        LICENSE_RATE_LIMIT_PER_KEY="100000000/minute",
    )


def post(url, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def seed(count):
    """Run inside the production environment: a licensed product and `count` keys, each active
    on FINGERPRINT, plus the baseline's table with one row per key. Prints the keys as JSON."""
    from sqlalchemy import text

    from app import create_app
    from app.extensions import db
    from app.models import LicensePolicy, Membership, Product
    from app.services.accounts import register_user
    from app.services.companies import create_seller_company
    from app.services.licensing.issuing import issue_license_for_membership
    from app.services.licensing.license_keys import license_key
    from app.services.licensing.public_api import activate_license

    app = create_app()
    with app.app_context():
        seller = register_user("bench-seller@example.com", "bench-password-1", "Bench Seller", "sell")
        company = create_seller_company(seller, "Bench Software")
        buyer = register_user("bench-buyer@example.com", "bench-password-1", "Bench Buyer", "hire")
        product = Product(
            company_id=company.id,
            title="Bench App",
            slug="bench-app",
            description_md="",
            description_html="",
            price_cents=1000,
            billing="one_time",
        )
        db.session.add(product)
        db.session.flush()
        db.session.add(LicensePolicy(company_id=company.id, product_id=product.id, max_activations=1000))
        db.session.flush()
        keys = []
        for _ in range(count):
            membership = Membership(company_id=company.id, product_id=product.id, buyer_id=buyer.id, status="active")
            db.session.add(membership)
            db.session.flush()
            keys.append(license_key(issue_license_for_membership(membership)))
        for key in keys:
            activate_license(key, FINGERPRINT, "bench machine")
        db.session.execute(
            text(
                "CREATE TABLE bench_baseline (id serial PRIMARY KEY, key_hash varchar(64) "
                "NOT NULL UNIQUE, hits integer NOT NULL DEFAULT 0)"
            )
        )
        db.session.execute(text("INSERT INTO bench_baseline (key_hash) SELECT key_hash FROM licenses"))
        db.session.commit()
        print(json.dumps({"keys": keys, "product_id": product.id}))


# ---- load ---------------------------------------------------------------------------------

LUA = """
local keys = {%(keys)s}
local counter = 0
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  counter = counter + 1
  local key = keys[math.random(#keys)]
  local body = string.format(%(body)s, key, math.random(1, 2147483647), counter)
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end
"""


def run_wrk(base, path, values, body_format, connections, seconds, workdir):
    script = Path(workdir) / f"{abs(hash((path, body_format)))}.lua"
    script.write_text(
        LUA % {"keys": ", ".join(json.dumps(v) for v in values), "body": json.dumps(body_format), "path": path}
    )
    return loadgen.run_wrk(base, connections, seconds, script=script)


def run_threads(base, path, values, body_format, connections, seconds):
    """Fallback generator: the same POST bodies from Python threads."""
    generators = {}

    def make_body(worker, number):
        rng = generators.setdefault(worker, random.Random(worker))
        return (body_format % (rng.choice(values), rng.randrange(2**31), number)).encode()

    return loadgen.run_threads(base + path, connections, seconds, make_body=make_body)


def load(target, connections, seconds, workdir):
    base, path, values, body_format = target
    if shutil.which("wrk"):
        return run_wrk(base, path, values, body_format, connections, seconds, workdir)
    return run_threads(base, path, values, body_format, connections, seconds)


# ---- main ---------------------------------------------------------------------------------


def measure(keys=200, seconds=10, connections=8, rounds=1, keep=False, quiet=False):
    """Load the baseline, validate and activate; {name: [loadgen.Result per round]}."""
    env = production_env()
    if not quiet:
        print(f"database {DATABASE_URL} (fresh), redis {REDIS_URL}, load generator: {loadgen.generator_name()}")
    migrated_database(DATABASE_URL, env)
    servers = []
    try:
        seeded = harness.seed_in_app("licensing", keys, env=env)
        keys = seeded["keys"]
        hashes = [hash_key(key) for key in keys]
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

        servers.append(gunicorn("wsgi:app", APP_PORT, env, "/tmp/lic-bench-app-gunicorn.log"))
        servers.append(gunicorn("bench.licensing_baseline:app", BASELINE_PORT, env, "/tmp/lic-bench-baseline.log"))
        app_base, baseline_base = f"http://127.0.0.1:{APP_PORT}", f"http://127.0.0.1:{BASELINE_PORT}"
        wait_ready(app_base + "/api/v1/licenses/public-key", timeout=120)
        wait_ready(baseline_base + "/healthz", timeout=120)

        status, headers, body = post(
            app_base + "/api/v1/licenses/validate", {"key": keys[0], "fingerprint": FINGERPRINT}
        )
        if status != 200 or body["code"] != "VALID" or not headers["Tradepost-Signature"].startswith("ed25519 "):
            raise RuntimeError(f"validate did not answer VALID: {status} {body}")
        status, _, body = post(baseline_base + "/", {"key_hash": hashes[0]})
        if status != 200 or not body["found"]:
            raise RuntimeError(f"baseline did not find its row: {status} {body}")

        targets = [
            (BASELINE, (baseline_base, "/", hashes, '{"key_hash":"%s","n":%d,"c":%d}')),
            (
                "validate",
                (
                    app_base,
                    "/api/v1/licenses/validate",
                    keys,
                    '{"key":"%s","fingerprint":"' + FINGERPRINT + '","nonce":"n-%d-%d"}',
                ),
            ),
            (
                "activate (new machine)",
                (app_base, "/api/v1/licenses/activate", keys, '{"key":"%s","fingerprint":"m-%d-%d"}'),
            ),
        ]
        with tempfile.TemporaryDirectory(prefix="lic-bench-") as workdir:
            for _, target in targets:
                load(target, connections, 1 if seconds < 5 else 2, workdir)  # warm-up: pools, imports, caches
            results = {name: [] for name, _ in targets}
            for _ in range(rounds):
                for name, target in targets + [targets[0]]:
                    results[name].append(load(target, connections, seconds, workdir))
    finally:
        stop(servers)
        if not keep:
            drop_database(DATABASE_URL)
    return results


BASELINE = "baseline SELECT+UPDATE"
GOALS = {"validate": (0.9, 25.0), "activate (new machine)": (0.6, None)}


def run(quick: bool) -> list[Row]:
    """run_all's entry point: validate and activate against the SELECT+UPDATE baseline."""
    results = measure(keys=20, seconds=1, connections=2, quiet=True) if quick else measure()
    base_rps = statistics.median(r.rps for r in results[BASELINE])
    rows = []
    for name, (ratio_goal, p99_goal) in GOALS.items():
        runs = results[name]
        rps, p99 = statistics.median(r.rps for r in runs), statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        met = rps / base_rps >= ratio_goal and (p99_goal is None or p99 < p99_goal) and not errors
        rows.append(
            Row(
                f"license {name}",
                f"{rps:,.0f} req/s, p99 {p99:.0f} ms" + (f", {errors} err" if errors else ""),
                f"SELECT+UPDATE {base_rps:,.0f} req/s",
                rps / base_rps,
                f">= {ratio_goal}" + (f", p99 < {p99_goal:.0f} ms" if p99_goal else ""),
                met,
            )
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description="License API vs a bare SELECT+UPDATE endpoint, same run.")
    parser.add_argument("--keys", type=int, default=200)
    harness.load_arguments(parser, connections=8, max_connections=128)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        return seed(args.seed)
    harness.check_load_arguments(parser, args)
    if not 1 <= args.keys <= 5000:
        parser.error("keep --keys in 1..5000")
    started = time.monotonic()
    results = measure(args.keys, args.seconds, args.connections, args.rounds, args.keep)
    base_rps = statistics.median(r.rps for r in results[BASELINE])
    base_p99 = statistics.median(r.p99_ms for r in results[BASELINE])
    print(
        f"\n{args.connections} connections, {args.seconds}s per run, {args.rounds} round(s), {args.keys} keys; "
        f"baseline measured before and after each round; gunicorn 2 sync workers each\n"
    )
    print(f"{'endpoint':<26}{'req/s':>9}{'p99 ms':>9}{'errors':>8}{'rps ratio':>11}{'p99 ratio':>11}")
    for name, runs in results.items():
        rps, p99 = statistics.median(r.rps for r in runs), statistics.median(r.p99_ms for r in runs)
        print(
            f"{name:<26}{rps:>9.0f}{p99:>9.1f}{sum(r.errors for r in runs):>8}{rps / base_rps:>11.2f}"
            f"{p99 / base_p99:>11.2f}"
        )
    print(
        "\n"
        + "; ".join(
            f"{n}: >= {g[0]} of the baseline" + (f", p99 < {g[1]:.0f} ms" if g[1] else "") for n, g in GOALS.items()
        )
    )
    print(f"total time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
