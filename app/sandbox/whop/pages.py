"""The Whop emulator's own pages: the control panel at ``/whop/`` (settings, users, a user-token
form, a webhook form, recent deliveries), creating a user (``POST /whop/users``, form or JSON),
and the users' avatars that userinfo's ``picture`` points at."""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.sandbox.whop import store
from app.sandbox.whop.web import error_page, issuer, json_error, setting
from app.sandbox.whop.webhooks import WEBHOOK_TYPES, recent_deliveries, sample_data

bp = Blueprint("whop_pages", __name__, url_prefix="/whop", template_folder="templates")


@bp.get("/")
def index() -> str:
    conn = store.db()
    users = store.list_users(conn)
    return render_template(
        "whop/index.html",
        users=users,
        deliveries=recent_deliveries(conn),
        webhook_types=WEBHOOK_TYPES,
        sample_data=json.dumps(sample_data("payment.succeeded", users[0] if users else None), indent=2),
        app_id=setting("WHOP_APP_ID"),
        app_base_url=setting("APP_BASE_URL"),
        issuer=issuer(),
    )


@bp.post("/users")
def create() -> BaseResponse | tuple[Response | str, int]:
    data = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):
        return json_error(400, "invalid_body", "Send a JSON object {username, name, email}.")
    user, errors = store.create_user(data.get("username", ""), data.get("name", ""), data.get("email", ""))
    if request.is_json:
        if errors:
            field, message = next(iter(errors.items()))
            return json_error(422, "invalid_" + field, message)
        return jsonify(user), 201
    if errors:
        return error_page("Could not create user", " ".join(errors.values()), 422)
    return redirect(url_for("whop_pages.index"), 303)


@bp.get("/avatars/<user_id>.svg")
def avatar(user_id: str) -> Response:
    row = store.get_user(store.db(), user_id)
    initial = (row["name"][:1] if row else "?").upper()
    hue = int(hashlib.sha256(user_id.encode()).hexdigest()[:2], 16) * 360 // 256
    svg = render_template("whop/avatar.svg", initial=initial, hue=hue)
    return Response(svg, content_type="image/svg+xml")
