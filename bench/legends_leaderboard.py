"""The Legends leaderboard (top 100 + "your rank") with 100,000 members, as a ratio to a bare
Flask "hello" in the same run. Goal (issue 19): >= 0.5.

    .venv/bin/python -m bench.legends_leaderboard                  # ~1.5 minutes
    .venv/bin/python -m bench.legends_leaderboard --members 20000 --seconds 5
    .venv/bin/python -m bench.run_all --only legends_leaderboard   # the same, as one table

Creates a fresh database (harness.database_url("legends_leaderboard"): BENCH_DATABASE_URL, or
BENCH_PG/<BENCH_DB_PREFIX>legends_leaderboard; dropped at the end unless --keep), migrates it,
opens a game for one seller and bulk-loads members (COPY into users, legends_members and one XP
ledger line each; plain INSERTs on a SQLite smoke run) and the all-time XP board (a Redis ZADD
pipeline, in the tags the app writes; BENCH_REDIS_URL is flushed). Then serves the app
(TRADEPOST_ENV=production, no sandbox) and bench/hello.py with the Procfile's gunicorn settings
on free loopback ports, signs in as a member ranked far down the board, and loads with that
session:

- "signed-in floor": /healthz with the member's cookie — what every signed-in request pays
  before its view runs (the session lookup and the app's per-request hooks);
- "board fragment": GET /legends/<slug>/board as the tabs fetch it (HX-Request), the top 100
  and the viewer's rank — the figure the goal is about;
- "game page": the whole member page (level, quests, achievements, guild and the board).

`run(quick)` is bench/run_all's entry point (quick: 2,000 members, 1 s loads).
"""

import argparse
import os
import re
import statistics
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection

from bench import harness
from bench.harness import Row, drop_database, free_port, gunicorn, migrated_database, stop, wait_ready
from bench.loadgen import load

DATABASE_URL = harness.database_url("legends_leaderboard")
GOAL = 0.5
VIEWER_EMAIL = "viewer@bench.test"
VIEWER_PASSWORD = "bench-viewer-password-1"
BOARD, GAME, FLOOR, HELLO = "board fragment", "game page", "signed-in floor", "bare hello"
LABELS = {
    BOARD: "Legends board fragment (top 100 + your rank)",
    FLOOR: "signed-in floor (/healthz with a session)",
    GAME: "Legends game page, signed in",
}


def seed(members: int) -> str:
    """Open a game and load `members` members (run inside the app's environment); the slug."""
    import redis
    from sqlalchemy import text

    from app import create_app
    from app.config import Config
    from app.extensions import db
    from app.models import LegendsClass, User
    from app.services.accounts import hash_password
    from app.services.companies import create_seller_company
    from app.services.legends import boards
    from app.services.legends.game import join_game, open_game

    app = create_app(Config)
    with app.app_context():
        owner = User(email="owner@bench.test", display_name="Bench Owner", intent="sell", password_hash="x")
        db.session.add(owner)
        db.session.flush()
        company = create_seller_company(owner, "Bench Legends Studio")
        open_game(company)
        viewer = User(
            email=VIEWER_EMAIL,
            display_name="Far Down",
            intent="hire",
            password_hash=hash_password(VIEWER_PASSWORD),
            email_verified_at=datetime.now(UTC),
        )
        db.session.add(viewer)
        db.session.flush()
        class_ids = [c.id for c in db.session.query(LegendsClass).filter_by(company_id=company.id).order_by("id")]
        join_game(company, viewer, str(class_ids[0]))
        db.session.commit()
        company_id, slug = company.id, company.slug
        first_user = db.session.scalar(text("SELECT COALESCE(MAX(id), 0) + 1 FROM users"))
        first_member = db.session.scalar(text("SELECT COALESCE(MAX(id), 0) + 1 FROM legends_members"))
    start = datetime.now(UTC) - timedelta(days=1)
    stamp = start.replace(tzinfo=None).isoformat(sep=" ")
    users, people, awards = [], [], []
    for n in range(members):
        user_id, member_id, xp = first_user + n, first_member + n, _xp(n)
        users.append((user_id, f"m{n}@bench.test", "x", f"Member {n}", "hire", False, True, stamp))
        people.append((member_id, company_id, user_id, class_ids[n % 3], stamp, stamp, 0, 0, xp, 1, stamp, 0, 0, 0))
        awards.append((company_id, member_id, f"bench:{n}", "quest", xp, 0, 0, stamp))
    _bulk_load(
        [
            ("users", "id, email, password_hash, display_name, intent, is_admin, active, created_at", users),
            (
                "legends_members",
                "id, company_id, user_id, class_id, joined_at, class_changed_at, prestige, prestige_xp, total_xp, "
                "level, level_reached_at, referrals, commission_cents, streak_days",
                people,
            ),
            (
                "legends_xp_awards",
                "company_id, member_id, source_key, kind, amount, referrals_delta, commission_cents_delta, created_at",
                awards,
            ),
        ]
    )
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    key = f"lg:{company_id}:xp:all:all"
    for offset in range(0, members, 10_000):
        pipe = client.pipeline(transaction=False)
        chunk = range(offset, min(offset + 10_000, members))
        pipe.zadd(key, {boards.tag(first_member + n, start): _xp(n) for n in chunk})
        pipe.hset(key + ":tags", mapping={first_member + n: boards.tag(first_member + n, start) for n in chunk})
        pipe.execute()
    viewer_member = first_member - 1
    client.zadd(key, {boards.tag(viewer_member, start): 0})
    client.hset(key + ":tags", viewer_member, boards.tag(viewer_member, start))
    return slug


def _xp(n: int) -> int:
    """The XP of the n-th bulk-loaded member (spread over 1..100,000)."""
    return (n * 7919) % 100_000 + 1


def _bulk_load(tables: list[tuple[str, str, list[tuple]]]) -> None:
    """Insert (table, columns, rows): COPY on PostgreSQL (then the id sequences follow), plain
    INSERTs on a SQLite smoke run."""
    url = os.environ["DATABASE_URL"]
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            for table, columns, rows in tables:
                marks = ", ".join("?" * len(columns.split(",")))
                conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        return
    import psycopg

    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            for table, columns, rows in tables:
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            cursor.execute("SELECT setval('users_id_seq', (SELECT MAX(id) FROM users))")
            cursor.execute("SELECT setval('legends_members_id_seq', (SELECT MAX(id) FROM legends_members))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def sign_in(base: str) -> str:
    """The session cookie of the viewer, signed in through the form."""
    parts = urllib.parse.urlsplit(base)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/signin")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"email": VIEWER_EMAIL, "password": VIEWER_PASSWORD, "csrf_token": token})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    conn.request("POST", "/signin", body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 303:
        raise RuntimeError(f"sign-in answered {response.status}")
    return response.getheader("Set-Cookie").split(";")[0]


def fetch(url: str, headers: dict[str, str]) -> tuple[int, str]:
    parts = urllib.parse.urlsplit(url)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
    response = conn.getresponse()
    return response.status, response.read().decode()


def measure(members: int, seconds: float, connections: int, rounds: int = 1, keep: bool = False) -> dict:
    """Seed, serve, check the board renders, and load each target `rounds` times (hello once
    more at the end): {target name: [loadgen results]}."""
    port, hello_port = free_port(), free_port()
    env = harness.production_env(port, DATABASE_URL, harness.redis_url())
    migrated_database(DATABASE_URL, env)
    servers = []
    try:
        t = time.monotonic()
        slug = harness.run_module(["bench.legends_leaderboard", "--seed-only", "--members", str(members)], env)
        slug = slug.strip().splitlines()[-1]
        print(f"{members:,} members seeded in {time.monotonic() - t:.1f}s", flush=True)
        servers.append(gunicorn("wsgi:app", port, env, "/tmp/bench-legends-gunicorn.log"))
        servers.append(gunicorn("bench.hello:app", hello_port, env, "/tmp/bench-legends-hello-gunicorn.log"))
        app_base, hello_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{hello_port}/"
        wait_ready(hello_url, timeout=120)
        wait_ready(app_base + "/healthz", timeout=120)
        cookie = {"Cookie": sign_in(app_base)}
        board_url = f"{app_base}/legends/{slug}/board?category=xp&period=all&scope=all"
        targets = [
            (HELLO, hello_url, {}),
            (FLOOR, app_base + "/healthz", cookie),
            (BOARD, board_url, {**cookie, "HX-Request": "true"}),
            (GAME, f"{app_base}/legends/{slug}", cookie),
        ]
        status, body = fetch(board_url, targets[2][2])
        rank = re.search(r"Your rank: <strong>#([\d,]+)</strong> of ([\d,]+)", body)
        if status != 200 or body.count("<tr") < min(100, members) or rank is None:
            raise RuntimeError(f"the board did not render the top 100 and the viewer's rank ({status})")
        print(f"viewer ranked #{rank.group(1)} of {rank.group(2)}", flush=True)
        for _, url, headers in targets if seconds >= 2 else []:
            load(url, connections, 2, headers=headers)  # warm-up
        results: dict = {name: [] for name, _, _ in targets}
        for _ in range(rounds):
            for name, url, headers in targets + [targets[0]]:
                results[name].append(load(url, connections, seconds, headers=headers))
    finally:
        stop(servers)
        if not keep:
            drop_database(DATABASE_URL)
    return results


def rows(results: dict) -> list[Row]:
    """The run_all rows: the board against the goal, the floor and the game page for scale."""
    hello = statistics.median(r.rps for r in results[HELLO])
    out = []
    for name, goal in ((BOARD, f">= {GOAL}"), (FLOOR, "none (the floor)"), (GAME, "none (includes the board)")):
        runs = results[name]
        rps, p99 = statistics.median(r.rps for r in runs), statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        out.append(
            Row(
                LABELS[name],
                f"{rps:,.0f} req/s, p99 {p99:.0f} ms" + (f", {errors} err" if errors else ""),
                f"hello {hello:,.0f} req/s",
                rps / hello,
                goal,
                not errors and (rps / hello >= GOAL if name == BOARD else True),
            )
        )
    return out


def run(quick: bool) -> list[Row]:
    """run_all's entry point: `quick` = 1,000 members, 1 s loads with 4 connections."""
    if quick:
        return rows(measure(members=1_000, seconds=1, connections=4))
    return rows(measure(members=100_000, seconds=8, connections=16))


def main() -> None:
    parser = argparse.ArgumentParser(description="Legends leaderboard vs bare hello, same run.")
    parser.add_argument("--members", type=int, default=100_000)
    harness.load_arguments(parser, connections=16, max_connections=256)
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_only:
        print(seed(args.members))
        return
    harness.check_load_arguments(parser, args)
    started = time.monotonic()
    print(f"database {DATABASE_URL}, redis {harness.redis_url()}, load generator: {harness.generator()}")
    from bench.run_all import table

    found = rows(measure(args.members, args.seconds, args.connections, args.rounds, args.keep))
    print(f"\n{args.connections} connections, {args.seconds}s per run, {args.rounds} round(s)\n")
    print(table(found))
    print(f"\ngoal: the board (top 100 + your rank) >= {GOAL} of bare hello; total {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
