"""What every server benchmark here shares: a scratch PostgreSQL database, the app's
production environment, gunicorn processes like the Procfile's, and a readiness wait."""

import argparse
import atexit
import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from cryptography.fernet import Fernet

from app.services.user_tokens import new_private_key_pem

ROOT = Path(__file__).resolve().parent.parent


def _admin_url(url):
    return urlsplit(url)._replace(path="/postgres").geturl()


def _name(url):
    return urlsplit(url).path.lstrip("/")


def _sqlite_path(url):
    """The file of a sqlite:///path URL (quick smoke runs), None for PostgreSQL."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def recreate_database(url):
    if (path := _sqlite_path(url)) is not None:
        path.unlink(missing_ok=True)
        return
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{_name(url)}"')


def drop_database(url):
    if (path := _sqlite_path(url)) is not None:
        path.unlink(missing_ok=True)
        return
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)')


def random_production_secrets():
    """Fresh random values for every secret production requires (app/config.py refuses the
    repository's development values)."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "LICENSE_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
        "STRIPE_SECRET_KEY": "sk_test_bench_" + secrets.token_hex(16),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(24),
        "WHOP_WEBHOOK_SECRET": "ws_" + secrets.token_hex(24),
        "WHOP_APP_ID": "app_bench_" + secrets.token_hex(6),
        "WHOP_CLIENT_ID": "bench-" + secrets.token_hex(8),
        "WHOP_CLIENT_SECRET": secrets.token_urlsafe(32),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        "APP_TOKEN_SIGNING_KEYS": new_private_key_pem(),
    }


def production_env(port, database_url, redis_url, **extra):
    """The environment of a production app process (no sandbox) on loopback `port`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "STRIPE_API_BASE", "WHOP_API_BASE"))}
    env.update(
        TRADEPOST_ENV="production",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        APP_BASE_URL=f"http://127.0.0.1:{port}",
        FLASK_APP="app",
        PYTHONPATH=str(ROOT),
        MAIL_SERVER="127.0.0.1",
        MAIL_DEFAULT_SENDER="Bench <bench@example.com>",
        **random_production_secrets(),
    )
    env.update(extra)
    return env


def gunicorn(target, port, env, log):
    """gunicorn with the Procfile's settings (2 sync workers) on loopback."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--error-logfile",
            log,
            target,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


# ---- the common contract of bench/run_all.py --------------------------------------------------


@dataclass
class Row:
    """One line of the run_all table: what was measured, against what, and the goal.

    `figure` and `baseline` are display strings with units ("812 req/s, p99 43 ms"); `ratio`
    is figure ÷ baseline when the goal is a ratio (None otherwise); `met` says whether every
    part of `goal` held in this run.
    """

    workload: str
    figure: str
    baseline: str
    ratio: float | None
    goal: str
    met: bool


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PG_SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "tp_bench_")


def database_url(name):
    """The scratch database of benchmark `name`: BENCH_DATABASE_URL when set, else
    BENCH_PG/<BENCH_DB_PREFIX><name> (e.g. tp_perf_listing). BENCH_PG may be sqlite:///DIR
    for a smoke run without PostgreSQL (one file per benchmark in DIR)."""
    return os.environ.get("BENCH_DATABASE_URL") or f"{PG_SERVER}/{DB_PREFIX}{name}" + (
        ".db" if PG_SERVER.startswith("sqlite:///") else ""
    )


def redis_url():
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")


_template = {}


def migrated_database(url, env):
    """A fresh database at `url` migrated to head.

    The first call in a process migrates a template database (<prefix>template); later calls
    copy it (CREATE DATABASE … TEMPLATE), which takes a fraction of a second instead of a
    migration run per benchmark.
    """
    template = f"{DB_PREFIX}template"
    sqlite = _sqlite_path(url)
    if not _template:
        template_url = (
            f"sqlite:///{sqlite.with_name(template + '.db')}"
            if sqlite is not None
            else urlsplit(url)._replace(path=f"/{template}").geturl()
        )
        recreate_database(template_url)
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade", "heads"],
            cwd=ROOT,
            env={**env, "DATABASE_URL": template_url},
            check=True,
            capture_output=True,
        )
        _template["url"] = template_url
        atexit.register(drop_template)  # a benchmark run on its own (not through run_all)
    if sqlite is not None:
        shutil.copyfile(_sqlite_path(_template["url"]), sqlite)
        return
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{_name(url)}" TEMPLATE "{template}"')


def drop_template():
    if _template:
        drop_database(_template.pop("url"))


def bench_redis(url, workdir):
    """(`url`, None) when given; else a private redis-server on a free port in `workdir`:
    (its URL, its process, to terminate at the end)."""
    if url:
        return url, None
    import socket

    from app.devredis import start_redis_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0", start_redis_server(port, workdir)


def migrate(env):
    """`flask db upgrade heads` in a production app's environment `env`."""
    subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade", "heads"], cwd=ROOT, env=env, check=True, capture_output=True
    )


def run_module(args, env):
    """Run `python -m <args>` in `env` from the repository root; its standard output."""
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def stop(servers, database_url=None):
    """Terminate gunicorn masters started here, wait for them (kill after 60 s), then drop
    `database_url` when given."""
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
    if database_url is not None:
        drop_database(database_url)


def fmt_rate(result):
    return f"{result.rps:,.0f} req/s, p99 {result.p99_ms:.0f} ms" + (f", {result.errors} err" if result.errors else "")


def cpu_count():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def generator():
    from bench.loadgen import generator_name

    return generator_name()


def engine_name():
    return "SQLite (smoke run)" if PG_SERVER.startswith("sqlite:///") else "PostgreSQL"


def seed_in_app(module, *args, env):
    """Run `python -m bench.<module> --seed ARGS` in the app's environment `env` and return
    the JSON document it prints last (the seed step of a benchmark)."""
    out = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", "--seed", *map(str, args)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def load_arguments(parser, connections, max_connections):
    """Add --seconds, --connections, --rounds and --keep (the settings every load shares)."""
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.set_defaults(max_connections=max_connections)


def check_load_arguments(parser, args):
    """Refuse loads that are not bounded (parser.error exits)."""
    if not 1 <= args.seconds <= 30 or not 1 <= args.rounds <= 5 or not 1 <= args.connections <= args.max_connections:
        parser.error(f"keep --seconds in 1..30, --rounds in 1..5, --connections in 1..{args.max_connections}")


def migrate_and_seed(env, module, *seed_args):
    """Migrate the database of `env` to head, then run `python -m module --seed …` in that
    environment; its last line of output (the seed's JSON)."""
    subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade", "heads"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    seeded = subprocess.run(
        [sys.executable, "-m", module, "--seed", *map(str, seed_args)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return seeded.stdout.strip().splitlines()[-1]


def stop_servers(servers, database_url=None):
    """Stop the gunicorn `servers`; drop `database_url` when given."""
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:  # a loaded machine: don't wait on graceful shutdown
            server.kill()
            server.wait(timeout=15)
    if database_url:
        drop_database(database_url)


def load_parser(description, connections):
    """The options every load benchmark takes: --seconds, --connections, --rounds, --keep (and
    the hidden --seed the benchmark runs itself with to fill the database)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    return parser


def fresh_bench_env(port, database_url, redis_url):
    """The production environment of a benchmark's app on `port`, after (re)creating its empty
    database; says on standard output what it runs on."""
    from bench.loadgen import generator_name

    env = production_env(port, database_url, redis_url)
    print(f"database {database_url} (fresh), redis {redis_url}, load generator: {generator_name()}")
    recreate_database(database_url)
    return env
