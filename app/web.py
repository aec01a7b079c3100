"""Response helpers shared by the blueprints: fragment rendering, safe redirects, JSON errors."""
from urllib.parse import urlsplit

from flask import jsonify, render_template, request
from jinja2_fragments.flask import render_block

from app.extensions import is_htmx


def render(template, block=None, **context):
    """Render a page, or only its `block` for htmx requests; marks the response Vary: HX-Request."""
    # Boosted links and forms swap the whole body: they get the full page, not the fragment.
    if block and is_htmx() and not request.headers.get("HX-Boosted"):
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    return body, {"Vary": "HX-Request"}


def safe_next(target, default):
    """`target` if it is a path on this site (no scheme, no host, no '//'), else `default`."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


def wants_json():
    """True for API paths and for clients that prefer JSON over HTML."""
    if request.path.startswith("/api/"):
        return True
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def json_error(status, code, message, **extra):
    """The API error shape: {"error": {"code", "message", ...extra (e.g. "field")}}."""
    return jsonify(error={"code": code, "message": message, **extra}), status
