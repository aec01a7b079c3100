"""'Open as Whop would': the emulator frames our app's iframe views the way Whop does.

``/whop/experiences/<id>`` and ``/whop/dashboard/<company>`` show a Whop-like page (pick a
sandbox user) around an iframe on ``/whop/proxy/...``, which fetches our app's
``/experiences/<id>`` or ``/dashboard/<company>`` server-side with a fresh
``x-whop-user-token`` for that user, as Whop's proxy does.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
from flask import Blueprint, Response, render_template, request, url_for

from app.sandbox.whop import store
from app.sandbox.whop.tokens import USER_TOKEN_HEADER, mint_user_token
from app.sandbox.whop.web import app_http, error_page, setting

bp = Blueprint("whop_proxy", __name__, url_prefix="/whop", template_folder="templates")

_ROUTE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Request headers the iframe proxy passes on to our app besides the user token.
_PROXIED_REQUEST_HEADERS = (
    "accept",
    "accept-language",
    "content-type",
    "hx-request",
    "hx-target",
    "hx-trigger",
    "hx-current-url",
)


def _frame(kind: str, target_id: str) -> str | tuple[str, int]:
    if not _ROUTE_ID_RE.match(target_id):
        return error_page("Not found", "Malformed id.", 404)
    conn = store.db()
    user_id = request.args.get("user", "")
    users = store.list_users(conn)
    if not user_id:
        return render_template("whop/frame.html", kind=kind, target_id=target_id, users=users, user=None)
    user = store.get_user(conn, user_id)
    if user is None:
        return error_page("Unknown user", f"No sandbox user {user_id}.", 404)
    if kind == "experiences":
        src = url_for("whop_proxy.proxy_experience", experience_id=target_id, user=user_id)
    else:
        src = url_for("whop_proxy.proxy_dashboard", company_id=target_id, user=user_id)
    return render_template("whop/frame.html", kind=kind, target_id=target_id, users=users, user=user, src=src)


@bp.get("/experiences/<experience_id>")
def experience_frame(experience_id: str) -> str | tuple[str, int]:
    return _frame("experiences", experience_id)


@bp.get("/dashboard/<company_id>")
def dashboard_frame(company_id: str) -> str | tuple[str, int]:
    return _frame("dashboard", company_id)


def _proxy(path: str) -> Response:
    """Fetch APP_BASE_URL + path server-side with a fresh x-whop-user-token, as Whop does."""
    user_id = request.args.get("user", "")
    if not store.USER_ID_RE.match(user_id):
        return Response("?user=user_XXXX is required", status=400, content_type="text/plain; charset=utf-8")
    headers = {name: request.headers[name] for name in _PROXIED_REQUEST_HEADERS if name in request.headers}
    headers[USER_TOKEN_HEADER] = mint_user_token(user_id)
    query = [(key, value) for key, value in request.args.items(multi=True) if key != "user"]
    try:
        upstream = app_http.request(
            request.method,
            setting("APP_BASE_URL").rstrip("/") + path,
            params=query,
            headers=headers,
            content=request.get_data() if request.method == "POST" else None,
        )
    except httpx.HTTPError as exc:
        return Response(
            f"Whop sandbox proxy could not reach the app: {exc}",
            status=502,
            content_type="text/plain; charset=utf-8",
        )
    response = Response(upstream.content, status=upstream.status_code)
    if "content-type" in upstream.headers:
        response.headers["Content-Type"] = upstream.headers["content-type"]
    else:
        response.headers.remove("Content-Type")
    if "location" in upstream.headers:
        response.headers["Location"] = upstream.headers["location"]
    return response


@bp.route("/proxy/experiences/<experience_id>", methods=["GET", "POST"])
def proxy_experience(experience_id: str) -> Response:
    return _proxy("/experiences/" + quote(experience_id, safe=""))


@bp.route("/proxy/dashboard/<company_id>", methods=["GET", "POST"])
def proxy_dashboard(company_id: str) -> Response:
    return _proxy("/dashboard/" + quote(company_id, safe=""))
