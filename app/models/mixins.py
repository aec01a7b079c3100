"""Columns that many models share."""

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from app.clock import now
from app.models.types import UTCDateTime


class CreatedAt:
    """`created_at`: when the row was written, in UTC."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Timestamps(CreatedAt):
    """`created_at`, and `updated_at`: when the row was last changed through the ORM."""

    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
