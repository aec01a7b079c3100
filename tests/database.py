"""The suite's database and configuration: an app config bound to a test database and Redis,
migrating a database from scratch, and emptying it after a committed test."""

from contextlib import contextmanager

from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, make_url, text

from app import db_triggers
from app.config import TestConfig
from app.extensions import db


def make_test_config(database_url, redis_url, **overrides):
    """A TestConfig subclass bound to the given database and Redis."""
    attrs = {"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, **overrides}
    return type("BoundTestConfig", (TestConfig,), attrs)


def reset_database(app):
    """Empty the database completely, then migrate it to head."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        else:
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="heads")


def truncate_all(app):
    """Empty every table and restart every id, as a freshly created database would.

    Only the tables holding rows are emptied, found by one query whoever wrote them (the test,
    the live server, an `rq worker` process): a committed test writes a few of the ~100 tables,
    and on PostgreSQL a TRUNCATE ... CASCADE of all of them costs more than a second a test
    where a DELETE of the few costs milliseconds. Every id sequence that was used restarts,
    including those of tables left empty (rows rolled back or deleted).
    """
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            existing = set(inspect(conn).get_table_names())
            tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name in existing]
            dialect = conn.dialect.name
            filled = _tables_holding_rows(conn, tables)
            # The ledger's append-only triggers would abort the DELETE: lift them briefly.
            lift = bool(set(filled) & set(db_triggers.LEDGER_TABLES))
            if lift:
                for sql in db_triggers.DROP_LEDGER_APPEND_ONLY[dialect]:
                    conn.execute(text(sql))
            for table in filled:  # children before parents (reversed dependency order)
                conn.execute(text(f"DELETE FROM {conn.dialect.identifier_preparer.quote(table)}"))
            if lift:
                for sql in db_triggers.LEDGER_APPEND_ONLY[dialect]:
                    conn.execute(text(sql))
            if dialect == "postgresql":
                conn.execute(text(RESTART_USED_TABLE_SEQUENCES))
            elif "sqlite_sequence" in {
                row[0] for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
            }:
                conn.execute(text("DELETE FROM sqlite_sequence"))


# PostgreSQL: every sequence owned by a table column (serial or identity) that has handed out a
# value since it was created or last restarted, back to its start, as TRUNCATE ... RESTART
# IDENTITY does; sequences no column owns are left alone, as TRUNCATE leaves them.
RESTART_USED_TABLE_SEQUENCES = """
    SELECT setval(s.oid, ps.start_value, false)
    FROM pg_class s
    JOIN pg_namespace n ON n.oid = s.relnamespace
    JOIN pg_sequences ps ON ps.schemaname = n.nspname AND ps.sequencename = s.relname
    WHERE s.relkind = 'S' AND n.nspname = current_schema() AND ps.last_value IS NOT NULL
      AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = s.oid AND d.classid = 'pg_class'::regclass
                  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
"""


def _tables_holding_rows(conn, tables):
    """The `tables` that hold at least one row, in the given order (one query)."""
    quote = conn.dialect.identifier_preparer.quote
    probe = " UNION ALL ".join(
        f"SELECT {i} AS n WHERE EXISTS (SELECT 1 FROM {quote(table)})" for i, table in enumerate(tables)
    )
    filled = {row[0] for row in conn.execute(text(probe))} if tables else set()
    return [table for i, table in enumerate(tables) if i in filled]


@contextmanager
def worker_database(url, worker_id):
    """A PostgreSQL database of this xdist worker's own next to `url` (`<name>_<worker_id>`):
    created empty, its URL yielded, dropped afterwards."""
    parsed = make_url(url)
    name = f"{parsed.database}_{worker_id}"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield parsed.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
