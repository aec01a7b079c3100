"""Counting the SQL a piece of code sends (SQLAlchemy `before_cursor_execute`)."""

from sqlalchemy import event
from sqlalchemy.engine import Engine


def statements_during(action):
    """SQL statements the app sends while `action()` runs (transaction control left out)."""
    seen = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")):
            seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    return seen
