"""SQLite state of the Stripe emulator.

The sandbox keeps its own database file (SANDBOX_DATABASE), separate from the main app's. The
Stripe emulator's tables in it: a generic table of API objects (public JSON as the API returns
it, plus private JSON for emulator-only fields), stored idempotent responses, and the webhook
delivery queue with every attempt. (The Whop emulator's ``whop_*`` tables are its own.)

Each thread gets its own connection (the sandbox runs on a threaded server and has a
background delivery thread); the file is in WAL mode so readers never wait for the writer.
Writes happen inside ``transaction()`` (``app/sandbox/sqlite.py``), which takes SQLite's write
lock up front so a request's read-modify-write of an object cannot interleave with another
request's.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import AbstractContextManager
from typing import Any

from app.sandbox import sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    private TEXT NOT NULL DEFAULT '{}',
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_objects_type_seq ON objects (type, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    api_key TEXT NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (api_key, key)
);
CREATE TABLE IF NOT EXISTS delivery_queue (
    event_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_delivery_queue_due ON delivery_queue (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    url TEXT NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL,
    attempted_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_delivery_attempts_event ON delivery_attempts (event_id, id);
"""

TABLES = ("objects", "idempotency", "delivery_queue", "delivery_attempts")


class Store:
    """Thread-safe access to one sandbox database file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        conn = self.connection()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def close_thread_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            self._local.conn = None

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """This thread's connection in a write transaction (nested use joins the outer one)."""
        return sqlite.transaction(self.connection())

    # -- objects ---------------------------------------------------------------------

    def insert(self, obj: dict, private: dict | None = None) -> dict:
        self.connection().execute(
            "INSERT INTO objects (id, type, data, private, created) VALUES (?, ?, ?, ?, ?)",
            (obj["id"], obj["object"], json.dumps(obj), json.dumps(private or {}), int(time.time())),
        )
        return obj

    def save(self, obj: dict, private: dict | None = None) -> dict:
        if private is None:
            self.connection().execute("UPDATE objects SET data = ? WHERE id = ?", (json.dumps(obj), obj["id"]))
        else:
            self.connection().execute(
                "UPDATE objects SET data = ?, private = ? WHERE id = ?",
                (json.dumps(obj), json.dumps(private), obj["id"]),
            )
        return obj

    def get(self, type_: str, object_id: str) -> dict | None:
        row = (
            self.connection()
            .execute("SELECT data FROM objects WHERE id = ? AND type = ?", (object_id, type_))
            .fetchone()
        )
        return json.loads(row["data"]) if row else None

    def get_private(self, object_id: str) -> dict:
        row = self.connection().execute("SELECT private FROM objects WHERE id = ?", (object_id,)).fetchone()
        return json.loads(row["private"]) if row else {}

    def list(
        self,
        type_: str,
        *,
        filters: dict[str, Any] | None = None,
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> tuple[list[dict], bool]:
        """Newest first, like Stripe. ``filters`` maps a JSON path ('$.charge') to a value."""
        sql = "SELECT data FROM objects WHERE type = ?"
        args: list[Any] = [type_]
        for path, value in (filters or {}).items():
            sql += " AND json_extract(data, ?) = ?"
            args += [path, value]
        order = "DESC"
        if starting_after:
            sql += " AND seq < (SELECT seq FROM objects WHERE id = ?)"
            args.append(starting_after)
        elif ending_before:
            sql += " AND seq > (SELECT seq FROM objects WHERE id = ?)"
            args.append(ending_before)
            order = "ASC"
        sql += f" ORDER BY seq {order} LIMIT ?"
        args.append(limit + 1)
        rows = [json.loads(r["data"]) for r in self.connection().execute(sql, args)]
        has_more = len(rows) > limit
        rows = rows[:limit]
        if order == "ASC":
            rows.reverse()
        return rows, has_more

    def find(self, type_: str, filters: dict[str, Any]) -> list[dict]:
        """Every object of a type matching the filters, oldest first."""
        sql = "SELECT data FROM objects WHERE type = ?"
        args: list[Any] = [type_]
        for path, value in filters.items():
            sql += " AND json_extract(data, ?) = ?"
            args += [path, value]
        sql += " ORDER BY seq"
        return [json.loads(r["data"]) for r in self.connection().execute(sql, args)]

    # -- idempotency -------------------------------------------------------------------

    def get_idempotent(self, api_key: str, key: str) -> sqlite3.Row | None:
        return (
            self.connection()
            .execute("SELECT * FROM idempotency WHERE api_key = ? AND key = ?", (api_key, key))
            .fetchone()
        )

    def put_idempotent(
        self, api_key: str, key: str, method: str, path: str, params_hash: str, status: int, body: str
    ) -> None:
        self.connection().execute(
            "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (api_key, key, method, path, params_hash, status, body, int(time.time())),
        )

    # -- webhook delivery ----------------------------------------------------------------

    def enqueue_delivery(self, event_id: str, at: float | None = None) -> None:
        self.connection().execute(
            "INSERT INTO delivery_queue (event_id, state, attempts, next_attempt_at)"
            " VALUES (?, 'pending', 0, ?)"
            " ON CONFLICT (event_id) DO UPDATE SET state = 'pending', attempts = 0,"
            " next_attempt_at = excluded.next_attempt_at",
            (event_id, time.time() if at is None else at),
        )

    def due_deliveries(self, now: float, limit: int = 50) -> list[sqlite3.Row]:
        return (
            self.connection()
            .execute(
                "SELECT * FROM delivery_queue WHERE state = 'pending' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, rowid LIMIT ?",
                (now, limit),
            )
            .fetchall()
        )

    def delivery_backlog(self, now: float) -> dict[str, int]:
        """{"pending": deliveries still to attempt, "due": those due now or within two seconds}."""
        row = (
            self.connection()
            .execute(
                "SELECT COUNT(*) AS pending, COALESCE(SUM(next_attempt_at <= ?), 0) AS due"
                " FROM delivery_queue WHERE state = 'pending'",
                (now + 2,),
            )
            .fetchone()
        )
        return {"pending": row["pending"], "due": row["due"]}

    def next_delivery_at(self) -> float | None:
        row = (
            self.connection()
            .execute("SELECT MIN(next_attempt_at) AS at FROM delivery_queue WHERE state = 'pending'")
            .fetchone()
        )
        return row["at"]

    def record_attempt(
        self,
        event_id: str,
        attempt: int,
        url: str,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        state: str,
        next_attempt_at: float,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO delivery_attempts"
                " (event_id, attempt, url, status_code, error, duration_ms, attempted_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event_id, attempt, url, status_code, error, duration_ms, time.time()),
            )
            conn.execute(
                "UPDATE delivery_queue SET state = ?, attempts = ?, next_attempt_at = ? WHERE event_id = ?",
                (state, attempt, next_attempt_at, event_id),
            )

    def delivery_state(self, event_id: str) -> sqlite3.Row | None:
        return self.connection().execute("SELECT * FROM delivery_queue WHERE event_id = ?", (event_id,)).fetchone()

    def attempts_for(self, event_id: str) -> list[dict]:
        rows = self.connection().execute(
            "SELECT attempt, url, status_code, error, duration_ms, attempted_at"
            " FROM delivery_attempts WHERE event_id = ? ORDER BY id",
            (event_id,),
        )
        return [dict(r) for r in rows]

    def reset(self) -> None:
        """Delete every row (the schema stays, so a running sandbox keeps working)."""
        with self.transaction() as conn:
            for table in TABLES:
                conn.execute(f"DELETE FROM {table}")
