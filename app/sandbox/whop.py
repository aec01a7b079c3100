"""Local emulator of Whop: OAuth 2.1 + PKCE sign-in, JWKS, iframe user tokens, webhooks.

Registered by the sandbox app at ``/whop``. The main app talks to it exactly as it
talks to api.whop.com, over HTTP:

* ``/oauth/authorize`` (a page to pick or create a sandbox user, then Allow/Deny),
  ``/oauth/token`` (authorization_code with mandatory S256 PKCE, and
  refresh_token with rotation), ``/oauth/userinfo``, ``/.well-known/jwks.json``
  and ``/.well-known/openid-configuration``.
* ``x-whop-user-token`` JWTs (ES256, iss ``urn:whopcom:exp-proxy``) minted with
  ``mint_user_token`` or on ``/tokens``, and a proxy (``/experiences/<id>``,
  ``/dashboard/<id>``) that frames our app the way Whop does, adding the header.
* Standard Webhooks deliveries to ``APP_BASE_URL/webhooks/whop`` via
  ``send_webhook``, recorded and resendable from the index page.

State lives in the SQLite file ``SANDBOX_DATABASE`` (tables prefixed ``whop_``),
including the ES256 signing key, so restarts keep keys, users and tokens.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import string
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit, urlunsplit

import click
import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from jwt.algorithms import ECAlgorithm
from standardwebhooks import Webhook

from app.config import (DEFAULT_PORT, DEFAULT_SANDBOX_PORT, DEV_WHOP_APP_ID, DEV_WHOP_CLIENT_ID,
                        DEV_WHOP_CLIENT_SECRET, DEV_WHOP_WEBHOOK_SECRET)

bp = Blueprint("whop", __name__, template_folder="whop_templates")

# Used when the sandbox app's config lacks a key; the sandbox's own config (app/sandbox/
# __init__.py) reads each of these from the environment, defaulting to the same values.
CONFIG_DEFAULTS = {
    "WHOP_APP_ID": DEV_WHOP_APP_ID,
    "WHOP_CLIENT_ID": DEV_WHOP_CLIENT_ID,
    "WHOP_CLIENT_SECRET": DEV_WHOP_CLIENT_SECRET,
    "WHOP_WEBHOOK_SECRET": DEV_WHOP_WEBHOOK_SECRET,
    "APP_BASE_URL": f"http://127.0.0.1:{DEFAULT_PORT}",
    "SANDBOX_PUBLIC_URL": f"http://127.0.0.1:{DEFAULT_SANDBOX_PORT}",
}

USER_TOKEN_ISSUER = "urn:whopcom:exp-proxy"
USER_TOKEN_HEADER = "x-whop-user-token"
SUPPORTED_SCOPES = ("openid", "profile", "email")
DEFAULT_SCOPE = "openid profile email"
AUTH_CODE_TTL = 60
ACCESS_TOKEN_TTL = 3600
REFRESH_TOKEN_TTL = 30 * 24 * 3600
ID_TOKEN_TTL = 600
MAX_USER_TOKEN_TTL = 24 * 3600
WEBHOOK_TYPES = (
    "payment.succeeded",
    "membership.activated",
    "membership.deactivated",
    "refund.created",
)

_ID_ALPHABET = string.ascii_letters + string.digits
_PKCE_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_USER_ID_RE = re.compile(r"^user_[A-Za-z0-9]{1,40}$")
_USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,32}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
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

# One HTTP client per process for webhook deliveries and the iframe proxy. It only
# ever talks to our own app, so proxy settings from the environment are ignored.
_http = httpx.Client(
    timeout=httpx.Timeout(10.0, connect=5.0),
    follow_redirects=False,
    trust_env=False,
    headers={"user-agent": "whop-sandbox/1"},
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS whop_signing_keys (
    kid TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS whop_users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS whop_auth_codes (
    code TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES whop_users (id),
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE TABLE IF NOT EXISTS whop_access_tokens (
    token TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES whop_users (id),
    scope TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS whop_refresh_tokens (
    token TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES whop_users (id),
    scope TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    replaced_at INTEGER
);
CREATE INDEX IF NOT EXISTS whop_access_tokens_grant ON whop_access_tokens (grant_id);
CREATE INDEX IF NOT EXISTS whop_refresh_tokens_grant ON whop_refresh_tokens (grant_id);
CREATE TABLE IF NOT EXISTS whop_webhook_deliveries (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    status_code INTEGER,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    last_attempt_at INTEGER
);
"""


# --------------------------------------------------------------------------- helpers


def _cfg(key: str) -> str:
    return current_app.config.get(key) or CONFIG_DEFAULTS[key]


def _issuer() -> str:
    return _cfg("SANDBOX_PUBLIC_URL").rstrip("/") + "/whop"


def _now() -> int:
    return int(time.time())


def _new_id(prefix: str, length: int = 14) -> str:
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def _db() -> sqlite3.Connection:
    """Return this app context's connection to the sandbox database (created lazily)."""
    conn = g.get("whop_db")
    if conn is None:
        conn = sqlite3.connect(current_app.config["SANDBOX_DATABASE"], timeout=10, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
        g.whop_db = conn
    return conn


def _close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("whop_db", None)
    if conn is not None:
        conn.close()


@bp.record_once
def _register_teardown(state) -> None:
    state.app.teardown_appcontext(_close_db)


class _Transaction:
    """``with _Transaction(conn):`` — BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _json_error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _with_query(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


# --------------------------------------------------------------------------- keys & tokens


def _signing_keys(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """All signing keys, newest first; generates and stores the first one if none exist."""
    rows = conn.execute("SELECT * FROM whop_signing_keys ORDER BY created_at DESC, rowid DESC").fetchall()
    if rows:
        return rows
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

    def insert_if_still_missing() -> None:
        # Another process may have generated the key since our first SELECT.
        if conn.execute("SELECT 1 FROM whop_signing_keys").fetchone() is None:
            conn.execute(
                "INSERT INTO whop_signing_keys (kid, private_pem, created_at) VALUES (?, ?, ?)",
                (_new_id("whopsbx", 16), pem, _now()),
            )

    if conn.in_transaction:
        insert_if_still_missing()
    else:
        with _Transaction(conn):
            insert_if_still_missing()
    return conn.execute("SELECT * FROM whop_signing_keys ORDER BY created_at DESC, rowid DESC").fetchall()


def _sign(claims: dict[str, Any]) -> str:
    row = _signing_keys(_db())[0]
    key = serialization.load_pem_private_key(row["private_pem"].encode(), password=None)
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": row["kid"], "typ": "JWT"})


def mint_user_token(user_id: str, app_id: str | None = None, ttl: int = 300) -> str:
    """Return an ``x-whop-user-token`` for ``user_id`` as Whop's proxy would send it.

    ES256, header ``kid`` from the sandbox JWKS, claims ``iss`` =
    ``urn:whopcom:exp-proxy``, ``sub`` = user id, ``aud`` = ``app_id`` (default
    ``WHOP_APP_ID``), ``iat`` and ``exp`` = now + ``ttl`` seconds (a negative ttl
    yields an already-expired token, for tests). Needs an app context.
    """
    if not _USER_ID_RE.match(user_id or ""):
        raise ValueError("user_id must look like user_XXXX")
    now = _now()
    return _sign(
        {
            "iss": USER_TOKEN_ISSUER,
            "sub": user_id,
            "aud": app_id or _cfg("WHOP_APP_ID"),
            "iat": now,
            "exp": now + int(ttl),
        }
    )


# --------------------------------------------------------------------------- users


def _user_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {key: row[key] for key in ("id", "username", "name", "email", "created_at")}


def _list_users(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM whop_users ORDER BY created_at, username").fetchall()


def _get_user(conn: sqlite3.Connection, user_id: str | None) -> sqlite3.Row | None:
    if not user_id:
        return None
    return conn.execute("SELECT * FROM whop_users WHERE id = ?", (user_id,)).fetchone()


def create_user(username: str, name: str, email: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Create a sandbox Whop user; return ``(user, {})`` or ``(None, {field: message})``."""
    username = (username or "").strip().lower()
    name = (name or "").strip()
    email = (email or "").strip()
    errors: dict[str, str] = {}
    if not _USERNAME_RE.match(username):
        errors["username"] = "3–32 characters: lowercase letters, digits, '_', '.', '-'."
    if not 1 <= len(name) <= 80:
        errors["name"] = "Name is required (up to 80 characters)."
    if not _EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = "Enter a valid email address."
    if errors:
        return None, errors
    conn = _db()
    user_id = _new_id("user")
    try:
        with _Transaction(conn):
            conn.execute(
                "INSERT INTO whop_users (id, username, name, email, created_at) VALUES (?, ?, ?, ?, ?)",
                (user_id, username, name, email, _now()),
            )
    except sqlite3.IntegrityError:
        return None, {"username": f"Username {username!r} is taken."}
    return _user_dict(_get_user(conn, user_id)), {}


# --------------------------------------------------------------------------- OAuth


class _AuthorizeError(Exception):
    """An authorization request we must not redirect back (shown as a 400 page)."""


def _allowed_redirect_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        return False
    registered = current_app.config.get("WHOP_REDIRECT_URIS")
    if not registered:
        return True
    if isinstance(registered, str):
        registered = registered.replace(",", " ").split()
    return uri in registered


def _parse_authorization_request(params) -> dict[str, Any]:
    """Validate an authorization request (query or re-posted form); raise _AuthorizeError."""
    client_id = params.get("client_id", "")
    if not client_id or not hmac.compare_digest(client_id, _cfg("WHOP_CLIENT_ID")):
        raise _AuthorizeError("Unknown client_id.")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri or not _allowed_redirect_uri(redirect_uri):
        raise _AuthorizeError("redirect_uri is missing or not registered for this client.")
    if params.get("response_type") != "code":
        raise _AuthorizeError("response_type must be 'code'.")
    method = params.get("code_challenge_method")
    if not method:
        raise _AuthorizeError("code_challenge_method is required (S256).")
    if method != "S256":
        raise _AuthorizeError(f"Unsupported code_challenge_method {method!r}: only S256.")
    challenge = params.get("code_challenge", "")
    if not _PKCE_RE.match(challenge):
        raise _AuthorizeError("code_challenge is required (base64url SHA-256 of the verifier).")
    requested = (params.get("scope") or DEFAULT_SCOPE).split()
    scope = " ".join(s for s in SUPPORTED_SCOPES if s in requested)
    if not scope:
        raise _AuthorizeError(f"scope must include one of: {', '.join(SUPPORTED_SCOPES)}.")
    nonce = params.get("nonce") or None
    state = params.get("state") or None
    if (nonce and len(nonce) > 255) or (state and len(state) > 1024):
        raise _AuthorizeError("nonce or state is too long.")
    return {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": method,
    }


def _render_authorize(auth: dict[str, Any], status: int = 200, errors=None, form=None):
    return (
        render_template(
            "whop/authorize.html",
            auth=auth,
            users=_list_users(_db()),
            errors=errors or {},
            form=form or {},
        ),
        status,
    )


@bp.get("/oauth/authorize")
def authorize():
    try:
        auth = _parse_authorization_request(request.args)
    except _AuthorizeError as exc:
        return render_template("whop/error.html", title="Invalid authorization request", message=str(exc)), 400
    return _render_authorize(auth)


@bp.post("/oauth/authorize")
def authorize_decide():
    try:
        auth = _parse_authorization_request(request.form)
    except _AuthorizeError as exc:
        return render_template("whop/error.html", title="Invalid authorization request", message=str(exc)), 400

    decision = request.form.get("decision")
    if decision == "deny":
        return redirect(
            _with_query(
                auth["redirect_uri"],
                {"error": "access_denied", "error_description": "The user denied access.", "state": auth["state"]},
            ),
            302,
        )
    if decision != "allow":
        return _render_authorize(auth, 400, {"decision": "Choose Allow or Deny."}, request.form)

    conn = _db()
    account = request.form.get("account", "")
    if account == "new":
        user, errors = create_user(
            request.form.get("username", ""), request.form.get("name", ""), request.form.get("email", "")
        )
        if errors:
            return _render_authorize(auth, 400, errors, request.form)
        user_id = user["id"]
    else:
        row = _get_user(conn, account)
        if row is None:
            return _render_authorize(auth, 400, {"account": "Pick a user or create one."}, request.form)
        user_id = row["id"]

    code = secrets.token_urlsafe(32)
    with _Transaction(conn):
        conn.execute(
            "INSERT INTO whop_auth_codes (code, grant_id, client_id, user_id, redirect_uri, scope,"
            " nonce, code_challenge, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                code,
                _new_id("grant", 20),
                auth["client_id"],
                user_id,
                auth["redirect_uri"],
                auth["scope"],
                auth["nonce"],
                auth["code_challenge"],
                _now() + AUTH_CODE_TTL,
            ),
        )
    return redirect(_with_query(auth["redirect_uri"], {"code": code, "state": auth["state"]}), 302)


def _oauth_error(error: str, description: str, status: int = 400, headers=None) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _authenticate_client() -> tuple[str | None, Response | None]:
    """Client authentication by client_secret_basic or client_secret_post (never both)."""
    basic = request.headers.get("Authorization", "")
    form_id = request.form.get("client_id")
    form_secret = request.form.get("client_secret")
    challenge = {"WWW-Authenticate": 'Basic realm="whop-sandbox"'}
    if basic:
        if form_secret is not None:
            return None, _oauth_error("invalid_request", "Use one client authentication method.")
        scheme, _, encoded = basic.partition(" ")
        if scheme.lower() != "basic":
            return None, _oauth_error("invalid_client", "Unsupported client authentication.", 401, challenge)
        try:
            raw_id, sep, raw_secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, _oauth_error("invalid_client", "Malformed Basic credentials.", 401, challenge)
        if not sep:
            return None, _oauth_error("invalid_client", "Malformed Basic credentials.", 401, challenge)
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if form_id is not None and form_id != client_id:
            return None, _oauth_error("invalid_request", "client_id does not match the credentials.")
    else:
        client_id, secret = form_id or "", form_secret or ""
    valid = hmac.compare_digest(client_id.encode(), _cfg("WHOP_CLIENT_ID").encode()) and hmac.compare_digest(
        secret.encode(), _cfg("WHOP_CLIENT_SECRET").encode()
    )
    if not valid:
        return None, _oauth_error("invalid_client", "Client authentication failed.", 401, challenge)
    return client_id, None


def _pkce_matches(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(expected, challenge)


def _token_response(
    conn: sqlite3.Connection,
    *,
    grant_id: str,
    client_id: str,
    user_id: str,
    scope: str,
    nonce: str | None = None,
    with_id_token: bool = False,
) -> dict[str, Any]:
    """Store a new access + refresh token pair (caller holds the transaction)."""
    now = _now()
    access_token = "whop_at_" + secrets.token_urlsafe(32)
    refresh_token = "whop_rt_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO whop_access_tokens (token, grant_id, client_id, user_id, scope, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (access_token, grant_id, client_id, user_id, scope, now + ACCESS_TOKEN_TTL),
    )
    conn.execute(
        "INSERT INTO whop_refresh_tokens (token, grant_id, client_id, user_id, scope, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (refresh_token, grant_id, client_id, user_id, scope, now + REFRESH_TOKEN_TTL),
    )
    body = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL,
        "refresh_token": refresh_token,
        "scope": scope,
    }
    if with_id_token and "openid" in scope.split():
        claims = {
            "iss": _issuer(),
            "sub": user_id,
            "aud": client_id,
            "iat": now,
            "exp": now + ID_TOKEN_TTL,
            "auth_time": now,
        }
        if nonce:
            claims["nonce"] = nonce
        body["id_token"] = _sign(claims)
    return body


def _revoke_grant(conn: sqlite3.Connection, grant_id: str) -> None:
    now = _now()
    for table in ("whop_access_tokens", "whop_refresh_tokens"):
        conn.execute(
            f"UPDATE {table} SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL",
            (now, grant_id),
        )


def _exchange_code(client_id: str) -> Response:
    code = request.form.get("code")
    if not code:
        return _oauth_error("invalid_request", "code is required.")
    verifier = request.form.get("code_verifier")
    conn = _db()
    now = _now()
    failure: str | None = None
    with _Transaction(conn):
        row = conn.execute("SELECT * FROM whop_auth_codes WHERE code = ?", (code,)).fetchone()
        if row is None:
            failure = "Unknown authorization code."
        elif row["used_at"] is not None:
            # A replayed code may be stolen: revoke everything issued from it (RFC 6749 §4.1.2).
            _revoke_grant(conn, row["grant_id"])
            failure = "Authorization code was already used."
        else:
            # Any attempt burns the code, so a wrong verifier cannot be retried.
            conn.execute("UPDATE whop_auth_codes SET used_at = ? WHERE code = ?", (now, code))
            if row["client_id"] != client_id:
                failure = "Authorization code was issued to another client."
            elif row["expires_at"] <= now:
                failure = "Authorization code expired."
            elif request.form.get("redirect_uri") != row["redirect_uri"]:
                failure = "redirect_uri does not match the authorization request."
            elif not verifier:
                failure = "code_verifier is required."
            elif not _PKCE_RE.match(verifier) or not _pkce_matches(verifier, row["code_challenge"]):
                failure = "code_verifier does not match the code_challenge."
        if failure is None:
            body = _token_response(
                conn,
                grant_id=row["grant_id"],
                client_id=client_id,
                user_id=row["user_id"],
                scope=row["scope"],
                nonce=row["nonce"],
                with_id_token=True,
            )
    if failure is not None:
        return _oauth_error("invalid_grant", failure)
    return _no_store(jsonify(body))


def _refresh(client_id: str) -> Response:
    token = request.form.get("refresh_token")
    if not token:
        return _oauth_error("invalid_request", "refresh_token is required.")
    conn = _db()
    now = _now()
    failure: tuple[str, str] | None = None
    with _Transaction(conn):
        row = conn.execute("SELECT * FROM whop_refresh_tokens WHERE token = ?", (token,)).fetchone()
        if row is None or row["client_id"] != client_id:
            failure = ("invalid_grant", "Unknown refresh token.")
        elif row["replaced_at"] is not None:
            # Reuse of a rotated token: assume theft and end the whole grant (OAuth 2.1 §4.3.1).
            _revoke_grant(conn, row["grant_id"])
            failure = ("invalid_grant", "Refresh token was already used.")
        elif row["revoked_at"] is not None:
            failure = ("invalid_grant", "Refresh token was revoked.")
        elif row["expires_at"] <= now:
            failure = ("invalid_grant", "Refresh token expired.")
        else:
            scope = row["scope"]
            requested = request.form.get("scope")
            if requested:
                if not set(requested.split()) <= set(scope.split()):
                    failure = ("invalid_scope", "scope exceeds the original grant.")
                else:
                    scope = " ".join(s for s in SUPPORTED_SCOPES if s in requested.split())
        if failure is None:
            conn.execute(
                "UPDATE whop_refresh_tokens SET revoked_at = ?, replaced_at = ? WHERE token = ?",
                (now, now, token),
            )
            body = _token_response(
                conn, grant_id=row["grant_id"], client_id=client_id, user_id=row["user_id"], scope=scope
            )
    if failure is not None:
        return _oauth_error(*failure)
    return _no_store(jsonify(body))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/oauth/token")
def token():
    client_id, error = _authenticate_client()
    if error is not None:
        return error
    grant_type = request.form.get("grant_type")
    if grant_type == "authorization_code":
        return _exchange_code(client_id)
    if grant_type == "refresh_token":
        return _refresh(client_id)
    if not grant_type:
        return _oauth_error("invalid_request", "grant_type is required.")
    return _oauth_error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported.")


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo():
    scheme, _, access_token = request.headers.get("Authorization", "").partition(" ")
    challenge = 'Bearer realm="whop-sandbox", error="invalid_token"'
    if scheme.lower() != "bearer" or not access_token:
        return _oauth_error("invalid_token", "Bearer access token required.", 401, {"WWW-Authenticate": challenge})
    row = _db().execute(
        "SELECT t.scope, u.* FROM whop_access_tokens t JOIN whop_users u ON u.id = t.user_id"
        " WHERE t.token = ? AND t.revoked_at IS NULL AND t.expires_at > ?",
        (access_token.strip(), _now()),
    ).fetchone()
    if row is None:
        return _oauth_error(
            "invalid_token", "Access token is invalid or expired.", 401, {"WWW-Authenticate": challenge}
        )
    scopes = row["scope"].split()
    claims: dict[str, Any] = {"sub": row["id"]}
    if "profile" in scopes:
        claims["preferred_username"] = row["username"]
        claims["name"] = row["name"]
        claims["picture"] = _cfg("SANDBOX_PUBLIC_URL").rstrip("/") + url_for("whop.avatar", user_id=row["id"])
    if "email" in scopes:
        claims["email"] = row["email"]
        claims["email_verified"] = True
    return _no_store(jsonify(claims))


@bp.get("/.well-known/jwks.json")
def jwks():
    keys = []
    for row in _signing_keys(_db()):
        public_key = serialization.load_pem_private_key(row["private_pem"].encode(), password=None).public_key()
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
        keys.append({**jwk, "kid": row["kid"], "use": "sig", "alg": "ES256"})
    response = jsonify({"keys": keys})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    base = _issuer()
    return jsonify(
        {
            "issuer": base,
            "authorization_endpoint": base + "/oauth/authorize",
            "token_endpoint": base + "/oauth/token",
            "userinfo_endpoint": base + "/oauth/userinfo",
            "jwks_uri": base + "/.well-known/jwks.json",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": list(SUPPORTED_SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [
                "sub",
                "preferred_username",
                "name",
                "picture",
                "email",
                "email_verified",
            ],
        }
    )


@bp.get("/avatars/<user_id>.svg")
def avatar(user_id: str):
    row = _get_user(_db(), user_id)
    initial = (row["name"][:1] if row else "?").upper()
    hue = int(hashlib.sha256(user_id.encode()).hexdigest()[:2], 16) * 360 // 256
    svg = render_template("whop/avatar.svg", initial=initial, hue=hue)
    return Response(svg, content_type="image/svg+xml")


# --------------------------------------------------------------------------- users & tokens pages


@bp.get("/")
def index():
    conn = _db()
    deliveries = conn.execute(
        "SELECT * FROM whop_webhook_deliveries ORDER BY created_at DESC, rowid DESC LIMIT 50"
    ).fetchall()
    users = _list_users(conn)
    return render_template(
        "whop/index.html",
        users=users,
        deliveries=deliveries,
        webhook_types=WEBHOOK_TYPES,
        sample_data=json.dumps(_sample_data("payment.succeeded", users[0] if users else None), indent=2),
        app_id=_cfg("WHOP_APP_ID"),
        app_base_url=_cfg("APP_BASE_URL"),
        issuer=_issuer(),
    )


@bp.post("/users")
def create():
    data = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):
        return _json_error(400, "invalid_body", "Send a JSON object {username, name, email}.")
    user, errors = create_user(data.get("username", ""), data.get("name", ""), data.get("email", ""))
    if request.is_json:
        if errors:
            field, message = next(iter(errors.items()))
            return _json_error(422, "invalid_" + field, message)
        return jsonify(user), 201
    if errors:
        return render_template("whop/error.html", title="Could not create user", message=" ".join(errors.values())), 422
    return redirect(url_for("whop.index"), 303)


@bp.get("/tokens")
def tokens():
    return render_template(
        "whop/tokens.html",
        users=_list_users(_db()),
        form={"app_id": _cfg("WHOP_APP_ID"), "experience_id": request.args.get("experience_id", "")},
        token=None,
        claims=None,
        error=None,
    )


@bp.post("/tokens")
def mint():
    data = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):
        return _json_error(400, "invalid_body", "Send a JSON object.")
    user_id = (data.get("user_id") or data.get("user") or "").strip()
    app_id = (data.get("app_id") or "").strip() or _cfg("WHOP_APP_ID")
    error = None
    try:
        ttl = int(data.get("ttl") or 300)
    except (TypeError, ValueError):
        ttl, error = 300, ("ttl", "ttl must be a whole number of seconds.")
    if not error and not 1 <= ttl <= MAX_USER_TOKEN_TTL:
        error = ("ttl", f"ttl must be between 1 and {MAX_USER_TOKEN_TTL} seconds.")
    if not error and not _USER_ID_RE.match(user_id):
        error = ("user_id", "user_id must look like user_XXXX.")
    if request.is_json:
        if error:
            return _json_error(422, "invalid_" + error[0], error[1])
        return jsonify({"token": mint_user_token(user_id, app_id, ttl)})
    token_value = None if error else mint_user_token(user_id, app_id, ttl)
    return (
        render_template(
            "whop/tokens.html",
            users=_list_users(_db()),
            form={**data, "user_id": user_id, "app_id": app_id},
            token=token_value,
            claims=jwt.decode(token_value, options={"verify_signature": False}) if token_value else None,
            error=error[1] if error else None,
        ),
        422 if error else 200,
    )


# --------------------------------------------------------------------------- iframe views


def _frame(kind: str, target_id: str):
    if not _ROUTE_ID_RE.match(target_id):
        return render_template("whop/error.html", title="Not found", message="Malformed id."), 404
    conn = _db()
    user_id = request.args.get("user", "")
    users = _list_users(conn)
    if not user_id:
        return render_template("whop/frame.html", kind=kind, target_id=target_id, users=users, user=None)
    user = _get_user(conn, user_id)
    if user is None:
        return render_template("whop/error.html", title="Unknown user", message=f"No sandbox user {user_id}."), 404
    endpoint = "whop.proxy_experience" if kind == "experiences" else "whop.proxy_dashboard"
    if kind == "experiences":
        src = url_for(endpoint, experience_id=target_id, user=user_id)
    else:
        src = url_for(endpoint, company_id=target_id, user=user_id)
    return render_template("whop/frame.html", kind=kind, target_id=target_id, users=users, user=user, src=src)


@bp.get("/experiences/<experience_id>")
def experience_frame(experience_id: str):
    return _frame("experiences", experience_id)


@bp.get("/dashboard/<company_id>")
def dashboard_frame(company_id: str):
    return _frame("dashboard", company_id)


def _proxy(path: str) -> Response:
    """Fetch APP_BASE_URL + path server-side with a fresh x-whop-user-token, as Whop does."""
    user_id = request.args.get("user", "")
    if not _USER_ID_RE.match(user_id):
        return Response("?user=user_XXXX is required", status=400, content_type="text/plain; charset=utf-8")
    headers = {name: request.headers[name] for name in _PROXIED_REQUEST_HEADERS if name in request.headers}
    headers[USER_TOKEN_HEADER] = mint_user_token(user_id)
    query = [(key, value) for key, value in request.args.items(multi=True) if key != "user"]
    try:
        upstream = _http.request(
            request.method,
            _cfg("APP_BASE_URL").rstrip("/") + path,
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
def proxy_experience(experience_id: str):
    return _proxy("/experiences/" + quote(experience_id, safe=""))


@bp.route("/proxy/dashboard/<company_id>", methods=["GET", "POST"])
def proxy_dashboard(company_id: str):
    return _proxy("/dashboard/" + quote(company_id, safe=""))


# --------------------------------------------------------------------------- webhooks


def _sample_data(event_type: str, user: sqlite3.Row | dict | None = None) -> dict[str, Any]:
    """A Whop v1-shaped ``data`` object for ``event_type`` (fields our app reads)."""
    now = _iso(time.time())
    user_obj = (
        {"id": user["id"], "username": user["username"], "name": user["name"], "email": user["email"]}
        if user is not None
        else None
    )
    company = {"id": "biz_tradepostsbx", "title": "Tradepost"}
    product = {"id": "prod_tradepostsbx", "title": "Tradepost Pro"}
    plan = {"id": "plan_tradepostsbx"}
    if event_type == "payment.succeeded":
        return {
            "id": _new_id("pay"),
            "status": "paid",
            "substatus": "succeeded",
            "created_at": now,
            "paid_at": now,
            "currency": "usd",
            "total": 10.0,
            "subtotal": 10.0,
            "usd_total": 10.0,
            "refunded_amount": 0.0,
            "user": user_obj,
            "membership": {"id": _new_id("mem"), "status": "active"},
            "product": product,
            "plan": plan,
            "company": company,
            "metadata": {},
        }
    if event_type in ("membership.activated", "membership.deactivated"):
        active = event_type == "membership.activated"
        return {
            "id": _new_id("mem"),
            "status": "active" if active else "expired",
            "created_at": now,
            "updated_at": now,
            "joined_at": now,
            "canceled_at": None if active else now,
            "cancel_at_period_end": False,
            "currency": "usd",
            "user": user_obj,
            "member": {"id": _new_id("mber")},
            "company": company,
            "product": product,
            "plan": plan,
            "license_key": None,
            "metadata": {},
        }
    if event_type == "refund.created":
        return {
            "id": _new_id("rfnd"),
            "status": "succeeded",
            "created_at": now,
            "amount": 10.0,
            "currency": "usd",
            "reason": "requested_by_customer",
            "payment": {"id": _new_id("pay"), "user": user_obj},
            "company": company,
        }
    raise ValueError(f"unsupported webhook type {event_type!r}")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _delivery_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "type": row["event_type"],
        "url": row["url"],
        "status": row["status"],
        "status_code": row["status_code"],
        "error": row["error"],
        "attempts": row["attempts"],
        "created_at": row["created_at"],
        "last_attempt_at": row["last_attempt_at"],
        "payload": json.loads(row["body"]),
    }


def _deliver(conn: sqlite3.Connection, message_id: str) -> dict[str, Any]:
    """POST the stored message, freshly signed, and record the outcome of the attempt."""
    row = conn.execute("SELECT * FROM whop_webhook_deliveries WHERE id = ?", (message_id,)).fetchone()
    sent_at = datetime.now(tz=timezone.utc)
    key = base64.b64encode(_cfg("WHOP_WEBHOOK_SECRET").encode()).decode()
    headers = {
        "content-type": "application/json",
        "webhook-id": row["id"],
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(key).sign(row["id"], sent_at, row["body"]),
    }
    status_code: int | None = None
    error: str | None = None
    try:
        response = _http.post(row["url"], content=row["body"].encode(), headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    with _Transaction(conn):
        conn.execute(
            "UPDATE whop_webhook_deliveries SET status = ?, status_code = ?, error = ?,"
            " attempts = attempts + 1, last_attempt_at = ? WHERE id = ?",
            ("failed" if error else "delivered", status_code, error, int(sent_at.timestamp()), message_id),
        )
    return _delivery_dict(conn.execute("SELECT * FROM whop_webhook_deliveries WHERE id = ?", (message_id,)).fetchone())


def send_webhook(event_type: str, data: dict[str, Any] | None = None, *, company_id: str | None = None) -> dict:
    """Send one Whop webhook to ``APP_BASE_URL/webhooks/whop`` and return the delivery record.

    The body follows Whop's v1 envelope — ``{"id": "msg_…", "api_version": "v1",
    "timestamp", "type", "company_id", "data"}`` — with ``data`` = a sample object
    for the type deep-merged with ``data``. Signed per Standard Webhooks with the
    base64-encoded ``WHOP_WEBHOOK_SECRET``. Delivery failures are recorded, not
    raised; an unsupported type raises ``ValueError``. Needs an app context.
    """
    if event_type not in WEBHOOK_TYPES:
        raise ValueError(f"unsupported webhook type {event_type!r}; use one of {', '.join(WEBHOOK_TYPES)}")
    payload_data = _merge(_sample_data(event_type), data or {})
    message_id = _new_id("msg", 24)
    now = time.time()
    envelope = {
        "id": message_id,
        "api_version": "v1",
        "timestamp": _iso(now),
        "type": event_type,
        "company_id": company_id or (payload_data.get("company") or {}).get("id"),
        "data": payload_data,
    }
    conn = _db()
    with _Transaction(conn):
        conn.execute(
            "INSERT INTO whop_webhook_deliveries (id, event_type, url, body, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                message_id,
                event_type,
                _cfg("APP_BASE_URL").rstrip("/") + "/webhooks/whop",
                json.dumps(envelope, separators=(",", ":")),
                int(now),
            ),
        )
    return _deliver(conn, message_id)


@bp.post("/webhooks/send")
def send():
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _json_error(400, "invalid_body", "Send a JSON object {type, data}.")
        event_type, data = body.get("type"), body.get("data") or {}
    else:
        event_type = request.form.get("type")
        try:
            data = json.loads(request.form.get("data") or "{}")
        except ValueError:
            data = None
    if event_type not in WEBHOOK_TYPES:
        message = f"type must be one of: {', '.join(WEBHOOK_TYPES)}."
        if request.is_json:
            return _json_error(422, "invalid_type", message)
        return render_template("whop/error.html", title="Cannot send webhook", message=message), 422
    if not isinstance(data, dict):
        message = "data must be a JSON object."
        if request.is_json:
            return _json_error(422, "invalid_data", message)
        return render_template("whop/error.html", title="Cannot send webhook", message=message), 422
    delivery = send_webhook(event_type, data)
    if request.is_json:
        return jsonify(delivery), 201
    return redirect(url_for("whop.index"), 303)


@bp.post("/webhooks/deliveries/<message_id>/resend")
def resend(message_id: str):
    conn = _db()
    if conn.execute("SELECT 1 FROM whop_webhook_deliveries WHERE id = ?", (message_id,)).fetchone() is None:
        if _wants_json():
            return _json_error(404, "not_found", f"No delivery {message_id}.")
        return render_template("whop/error.html", title="Not found", message=f"No delivery {message_id}."), 404
    delivery = _deliver(conn, message_id)
    if _wants_json():
        return jsonify(delivery)
    return redirect(url_for("whop.index"), 303)


# --------------------------------------------------------------------------- CLI

class _SandboxAppGroup(click.Group):
    """Runs its commands inside a sandbox app (its database): the CLI's own app when that is
    a sandbox app, else one built from the environment (`flask sandbox whop ...`)."""

    def invoke(self, ctx):
        from flask.cli import ScriptInfo

        from app.sandbox import create_sandbox_app

        app = ctx.ensure_object(ScriptInfo).load_app()
        if "SANDBOX_DATABASE" not in app.config:
            app = create_sandbox_app({"SANDBOX_DELIVER_WEBHOOKS": False})
        with app.app_context():
            return super().invoke(ctx)


whop_cli = _SandboxAppGroup("whop", help="Whop sandbox: users, user tokens, webhooks.")


@whop_cli.command("mint-token")
@click.argument("user_id")
@click.option("--app-id", default=None, help="Audience (defaults to WHOP_APP_ID).")
@click.option("--ttl", default=300, show_default=True, type=int, help="Lifetime in seconds.")
def mint_token_command(user_id: str, app_id: str | None, ttl: int) -> None:
    """Print an x-whop-user-token for USER_ID."""
    try:
        click.echo(mint_user_token(user_id, app_id, ttl))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="USER_ID") from exc


@whop_cli.command("create-user")
@click.argument("username")
@click.option("--name", default=None, help="Display name (defaults to the username).")
@click.option("--email", default=None, help="Email (defaults to USERNAME@example.test).")
def create_user_command(username: str, name: str | None, email: str | None) -> None:
    """Create a sandbox Whop user and print its id."""
    user, errors = create_user(username, name or username, email or f"{username}@example.test")
    if errors:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in errors.items()))
    click.echo(user["id"])


@whop_cli.command("send-webhook")
@click.argument("event_type", type=click.Choice(WEBHOOK_TYPES))
@click.option("--data", default="{}", help="JSON object merged into the sample data.")
def send_webhook_command(event_type: str, data: str) -> None:
    """Deliver a signed Whop webhook to APP_BASE_URL/webhooks/whop."""
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from exc
    if not isinstance(payload, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--data")
    delivery = send_webhook(event_type, payload)
    click.echo(f"{delivery['id']} {delivery['status']} {delivery['status_code'] or ''} {delivery['error'] or ''}".rstrip())
