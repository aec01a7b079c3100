"""Column types shared by the models."""

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, Enum
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC — identical on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def string_enum(values, name, length=16):
    """The type of a string column limited to `values`: VARCHAR(length) plus CHECK (name IN
    (...)), named ck_<table>_<name> by the naming convention, on every database.

    Python does not check the value (validate_strings is off): a wrong one reaches the
    database, which refuses it with an IntegrityError, as it refuses any other broken row.
    """
    return Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def between(column: str, low: int, high: int, *, name: str | None = None, nullable: bool = False) -> CheckConstraint:
    """CHECK that `column` lies in [low, high] (or is NULL, when `nullable`); named `name`, default the column."""
    check = f"{column} BETWEEN {low} AND {high}"
    return CheckConstraint(f"{column} IS NULL OR {check}" if nullable else check, name=name or column)
