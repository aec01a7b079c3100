"""The Legends leaderboard (top 100 + "your rank") with 100,000 members, as a ratio to a bare
Flask "hello" in the same run. Goal: >= 0.5.

    .venv/bin/python -m bench.legends_leaderboard                  # ~2 minutes
    .venv/bin/python -m bench.legends_leaderboard --members 20000 --seconds 5

Creates a fresh PostgreSQL database (dropped again at the end unless --keep), migrates it,
opens a game for one seller and bulk-loads members (COPY into users, legends_members and
one XP ledger line each) and the all-time XP board (a Redis ZADD pipeline, in the tags the
app writes). Then serves the app (TRADEPOST_ENV=production, no sandbox) and bench/hello.py
with the Procfile's gunicorn settings on loopback, signs in as a member ranked far down the
board, and loads with that session:

- "board fragment": GET /legends/<slug>/board as the tabs fetch it (HX-Request), the top 100
  and the viewer's rank — the figure the goal is about;
- "game page": the whole member page (level, quests, achievements, guild and the board).
"""

import argparse
import io
import os
import re
import statistics
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection

import psycopg

from bench import harness
from bench.harness import gunicorn, wait_ready
from bench.loadgen import load

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tp_legends_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
APP_PORT = int(os.environ.get("BENCH_PORT", "5132"))
GOAL = 0.5
VIEWER_EMAIL = "viewer@bench.test"
VIEWER_PASSWORD = "bench-viewer-password-1"


def seed(members: int) -> str:
    """Open a game and load `members` members (run inside the app's environment); the slug."""
    import redis

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
    start = datetime.now(UTC) - timedelta(days=1)
    with psycopg.connect(DATABASE_URL) as conn:
        first_user = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM users").fetchone()[0]
        first_member = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM legends_members").fetchone()[0]
        users, people, awards = io.StringIO(), io.StringIO(), io.StringIO()
        stamp = start.replace(tzinfo=None).isoformat(sep=" ")
        for n in range(members):
            user_id, member_id = first_user + n, first_member + n
            xp = (n * 7919) % 100_000 + 1
            users.write(f"{user_id}\tm{n}@bench.test\tx\tMember {n}\thire\tf\tt\t{stamp}\n")
            row = (member_id, company_id, user_id, class_ids[n % 3], stamp, stamp, 0, 0, xp, 1, stamp, 0, 0, 0)
            people.write("\t".join(map(str, row)) + "\n")
            awards.write(f"{company_id}\t{member_id}\tbench:{n}\tquest\t{xp}\t0\t0\t{stamp}\n")
        with conn.cursor() as cursor:
            columns = "id, email, password_hash, display_name, intent, is_admin, active, created_at"
            with cursor.copy(f"COPY users ({columns}) FROM STDIN") as copy:
                copy.write(users.getvalue())
            columns = (
                "id, company_id, user_id, class_id, joined_at, class_changed_at, prestige, prestige_xp, total_xp, "
                "level, level_reached_at, referrals, commission_cents, streak_days"
            )
            with cursor.copy(f"COPY legends_members ({columns}) FROM STDIN") as copy:
                copy.write(people.getvalue())
            columns = (
                "company_id, member_id, source_key, kind, amount, referrals_delta, commission_cents_delta, created_at"
            )
            with cursor.copy(f"COPY legends_xp_awards ({columns}) FROM STDIN") as copy:
                copy.write(awards.getvalue())
            cursor.execute("SELECT setval('users_id_seq', (SELECT MAX(id) FROM users))")
            cursor.execute("SELECT setval('legends_members_id_seq', (SELECT MAX(id) FROM legends_members))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    key = f"lg:{company_id}:xp:all:all"
    for offset in range(0, members, 10_000):
        pipe = client.pipeline(transaction=False)
        chunk = range(offset, min(offset + 10_000, members))
        pipe.zadd(key, {boards.tag(first_member + n, start): (n * 7919) % 100_000 + 1 for n in chunk})
        pipe.hset(key + ":tags", mapping={first_member + n: boards.tag(first_member + n, start) for n in chunk})
        pipe.execute()
    viewer_member = first_member - 1
    client.zadd(key, {boards.tag(viewer_member, start): 0})
    client.hset(key + ":tags", viewer_member, boards.tag(viewer_member, start))
    return slug


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


def main() -> None:
    parser = argparse.ArgumentParser(description="Legends leaderboard vs bare hello, same run.")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_only:
        print(seed(args.members))
        return
    args.max_connections = 256
    harness.check_load_arguments(parser, args)
    started = time.monotonic()
    env = harness.fresh_bench_env(APP_PORT, DATABASE_URL, REDIS_URL)
    servers = []
    try:
        harness.migrate(env)
        t = time.monotonic()
        slug = (
            harness.run_module(["bench.legends_leaderboard", "--seed-only", "--members", str(args.members)], env)
            .strip()
            .splitlines()[-1]
        )
        print(f"{args.members:,} members seeded in {time.monotonic() - t:.1f}s")
        hello_port = APP_PORT + 1
        servers.append(gunicorn("wsgi:app", APP_PORT, env, "/tmp/bench-legends-gunicorn.log"))
        servers.append(gunicorn("bench.hello:app", hello_port, env, "/tmp/bench-legends-hello-gunicorn.log"))
        app_base, hello_url = f"http://127.0.0.1:{APP_PORT}", f"http://127.0.0.1:{hello_port}/"
        wait_ready(hello_url)
        wait_ready(app_base + "/healthz")
        cookie = sign_in(app_base)
        member_headers = {"Cookie": cookie}
        board_url = f"{app_base}/legends/{slug}/board?category=xp&period=all&scope=all"
        targets = [
            ("bare hello", hello_url, {}),
            ("board fragment", board_url, {**member_headers, "HX-Request": "true"}),
            ("game page", f"{app_base}/legends/{slug}", member_headers),
        ]
        status, body = fetch(board_url, targets[1][2])
        rank = re.search(r"Your rank: <strong>#([\d,]+)</strong> of ([\d,]+)", body)
        if status != 200 or body.count("<tr") < 100 or rank is None:
            raise RuntimeError(f"the board did not render the top 100 and the viewer's rank ({status})")
        print(f"viewer ranked #{rank.group(1)} of {rank.group(2)}")
        for _, url, headers in targets:
            load(url, args.connections, 2, headers=headers)
        results = {name: [] for name, _, _ in targets}
        for _ in range(args.rounds):
            for name, url, headers in targets + [targets[0]]:
                results[name].append(load(url, args.connections, args.seconds, headers=headers))
    finally:
        harness.stop(servers, None if args.keep else DATABASE_URL)
    hello_rps = statistics.median(r.rps for r in results["bare hello"])
    print(f"\n{args.connections} connections, {args.seconds}s per run, {args.rounds} round(s)\n")
    print(f"{'endpoint':<20}{'req/s':>10}{'p99 ms':>10}{'errors':>8}{'ratio':>8}")
    for name, _, _ in targets:
        runs = results[name]
        rps = statistics.median(r.rps for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        flag = "  < goal" if name == "board fragment" and rps / hello_rps < GOAL else ""
        print(f"{name:<20}{rps:>10.0f}{p99:>10.1f}{sum(r.errors for r in runs):>8}{rps / hello_rps:>8.2f}{flag}")
    print(f"\ngoal: the board (top 100 + your rank) >= {GOAL} of bare hello; total {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
