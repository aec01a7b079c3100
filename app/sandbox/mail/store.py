"""The caught mail in the sandbox database (SANDBOX_DATABASE): table ``mail_messages``.

Each row keeps the raw bytes as received (for the ``.eml`` download) and the parsed message
as JSON (``parse.parse_message``). Only the newest ``keep`` messages stay: each insert drops
the older ones. Ids only grow (AUTOINCREMENT), also after clearing, so "messages after id N"
never sees an old id again.

Writes come from the SMTP server's thread and reads from the HTTP threads; every call opens
its own short connection (WAL: readers never wait for the writer).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from app.sandbox import sqlite
from app.sandbox.mail.parse import parse_message

SCHEMA = """
CREATE TABLE IF NOT EXISTS mail_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_us INTEGER NOT NULL,
    recipients TEXT NOT NULL,
    parsed TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_mail_messages_received_us ON mail_messages (received_us);
"""
MAX_ID = 2**63 - 1  # SQLite's largest integer
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def microseconds(moment: datetime) -> int:
    """An aware time as whole microseconds since the epoch: how receipt times are stored, so
    a time read back from ``sent_at`` compares exactly."""
    return (moment - EPOCH) // MICROSECOND


def iso(stored: int) -> str:
    """A stored time as ISO 8601 in UTC (``2026-11-30T10:00:05.123456+00:00``)."""
    return (EPOCH + stored * MICROSECOND).isoformat()


class MailStore:
    """The caught messages in one SQLite file, newest ``keep`` of them."""

    def __init__(self, path: str, keep: int) -> None:
        self.path = path
        self.keep = keep
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with self._connection() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    def add(self, raw: bytes, envelope_from: str, envelope_to: list[str]) -> dict[str, Any]:
        """Store one message as received; drop what falls past the newest ``keep``."""
        parsed = parse_message(raw, envelope_from, envelope_to)
        recipients = sorted({address.lower() for address in parsed["to"]})
        with self._connection() as conn, sqlite.transaction(conn):
            cursor = conn.execute(
                "INSERT INTO mail_messages (received_us, recipients, parsed, raw) VALUES (?, ?, ?, ?)",
                (microseconds(datetime.now(UTC)), json.dumps(recipients), json.dumps(parsed), raw),
            )
            conn.execute("DELETE FROM mail_messages WHERE id <= ?", ((cursor.lastrowid or 0) - self.keep,))
            row = conn.execute(
                "SELECT id, received_us, parsed FROM mail_messages WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
        return self._message(row)

    @staticmethod
    def _message(row: sqlite3.Row) -> dict[str, Any]:
        message = json.loads(row["parsed"])
        return {"id": row["id"], **message, "sent_at": iso(row["received_us"])}

    def messages(
        self, *, to: str | None = None, after_id: int | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Newest first; only those delivered to ``to`` (any case), with an id above
        ``after_id``, or received at or after ``since`` (an aware time), when given."""
        sql = "SELECT id, received_us, parsed FROM mail_messages WHERE 1 = 1"
        args: list[Any] = []
        if to is not None:
            sql += " AND EXISTS (SELECT 1 FROM json_each(recipients) WHERE value = ?)"
            args.append(to.strip().lower())
        if after_id is not None:
            sql += " AND id > ?"
            args.append(after_id)
        if since is not None:
            sql += " AND received_us >= ?"
            args.append(microseconds(since))
        with self._connection() as conn:
            rows = conn.execute(sql + " ORDER BY id DESC", args).fetchall()
        return [self._message(row) for row in rows]

    def get(self, message_id: int) -> dict[str, Any] | None:
        if not 0 < message_id <= MAX_ID:
            return None
        with self._connection() as conn:
            row = conn.execute(
                "SELECT id, received_us, parsed FROM mail_messages WHERE id = ?", (message_id,)
            ).fetchone()
        return self._message(row) if row else None

    def raw(self, message_id: int) -> bytes | None:
        if not 0 < message_id <= MAX_ID:
            return None
        with self._connection() as conn:
            row = conn.execute("SELECT raw FROM mail_messages WHERE id = ?", (message_id,)).fetchone()
        return bytes(row["raw"]) if row else None

    def count(self) -> int:
        with self._connection() as conn:
            return conn.execute("SELECT COUNT(*) FROM mail_messages").fetchone()[0]

    def clear(self) -> int:
        """Delete every message; returns how many there were."""
        with self._connection() as conn, sqlite.transaction(conn):
            return conn.execute("DELETE FROM mail_messages").rowcount
