"""SQLite plumbing both emulators share: the write transaction.

Each emulator keeps its own connections (see ``stripe/store.py`` and ``whop/store.py``) on the
sandbox database file, opened with ``isolation_level=None`` so transactions are explicit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a block under SQLite's write lock; commit on success, roll back on any error.

    ``BEGIN IMMEDIATE`` takes the lock up front, so a read-modify-write cannot interleave with
    another connection's. Inside an open transaction the block joins it: the outer one commits.
    """
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
