"""The one source of "now" for app code, so tests and sweeps can move time."""

from datetime import UTC, datetime

_frozen = None


def now():
    """Current time as an aware UTC datetime (or the frozen time in tests)."""
    return _frozen or datetime.now(UTC)


def freeze(moment):
    """Pin now() to `moment` (aware UTC); pass None to release."""
    global _frozen
    _frozen = moment
