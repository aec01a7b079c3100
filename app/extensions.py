"""Extension singletons, created here and bound to the app in create_app()."""

import sqlite3
from typing import TYPE_CHECKING, Any, cast

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mailman import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Executable, MetaData, event
from sqlalchemy.engine import CursorResult, Engine

# Deterministic constraint names, so Alembic can drop them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))

if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as _FlaskSQLAlchemyModel
    from sqlalchemy.orm import DeclarativeBase

    class Model(DeclarativeBase, _FlaskSQLAlchemyModel):
        """What `db.Model` is at run time: a declarative base with Flask-SQLAlchemy's helpers.

        mypy cannot take a base class from an attribute set at run time (python/mypy#8603),
        so the models subclass `Model`, which is `db.Model` itself when the code runs.
        """

        __abstract__ = True
else:
    Model = db.Model
migrate = Migrate(render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def rows_matched(statement: Executable) -> int:
    """Run an UPDATE or DELETE in the session; the number of rows its WHERE matched.

    SQLAlchemy types `Session.execute` as returning `Result`; for DML it is a `CursorResult`,
    which has the row count (the cast its typing documentation recommends).
    """
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount


def rate_limits_shared():
    """False while Flask-Limiter counts in this process's memory because its Redis storage is
    unreachable (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED); it returns to Redis once Redis answers.

    Call it after the route's limits were checked: that check is what notices an outage.
    """
    return limiter.limiter.storage is limiter.storage


def is_htmx():
    """True when the current request was made by htmx (and not a history restore)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-History-Restore-Request")


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, _record):
    """SQLite: foreign keys, WAL, and let SQLAlchemy, not pysqlite, emit BEGIN.

    pysqlite's own transaction handling breaks SAVEPOINT and delays BEGIN; the documented
    fix is autocommit at the driver and an explicit BEGIN on the "begin" event below.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(connection):
    # IMMEDIATE takes the write lock up front: a deferred transaction that read first cannot
    # upgrade to a writer once another connection has committed (SQLITE_BUSY at once, no retry).
    # It also makes SQLite transactions serial, which is what SELECT ... FOR UPDATE gives on
    # PostgreSQL. SQLite is the development and test database only.
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
