"""Installed apps: the app directory (install, uninstall), the iframes that embed an app on the
company dashboard and on members' pages, the app proxy, the JWKS apps verify our user tokens
with, and the endpoint where an app fetches the API key of an installation.

The iframe: `src` is the app's view URL with `?tradepost_user_token=<ES256 JWT>` (see
services/user_tokens.py); the page's CSP `frame-src` names only the app's origin; the iframe
is sandboxed with `allow-scripts allow-forms allow-same-origin` — scripts and forms so the app
works, same-origin so it keeps its own origin (its cookies and calls to its own server);
without allow-top-navigation or allow-popups it cannot navigate or open Tradepost's window.
allow-same-origin with allow-scripts is safe only because the app's origin is never
Tradepost's own (services/apps.py refuses such a base URL). `referrerpolicy="no-referrer"`:
the app learns nothing of the page around it but what the token says.

Through the proxy (`?via=proxy` on the same pages): the frame loads `/apps/proxy/<grant>/…` on
our origin and every request reaches the app with `x-tradepost-user-token` in a header
(services/app_proxy.py); that frame is sandboxed without allow-same-origin, and its answers
carry their own `sandbox` CSP, so the app never runs as Tradepost.
"""

import base64
import binascii
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, request, url_for
from flask_login import current_user, login_required

from app.access import company_required
from app.extensions import csrf, db, limiter
from app.inputs import body_limit
from app.models import Product
from app.services import app_proxy, apps, user_tokens
from app.services.whop_access import can_open_member_area
from app.web import confirm_page, json_error, refusal_page, render, require_confirmation

bp = Blueprint("apps", __name__)

JWKS_MAX_AGE = 300
# Per client address: an app fetches a key once per company and keeps it.
INSTALLATION_KEY_RATE_LIMIT = "60/minute"
# Per client address: one frame's page, its assets and its form posts.
PROXY_RATE_LIMIT = "300/minute"
FRAME_SANDBOX = "allow-scripts allow-forms allow-same-origin"
PROXY_FRAME_SANDBOX = "allow-scripts allow-forms"


def get_installable_or_404(public_id):
    """An app the current company may see in the directory (published, or its own), or 404."""
    return apps.installable_app(public_id, g.company) or abort(404)


def get_installation_or_404(public_id):
    """(app, the current company's active installation of it), or 404."""
    app = apps.installed_app(public_id, g.company) or abort(404)
    return app, apps.active_installation(app, g.company.id)


def embed_page(app, url, proxied=False, **context):
    """The page framing `url` of `app`, with frame-src limited to the app's origin (or to ours,
    for the proxy) and never cached (it carries a user token or a proxy grant)."""
    g.csp_frame_src = "'self'" if proxied else apps.app_origin(app)
    sandbox = PROXY_FRAME_SANDBOX if proxied else FRAME_SANDBOX
    body, status, headers = render("apps/embed.html", app=app, frame_url=url, sandbox=sandbox, **context)
    return body, status, {**headers, "Cache-Control": "private, no-store"}


def proxied_frame_url(app, company, view, path, product_id=None):
    """The proxy URL of `app`'s view `path`, with a fresh grant for the current user."""
    grant = app_proxy.proxy_grant(current_user, app, company, view, product_id)
    return url_for("apps.proxy", grant=grant, path=path.lstrip("/"))


@bp.route("/sell/apps")
@company_required("apps")
def directory():
    pairs = apps.company_installations(g.company.id)
    installed = {app.id: installation for app, installation in pairs}
    listed = apps.directory_apps(g.company)
    listed_ids = {app.id for app in listed}
    # Unpublished apps of others stay listed for the companies that installed them.
    extra = [app for app, _ in pairs if app.id not in listed_ids]
    return render("apps/directory.html", apps=listed + extra, installed=installed, company=g.company)


def _install_confirmation(app, error=None, status=200):
    return render("apps/install.html", app=app, company=g.company, error=error, http_status=status)


@bp.get("/sell/apps/<public_id>/install")
@company_required("apps")
def confirm_install(public_id):
    """What installing grants: the app's scopes, listed for the owner or admin to confirm."""
    return _install_confirmation(get_installable_or_404(public_id))


@bp.post("/sell/apps/<public_id>/install")
@company_required("apps")
@refusal_page(lambda exc, public_id: _install_confirmation(get_installable_or_404(public_id), exc.message, exc.status))
def install(public_id):
    app = get_installable_or_404(public_id)
    require_confirmation("install", "Confirm to install the app and grant its scopes.")
    apps.install_app(app, g.company, actor=current_user)
    db.session.commit()
    flash(f"{app.name} is installed.", "success")
    return redirect(url_for(".dashboard", public_id=app.public_id), 303)


# The confirmation steps of apps' destructive actions: word -> (title, message, button).
CONFIRMATIONS = {
    "uninstall": (
        "Uninstall {name}?",
        "{name} leaves your dashboard and your members' pages, and its API key is revoked at once: "
        "it can no longer read or change anything of your company.",
        "Uninstall",
    ),
    "rotate": (
        "Rotate the app secret?",
        "{name} gets a new secret at once: the current one stops working for fetching installation "
        "keys and verifying our webhooks. Update your app right after.",
        "Rotate secret",
    ),
}


def app_confirmation(app, word, action, cancel, error=None, status=200):
    """The confirmation page of the action `word` (CONFIRMATIONS) on `app`, posting to `action`."""
    title, message, button = (text.format(name=app.name) for text in CONFIRMATIONS[word])
    page = {"title": title, "message": message, "button": button, "word": word}
    return confirm_page(**page, action=action, cancel=cancel, error=error, status=status)


def _uninstall_confirmation(app, error=None, status=200):
    action = url_for(".uninstall", public_id=app.public_id)
    return app_confirmation(app, "uninstall", action, url_for(".directory"), error, status)


@bp.get("/sell/apps/<public_id>/uninstall")
@company_required("apps")
def confirm_uninstall(public_id):
    app, _ = get_installation_or_404(public_id)
    return _uninstall_confirmation(app)


@bp.post("/sell/apps/<public_id>/uninstall")
@company_required("apps")
@refusal_page(
    lambda exc, public_id: _uninstall_confirmation(get_installation_or_404(public_id)[0], exc.message, exc.status)
)
def uninstall(public_id):
    app, installation = get_installation_or_404(public_id)
    require_confirmation("uninstall", "Confirm to uninstall the app.")
    apps.uninstall_app(app, installation, actor=current_user)
    db.session.commit()
    flash(f"{app.name} is uninstalled and its API key revoked.", "success")
    return redirect(url_for(".directory"), 303)


@bp.route("/sell/apps/<public_id>")
@company_required("apps")
def dashboard(public_id):
    """The app's dashboard view for the installing company's team, in an iframe."""
    app, _ = get_installation_or_404(public_id)
    if not app.dashboard_path:
        abort(404)
    proxied = request.args.get("via") == "proxy"
    if proxied:
        url = proxied_frame_url(app, g.company, "dashboard", app.dashboard_path)
    else:
        token = user_tokens.issue_user_token(current_user, app, g.company, view="dashboard")
        url = apps.frame_url(app, app.dashboard_path, token, company_id=str(g.company.id))
    return embed_page(app, url, proxied, back=url_for(".directory"), back_label="Apps")


@bp.route("/account/products/<int:product_id>/apps/<public_id>")
@login_required
def experience(product_id, public_id):
    """The app's experience view for a member of `product` (or the seller's team), in an iframe."""
    product = db.session.get(Product, product_id) or abort(404)
    app = apps.installed_app(public_id, product.company)
    if app is None or not app.experience_path:
        abort(404)
    if not can_open_member_area(current_user, product):
        abort(403)
    proxied = request.args.get("via") == "proxy"
    if proxied:
        url = proxied_frame_url(app, product.company, "experience", app.experience_path, product.id)
    else:
        token = user_tokens.issue_user_token(
            current_user, app, product.company, view="experience", product_id=product.id
        )
        url = apps.frame_url(
            app, app.experience_path, token, company_id=str(product.company_id), product_id=str(product.id)
        )
    back = url_for("member_areas.home", product_id=product.id)
    return embed_page(app, url, proxied, back=back, back_label=product.title)


def proxied_body():
    """The POST body to send on. The request check (app/inputs.py) has parsed a form already,
    so a urlencoded form is encoded again; file uploads are not proxied (415)."""
    if request.method != "POST":
        return b""
    if request.mimetype == "multipart/form-data":
        raise app_proxy.ProxyRefused(415, "unsupported_media_type", "File uploads are not sent through the app proxy.")
    if request.mimetype == "application/x-www-form-urlencoded":
        return urlencode(list(request.form.items(multi=True))).encode()
    return request.get_data()


@bp.route("/apps/proxy/<grant>/", defaults={"path": ""}, methods=app_proxy.METHODS)
@bp.route("/apps/proxy/<grant>/<path:path>", methods=app_proxy.METHODS)
@body_limit(app_proxy.MAX_REQUEST_BYTES)
@csrf.exempt
@limiter.limit(PROXY_RATE_LIMIT)
@refusal_page(lambda exc, grant, path: json_error(exc.status, exc.code, exc.message))
def proxy(grant, path):
    """A request of an app's proxied frame, sent on to the app with a user token in the
    `x-tradepost-user-token` header (services/app_proxy.py). The grant in the path, not a
    cookie, says who is looking: the frame runs in an opaque origin that sends none."""
    target = app_proxy.prepare(app_proxy.read_grant(grant), request.method, request.content_length or 0)
    db.session.commit()  # nothing was written: hold no transaction while the app answers
    answer = app_proxy.send(
        target,
        path,
        method=request.method,
        query=request.args.items(multi=True),
        headers=request.headers,
        body=proxied_body(),
        prefix=url_for(".proxy", grant=grant, path=""),
    )
    response = Response(answer.body, status=answer.status, headers=answer.headers)
    if "content-type" not in answer.headers:
        response.headers.remove("Content-Type")
    response.headers["Content-Security-Policy"] = app_proxy.SANDBOX_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


@bp.route("/.well-known/jwks.json")
def jwks():
    """The public keys of our app user tokens (current and previous), cacheable for 5 minutes."""
    response = jsonify(user_tokens.jwks())
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response


def _basic_credentials():
    """(app id, secret) from an HTTP Basic Authorization header, or ("", "")."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or len(encoded) > 1024:
        return "", ""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    public_id, _, secret = decoded.partition(":")
    return public_id, secret


@bp.post("/apps/installation-key")
@csrf.exempt
@limiter.limit(INSTALLATION_KEY_RATE_LIMIT)
@refusal_page(lambda exc: json_error(exc.status, exc.code, exc.message))
def installation_key():
    """An app (HTTP Basic: app id and app secret, or `app_id` and `app_secret` in the body)
    fetches the API key of the company named by `company_id` (form or JSON, as in the user
    token): 401 unknown app or wrong secret, 404 not installed there (or uninstalled). The
    answer is never cached."""
    payload = request.get_json(silent=True) if request.is_json else request.form
    payload = payload if isinstance(payload, dict) or payload is request.form else {}
    public_id, secret = _basic_credentials()
    if not public_id:  # or in the body, like OAuth's client_secret_post
        public_id, secret = str(payload.get("app_id", "")), str(payload.get("app_secret", ""))
    app = apps.authenticate_app(public_id, secret)
    company_id = str(payload.get("company_id", ""))
    installation, key = apps.installation_key(app, company_id)
    response = jsonify(
        api_key=key, company_id=str(installation.company_id), scopes=installation.granted_scopes, app_id=app.public_id
    )
    response.headers["Cache-Control"] = "no-store"
    return response
