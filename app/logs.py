"""Logging for every process that builds the app (web, `flask` commands, RQ jobs).

`configure_logging(app)` gives the app's loggers (`app` — Flask's `app.logger` — and every
`app.*` module logger) one handler on stderr at LOG_LEVEL: one JSON object per line when
LOG_FORMAT is `json` (production's default), a human-readable line otherwise (development).
The root logger is left alone: libraries (werkzeug, RQ, gunicorn) keep their own handlers,
and under pytest the app's records reach pytest's capture through propagation.

Every record made in this process — ours or a library's — carries the context it was made
in (a log record factory adds it): `request_id` (the web request's, or the one a job
inherited from the request that enqueued it, see `bind_context`), and, when known, `user_id`,
`company_id` and `route`. Fields passed with `extra=` are written out as they are:
`log.info("payment succeeded", extra={"amount_cents": 1200})`.
"""

import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_app_context

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
LOG_FORMATS = ("json", "text")
_HANDLER_NAME = "tradepost"
CONTEXT_FIELDS = ("request_id", "user_id", "company_id", "route", "job_id")
# What a caller's X-Request-ID may be; anything else is replaced by an id of our own.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
# Attributes every LogRecord has: whatever else a record carries came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    *CONTEXT_FIELDS,
}

_context: ContextVar[dict[str, Any] | None] = ContextVar("tradepost_log_context", default=None)


def new_request_id() -> str:
    """A fresh request id (32 hex digits)."""
    return secrets.token_hex(16)


def clean_request_id(value: str | None) -> str:
    """The caller's id when it is a sane token, else a new one."""
    if value and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    """The request id of the request or job this code runs for, or None outside both."""
    context = _context.get()
    return context.get("request_id") if context else None


def bind(**fields: Any) -> Any:
    """Make `fields` the log context of this thread/task; returns the token `unbind` takes."""
    return _context.set({**(_context.get() or {}), **fields})


def unbind(token: Any) -> None:
    _context.reset(token)


@contextmanager
def bind_context(**fields: Any) -> Iterator[None]:
    """Log with `fields` (request_id, job_id, ...) inside the block."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def context_fields() -> dict[str, Any]:
    """The context a record made now carries: the bound fields, plus the signed-in user and
    the current tenant when an app context knows them (read from `g`, never loaded)."""
    fields = dict(_context.get() or {})
    if has_app_context():
        user = g.get("_login_user")
        if user is not None:
            if getattr(user, "is_authenticated", False):
                fields["user_id"] = user.id
        elif (identity := g.get("identity")) is not None and identity.verified:
            fields["user_id"] = identity.user_id  # vouched for by the identity cache, not built
        company_id = g.get("tenant_company_id")
        if company_id is not None:
            fields["company_id"] = company_id
    return fields


def _install_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "tradepost_context", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            fields = context_fields()
        except Exception:  # a record must never fail for want of context
            fields = dict(_context.get() or {})
        # Only the fields that are set: a record given the same name with `extra=` (RQ's worker
        # logs a failed job with extra={"job_id": ...}) must not collide with an empty one.
        for name in CONTEXT_FIELDS:
            value = fields.get(name)
            if value is not None:
                setattr(record, name, value)
        return record

    factory.tradepost_context = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record was given with `extra=`."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the context
    fields that are set, the `extra=` fields, and the traceback if any."""

    # json.dumps with options makes an encoder per call; a record is formatted on every request.
    _encode = json.JSONEncoder(default=str, ensure_ascii=False).encode

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        entry.update(extra_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self._encode(entry)


class TextFormatter(logging.Formatter):
    """Development: `time LEVEL [logger] message key=value ...` with the request id first."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = {name: getattr(record, name, None) for name in CONTEXT_FIELDS if name != "route"}
        pairs.update(extra_fields(record))
        tail = " ".join(f"{k}={v}" for k, v in pairs.items() if v is not None)
        if not tail:
            return line
        head, newline, rest = line.partition("\n")  # keep a traceback below the first line
        return f"{head} {tail}{newline}{rest}"


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(app: Flask) -> None:
    """Send the app's log records at LOG_LEVEL and above to stderr in LOG_FORMAT (not under
    tests, where pytest captures them). Safe to call once per app built in one process."""
    logger = logging.getLogger("app")
    for handler in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(handler)
    logger.setLevel(app.config["LOG_LEVEL"])
    if app.testing:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(make_formatter(app.config["LOG_FORMAT"]))
    logger.addHandler(handler)
