"""Helpers for hostile-input tests: row counts of every table, and the values people should
never be able to crash us with."""

from sqlalchemy import text

from app.extensions import db

NUL = "\x00"
HUGE_NUMBER = "99999999999999999999"


def table_counts():
    """{table: row count} for every table of the schema, in one query."""
    names = [table.name for table in db.metadata.sorted_tables]
    sql = " UNION ALL ".join(f"SELECT '{name}' AS t, COUNT(*) AS n FROM {name}" for name in names)
    return dict(db.session.execute(text(sql)).all())


def changed_tables(before, after, ignore=()):
    """The tables whose row count differs between two `table_counts()` snapshots."""
    return {name: (before[name], after[name]) for name in before if before[name] != after[name] and name not in ignore}
