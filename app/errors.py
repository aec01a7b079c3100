"""Refusals: how a service says "no", and why, so that one handler can show it.

A service that will not do what it was asked raises a `ServiceError` subclass (declared next
to the service: `CheckoutError` in services/checkout.py, `TransitionRefused` in
services/orders.py, ...) carrying the HTTP status, a short machine `code`, a `message` a
person can act on and, for bad input, the `field` at fault or `errors` (field → message) for
several. Nothing a service wrote stands after a refusal.

The one handler (`handle_refusal` in app/web.py, registered by create_app) rolls the
transaction back and shows the refusal: on the page the view declared with
`app.web.refusal_page` (the form again with the input kept and each field's error next to it),
else as JSON `{"error": {"code", "message", "field"}}` for API clients, else on the error
page. Views do not catch refusals.

This module imports nothing from the app, so any layer may raise these.
"""

from collections.abc import Hashable, Mapping
from typing import Any

# A form field's name, or a path into a nested form (("extras", 0, "title") in the gig editor).
Field = Hashable


class ServiceError(Exception):
    """A refusal: `status` (HTTP), `code`, `message`, and the `field` or `errors` at fault.

    `audit`, when set to (action, company id, data), is a refusal that belongs in the audit
    log: the one handler writes that row after rolling back, and commits it.
    """

    audit: tuple[str, int | None, dict[str, Any]] | None = None

    def __init__(
        self, status: int, code: str, message: str, field: Field | None = None, errors: Mapping[Any, str] | None = None
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors = dict(errors) if errors else ({field: message} if field is not None else {})
        self.field = field if field is not None else next(iter(self.errors), None)

    def field_name(self) -> str | None:
        """The field at fault as one string (editor paths like ("extras", 0, "title") joined
        with "-", as the form names them), or None."""
        if isinstance(self.field, tuple):
            return "-".join(str(part) for part in self.field)
        return None if self.field is None else str(self.field)


class FieldRefusal(ServiceError):
    """A service's refusal about one input (`field`, or None): its class's `refusal_code`, 422 unless said."""

    refusal_code = "refused"

    def __init__(self, field: Field | None, message: str, status: int = 422):
        super().__init__(status, self.refusal_code, message, field=field)


class InputError(ServiceError):
    """Input a view could not parse (a number that is not one, a date in the wrong shape): 422."""

    def __init__(self, field: Field | None, message: str):
        super().__init__(422, "invalid_input", message, field=field)


class NotFound(ServiceError):
    """What was asked for does not exist for this person: 404 (existence is never leaked)."""

    def __init__(self, message: str = "Not found."):
        super().__init__(404, "not_found", message)
