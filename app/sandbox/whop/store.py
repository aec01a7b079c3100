"""State of the Whop emulator: its ``whop_*`` tables in the sandbox database, the connection of
each app context, ids and the clock, and the sandbox's Whop users.

The tables live in the SQLite file SANDBOX_DATABASE next to the Stripe emulator's, including
the ES256 signing keys, so restarts keep keys, users and tokens. Writes go through
``app.sandbox.sqlite.transaction``. Code that reads the clock calls ``store.now()`` so a test
can move it.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import string
import time
from typing import Any

from flask import current_app, g

from app.sandbox.sqlite import transaction

USER_ID_RE = re.compile(r"^user_[A-Za-z0-9]{1,40}$")
_ID_ALPHABET = string.ascii_letters + string.digits
_USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,32}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _token_table(name: str, *extra_columns: str) -> str:
    """Access and refresh tokens have the same columns: a token of one grant, client and user."""
    columns = (
        "token TEXT PRIMARY KEY",
        "grant_id TEXT NOT NULL",
        "client_id TEXT NOT NULL",
        "user_id TEXT NOT NULL REFERENCES whop_users (id)",
        "scope TEXT NOT NULL",
        "expires_at INTEGER NOT NULL",
        "revoked_at INTEGER",
        *extra_columns,
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {name} (\n    " + ",\n    ".join(columns) + "\n);\n"
        f"CREATE INDEX IF NOT EXISTS {name}_grant ON {name} (grant_id);\n"
    )


SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS whop_signing_keys (
    kid TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS whop_users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS whop_auth_codes (
    code TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES whop_users (id),
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
"""
    + _token_table("whop_access_tokens")
    + _token_table("whop_refresh_tokens", "replaced_at INTEGER")
    + """
CREATE TABLE IF NOT EXISTS whop_webhook_deliveries (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    status_code INTEGER,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    last_attempt_at INTEGER
);
"""
)


def now() -> int:
    """The emulator's clock, in whole seconds."""
    return int(time.time())


def new_id(prefix: str, length: int = 14) -> str:
    """A Whop-style id: ``prefix_`` and ``length`` random letters and digits."""
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def db() -> sqlite3.Connection:
    """Return this app context's connection to the sandbox database (created lazily)."""
    conn = g.get("whop_db")
    if conn is None:
        conn = sqlite3.connect(current_app.config["SANDBOX_DATABASE"], timeout=10, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(SCHEMA)
        g.whop_db = conn
    return conn


def close_db(_exc: BaseException | None = None) -> None:
    """Close this app context's connection, if it opened one (an app teardown)."""
    conn = g.pop("whop_db", None)
    if conn is not None:
        conn.close()


# --------------------------------------------------------------------------- users


def user_dict(row: sqlite3.Row) -> dict[str, Any]:
    """A user as the JSON API returns it."""
    return {key: row[key] for key in ("id", "username", "name", "email", "created_at")}


def list_users(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every sandbox user, oldest first."""
    return conn.execute("SELECT * FROM whop_users ORDER BY created_at, username").fetchall()


def get_user(conn: sqlite3.Connection, user_id: str | None) -> sqlite3.Row | None:
    """The user with this id, or None."""
    if not user_id:
        return None
    return conn.execute("SELECT * FROM whop_users WHERE id = ?", (user_id,)).fetchone()


def create_user(username: str, name: str, email: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Create a sandbox Whop user; return ``(user, {})`` or ``(None, {field: message})``."""
    username = (username or "").strip().lower()
    name = (name or "").strip()
    email = (email or "").strip()
    errors: dict[str, str] = {}
    if not _USERNAME_RE.match(username):
        errors["username"] = "3–32 characters: lowercase letters, digits, '_', '.', '-'."
    if not 1 <= len(name) <= 80:
        errors["name"] = "Name is required (up to 80 characters)."
    if not _EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = "Enter a valid email address."
    if errors:
        return None, errors
    conn = db()
    user_id = new_id("user")
    try:
        with transaction(conn):
            conn.execute(
                "INSERT INTO whop_users (id, username, name, email, created_at) VALUES (?, ?, ?, ?, ?)",
                (user_id, username, name, email, now()),
            )
    except sqlite3.IntegrityError:
        return None, {"username": f"Username {username!r} is taken."}
    return user_dict(get_user(conn, user_id)), {}
