"""The caught mail over HTTP: pages for people, JSON for tests.

* ``GET /_sandbox/mail`` — newest first (``?to=`` narrows to one recipient); "Delete all"
* ``GET /_sandbox/mail/<id>`` — one message: headers, HTML preview, text with clickable links,
  attachments, ``.eml`` download
* ``GET /_sandbox/mail/<id>/html`` — the HTML part alone, for the preview's iframe: a strict
  CSP (no scripts, forms or plugins; sandboxed) and ``<base target="_blank">`` so its links
  open in a new tab
* ``GET /_sandbox/mail/<id>.eml`` — the message exactly as received
* ``GET /_sandbox/mail.json`` — ``[{id, from, to, cc, subject, text, html, sent_at, ...}]``
  newest first; ``?to=address``, ``?since=<id>`` (ids above it) or ``?since=<ISO 8601 time>``
  (received at or after it; UTC unless it names an offset)
* ``DELETE /_sandbox/mail`` (JSON) and ``POST /_sandbox/mail/clear`` (the button): delete all
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from app.sandbox.mail.parse import URL_RE, trim_url
from app.sandbox.mail.store import MAX_ID, MailStore

bp = Blueprint("sandbox_mail", __name__, url_prefix="/_sandbox", template_folder="templates")

# The mail pages show only escaped text and frame the preview from this origin.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)
# The preview: images, styles and fonts as an email client would load them, and nothing that
# runs. `sandbox` without allow-scripts also stops scripts when the URL is opened directly;
# allow-popups lets its links open (unsandboxed) in a new tab.
PREVIEW_CSP = (
    "default-src 'none'; img-src data: http: https:; style-src 'unsafe-inline' http: https:; "
    "font-src data: http: https:; form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)
PREVIEW_BASE = '<base target="_blank">'
_PREVIEW_ANCHORS = [
    re.compile(pattern, re.IGNORECASE) for pattern in (r"<head\b[^>]*>", r"<html\b[^>]*>", r"<!doctype\b[^>]*>")
]
_ID_RE = re.compile(r"[0-9]{1,19}")
MAX_ADDRESS_LENGTH = 320


class BadFilter(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def store() -> MailStore:
    return current_app.extensions["sandbox_mail"]


@bp.app_template_filter("linkify")
def linkify(text: str) -> Markup:
    """``text`` escaped, with its http(s) URLs as links that open in a new tab."""
    pieces, position = [], 0
    for match in URL_RE.finditer(text):
        url = trim_url(match.group())
        pieces.append(escape(text[position : match.start()]))
        pieces.append(Markup('<a href="{0}" target="_blank" rel="noopener noreferrer">{0}</a>').format(url))
        position = match.start() + len(url)
    pieces.append(escape(text[position:]))
    return Markup("").join(pieces)


def preview_document(html: str) -> str:
    """``html`` with ``<base target="_blank">`` where the parser puts it in the head."""
    for anchor in _PREVIEW_ANCHORS:
        found = anchor.search(html)
        if found:
            return html[: found.end()] + PREVIEW_BASE + html[found.end() :]
    return PREVIEW_BASE + html


def parse_filters(args: Any) -> dict[str, Any]:
    """``to`` and ``since`` from the query string as MailStore.messages() takes them."""
    filters: dict[str, Any] = {}
    to = args.get("to")
    if to is not None and to.strip():
        if len(to) > MAX_ADDRESS_LENGTH or "\x00" in to:
            raise BadFilter("to", f"to must be an email address of at most {MAX_ADDRESS_LENGTH} characters.")
        filters["to"] = to
    since = (args.get("since") or "").strip()
    if since:
        filters.update(_since(since))
    return filters


def _since(value: str) -> dict[str, Any]:
    if _ID_RE.fullmatch(value):
        if int(value) > MAX_ID:
            raise BadFilter("since", f"since is past the largest message id ({MAX_ID}).")
        return {"after_id": int(value)}
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadFilter(
            "since",
            "since must be a message id (messages after it) or an ISO 8601 time "
            "such as 2026-11-30T10:00:00Z (messages received at or after it).",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return {"since": moment}


def _message_or_404(message_id: int) -> dict[str, Any]:
    message = store().get(message_id)
    if message is None:
        abort(404)
    return message


@bp.after_request
def security_headers(response: Response) -> Response:
    if request.path.startswith("/_sandbox/mail"):
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


@bp.get("/mail.json")
def messages_json() -> Response | tuple[Response, int]:
    try:
        filters = parse_filters(request.args)
    except BadFilter as bad:
        return jsonify({"error": {"field": bad.field, "message": bad.message}}), 400
    return jsonify(store().messages(**filters))


@bp.delete("/mail")
def delete_all() -> Response:
    return jsonify({"deleted": store().clear()})


@bp.post("/mail/clear")
def clear() -> Response:
    store().clear()
    return redirect(url_for(".index"), 303)


@bp.get("/mail")
def index() -> str | tuple[str, int]:
    try:
        filters = parse_filters(request.args)
    except BadFilter as bad:
        filters, error = {}, bad.message
    else:
        error = None
    messages = [] if error else store().messages(**filters)
    return render_template(
        "mail/index.html",
        messages=messages,
        total=store().count(),
        error=error,
        to=request.args.get("to", ""),
        smtp=current_app.extensions.get("sandbox_smtp"),
    ), 400 if error else 200


@bp.get("/mail/<int:message_id>")
def detail(message_id: int) -> str:
    return render_template("mail/message.html", message=_message_or_404(message_id))


@bp.get("/mail/<int:message_id>/html")
def preview(message_id: int) -> Response:
    message = _message_or_404(message_id)
    if message["html"] is None:
        abort(404)
    response = current_app.response_class(preview_document(message["html"]), mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


@bp.get("/mail/<int:message_id>.eml")
def raw(message_id: int) -> Response:
    content = store().raw(message_id)
    if content is None:
        abort(404)
    response = current_app.response_class(content, mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'attachment; filename="message-{message_id}.eml"'
    return response
