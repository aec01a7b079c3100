"""The refusal every Legends service raises."""

from app.errors import ServiceError


class LegendsRefusal(ServiceError):
    """A game action refused: `status`, a message, and the field at fault if any."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(status, "legends_refused", message, field=field)
