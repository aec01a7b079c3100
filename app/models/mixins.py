"""Columns that many models share."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, MappedColumn, declared_attr, mapped_column, relationship

from app.clock import now
from app.models.types import UTCDateTime


def user_reference(**options: Any) -> MappedColumn[Any]:
    """A nullable column naming the user who did something (created, uploaded, decided): the
    row outlives the user, whose deletion only clears it (ON DELETE SET NULL)."""
    return mapped_column(ForeignKey("users.id", ondelete="SET NULL"), **options)


class CreatedAt:
    """`created_at`: when the row was written, in UTC."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Timestamps(CreatedAt):
    """`created_at`, and `updated_at`: when the row was last changed through the ORM."""

    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class Bought:
    """`buyer_id` and `buyer`: the user who bought (a checkout, an order, a membership)."""

    @declared_attr
    def buyer_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("users.id"), index=True)

    @declared_attr
    def buyer(cls) -> Mapped[Any]:
        return relationship("User")
