"""What every server benchmark here shares: a scratch PostgreSQL database, the app's
production environment, gunicorn processes like the Procfile's, and a readiness wait."""

import argparse
import base64
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def _admin_url(url):
    return urlsplit(url)._replace(path="/postgres").geturl()


def _name(url):
    return urlsplit(url).path.lstrip("/")


def recreate_database(url):
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{_name(url)}"')


def drop_database(url):
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
