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


def iso_z(moment):
    """`moment` (aware) as the ISO 8601 UTC text events and APIs carry: 2026-12-01T17:00:00Z
    (None stays None)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
