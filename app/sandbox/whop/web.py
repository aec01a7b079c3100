"""What the Whop emulator's views share: its settings, the issuer URL, JSON and HTML error
answers, and the HTTP client that calls our app."""

from __future__ import annotations

import httpx
from flask import Response, current_app, jsonify, render_template, request

# One HTTP client per process for webhook deliveries and the iframe proxy. It only
# ever talks to our own app, so proxy settings from the environment are ignored.
app_http = httpx.Client(
    timeout=httpx.Timeout(10.0, connect=5.0),
    follow_redirects=False,
    trust_env=False,
    headers={"user-agent": "whop-sandbox/1"},
)


def setting(key: str) -> str:
    """The sandbox app's setting ``key`` (``sandbox_config()`` in app/sandbox/__init__.py fills
    every one, from the environment or the development defaults)."""
    return current_app.config[key]


def issuer() -> str:
    """The emulator's OAuth issuer and API base: SANDBOX_PUBLIC_URL + ``/whop``."""
    return setting("SANDBOX_PUBLIC_URL").rstrip("/") + "/whop"


def wants_json() -> bool:
    """The caller sent JSON or asks for it."""
    return request.is_json or request.accept_mimetypes.best == "application/json"


def json_error(status: int, code: str, message: str) -> Response:
    """``{"error": {"code", "message"}}`` with ``status``."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def error_page(title: str, message: str, status: int) -> tuple[str, int]:
    """The emulator's HTML error page."""
    return render_template("whop/error.html", title=title, message=message), status


def refusal(status: int, code: str, message: str, title: str, *, as_json: bool) -> Response | tuple[str, int]:
    """A refused request: the JSON error for API callers, else the error page titled ``title``."""
    if as_json:
        return json_error(status, code, message)
    return error_page(title, message, status)
