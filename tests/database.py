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
    """Empty every table and restart every id, as a freshly created database would."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            existing = set(inspect(conn).get_table_names())
            tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name in existing]
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                # The ledger's append-only triggers would abort the DELETE: lift them briefly.
                for sql in db_triggers.DROP_LEDGER_APPEND_ONLY["sqlite"]:
                    conn.execute(text(sql))
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))
                if "sqlite_sequence" in {
                    row[0] for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
                }:
                    conn.execute(text("DELETE FROM sqlite_sequence"))
                for sql in db_triggers.LEDGER_APPEND_ONLY["sqlite"]:
                    conn.execute(text(sql))


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
