"""Extension singletons, created here and bound to the app in create_app()."""

import sqlite3
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, request
from flask.globals import _cv_request
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
_LIMITER_CONTEXT = "_limiter_request_context"  # where Flask-Limiter keeps a request's state


def init_limiter(app: Flask) -> None:
    """`limiter.init_app(app)`, with its three per-request hooks made free where no limit applies.

    A route's own `@limiter.limit` is checked by that decorator. Flask-Limiter's before-request
    hook adds only application, default, meta, fallback and blueprint limits: while none is
    declared (Tradepost declares none) it is skipped. Its after-request hook (rate-limit
    headers) and teardown have work only in a request where a limit was checked, which is what
    creates the limiter's request state; elsewhere they are skipped too.
    """
    limiter.init_app(app)
    check = limiter._check_request_limit
    release = limiter._Limiter__release_context  # type: ignore[attr-defined]
    before = app.before_request_funcs[None]
    after = app.after_request_funcs[None]
    teardown = app.teardown_request_funcs[None]
    inject = next(hook for hook in after if isinstance(hook, partial) and hook.args == (limiter,))
    declared: list[bool] = []  # decided at the first request, once every limit is declared

    def check_declared_limits() -> None:
        if not declared:
            manager = limiter.limit_manager
            declared.append(
                bool(
                    manager.application_limits
                    or manager.default_limits
                    or limiter._meta_limits
                    or limiter._in_memory_fallback
                    or manager._blueprint_limits
                )
            )
        if declared[0]:
            check()

    def limits_checked() -> bool:
        ctx = _cv_request.get(None)
        return ctx is not None and hasattr(ctx, _LIMITER_CONTEXT)

    def inject_headers(response: Any) -> Any:
        return inject(response) if limits_checked() else response

    def release_context(exc: BaseException | None = None) -> None:
        if limits_checked():
            release(exc)

    before[before.index(check)] = check_declared_limits
    after[after.index(inject)] = inject_headers
    teardown[teardown.index(release)] = release_context


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
