"""The one error envelope of the public API: {"error": {"type", "code", "message", "param"}}.

Every 4xx and 5xx under /api/v1 (except the signed license endpoints, which keep their own
shape) is answered in it: refusals of services (ServiceError), request checks, routing (404,
405), authentication, rate limits and outages.
"""

from typing import Any

from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from app.errors import ServiceError
from app.extensions import db

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
UNAVAILABLE_RETRY_AFTER_SECONDS = 30


class ApiError(ServiceError):
    """A refusal of the API itself (bad parameter, cursor, version, idempotency key...)."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None):
        super().__init__(status, code, message, field=param)


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def envelope(status: int, code: str, message: str, param: str | None = None, headers: Any = None) -> Response:
    """The error answer: JSON envelope with `status`, never cached."""
    response = jsonify(error={"type": error_type(status), "code": code, "message": message, "param": param})
    response.status_code = status
    response.headers.update({"Cache-Control": "no-store", **(headers or {})})
    return response


def refusal(exc: ServiceError) -> Response:
    """A ServiceError as the envelope (the request's writes rolled back)."""
    db.session.rollback()
    return envelope(exc.status, exc.code, exc.message, exc.field_name(), getattr(exc, "headers", None))


def http_error(exc: HTTPException) -> Response:
    """A werkzeug HTTP error (routing, request checks, body size) as the envelope."""
    db.session.rollback()
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    message = exc.description or exc.name
    if status == 404:
        code, message = "not_found", "No such resource here; check the path against /api/v1/openapi.json."
    elif status == 405:
        message = f"{request.method} is not allowed on {request.path}."
    headers = {"Retry-After": str(exc.retry_after)} if getattr(exc, "retry_after", None) else None
    return envelope(status, code, message, getattr(exc, "field", None), headers)


def unavailable(reason: str) -> Response:
    """503 while a dependency (Redis) is down: nothing was changed, retry later."""
    db.session.rollback()
    current_app.logger.error("API unavailable on %s %s: %s", request.method, request.path, reason)
    return envelope(
        503,
        "service_unavailable",
        "The API is briefly unavailable; nothing was changed. Retry after the time in Retry-After.",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


def unexpected(exc: Exception) -> Response:
    """A bug: logged with its traceback, answered as a 500 envelope."""
    from app.observability import count_unexpected_error

    db.session.rollback()
    count_unexpected_error("api", exc)
    current_app.logger.exception("API error on %s %s", request.method, request.path)
    return envelope(500, "internal_error", "Something went wrong on our side.")
