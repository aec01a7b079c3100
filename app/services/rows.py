"""Small row helpers shared by services."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select

from app.extensions import db

RowT = TypeVar("RowT")


def existing_or_added(model: type[RowT], key: dict[str, Any], **fields: Any) -> tuple[RowT, bool]:
    """The `model` row matching every column of `key`, else a new one of `key` and `fields`,
    added and flushed; the second value says whether it was added."""
    row = db.session.scalar(select(model).where(*(getattr(model, name) == value for name, value in key.items())))
    if row is not None:
        return row, False
    row = model(**key, **fields)
    db.session.add(row)
    db.session.flush()
    return row, True
