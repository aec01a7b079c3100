"""The emulator's OAuth 2.1 + OpenID Connect server, at the paths api.whop.com serves.

``/oauth/authorize`` (a page to pick or create a sandbox user, then Allow/Deny),
``/oauth/token`` (authorization_code with mandatory S256 PKCE, and refresh_token with
rotation; client_secret_basic or client_secret_post), ``/oauth/userinfo`` and
``/.well-known/openid-configuration``. Id tokens are signed by ``tokens.sign``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.sandbox.sqlite import transaction
from app.sandbox.whop import store
from app.sandbox.whop.tokens import sign
from app.sandbox.whop.web import error_page, issuer, setting

bp = Blueprint("whop_oauth", __name__, url_prefix="/whop", template_folder="templates")

SUPPORTED_SCOPES = ("openid", "profile", "email")
DEFAULT_SCOPE = "openid profile email"
AUTH_CODE_TTL = 60
ACCESS_TOKEN_TTL = 3600
REFRESH_TOKEN_TTL = 30 * 24 * 3600
ID_TOKEN_TTL = 600

_PKCE_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


# --------------------------------------------------------------------------- authorization


class _AuthorizeError(Exception):
    """An authorization request we must not redirect back (shown as a 400 page)."""


def _with_query(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


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


def _parse_authorization_request(params: Mapping[str, str]) -> dict[str, Any]:
    """Validate an authorization request (query or re-posted form); raise _AuthorizeError."""
    client_id = params.get("client_id", "")
    if not client_id or not hmac.compare_digest(client_id, setting("WHOP_CLIENT_ID")):
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


def _render_authorize(
    auth: dict[str, Any], status: int = 200, errors: dict[str, str] | None = None, form: Mapping[str, str] | None = None
) -> tuple[str, int]:
    return (
        render_template(
            "whop/authorize.html",
            auth=auth,
            users=store.list_users(store.db()),
            errors=errors or {},
            form=form or {},
        ),
        status,
    )


@bp.get("/oauth/authorize")
def authorize() -> tuple[str, int]:
    try:
        auth = _parse_authorization_request(request.args)
    except _AuthorizeError as exc:
        return error_page("Invalid authorization request", str(exc), 400)
    return _render_authorize(auth)


@bp.post("/oauth/authorize")
def authorize_decide() -> BaseResponse | tuple[str, int]:
    try:
        auth = _parse_authorization_request(request.form)
    except _AuthorizeError as exc:
        return error_page("Invalid authorization request", str(exc), 400)

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

    conn = store.db()
    account = request.form.get("account", "")
    if account == "new":
        user, errors = store.create_user(
            request.form.get("username", ""), request.form.get("name", ""), request.form.get("email", "")
        )
        if errors:
            return _render_authorize(auth, 400, errors, request.form)
        user_id = user["id"]
    else:
        row = store.get_user(conn, account)
        if row is None:
            return _render_authorize(auth, 400, {"account": "Pick a user or create one."}, request.form)
        user_id = row["id"]

    code = secrets.token_urlsafe(32)
    with transaction(conn):
        conn.execute(
            "INSERT INTO whop_auth_codes (code, grant_id, client_id, user_id, redirect_uri, scope,"
            " nonce, code_challenge, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                code,
                store.new_id("grant", 20),
                auth["client_id"],
                user_id,
                auth["redirect_uri"],
                auth["scope"],
                auth["nonce"],
                auth["code_challenge"],
                store.now() + AUTH_CODE_TTL,
            ),
        )
    return redirect(_with_query(auth["redirect_uri"], {"code": code, "state": auth["state"]}), 302)


# --------------------------------------------------------------------------- tokens


def _oauth_error(error: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
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
    valid = hmac.compare_digest(client_id.encode(), setting("WHOP_CLIENT_ID").encode()) and hmac.compare_digest(
        secret.encode(), setting("WHOP_CLIENT_SECRET").encode()
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
    grant: sqlite3.Row,
    client_id: str,
    scope: str,
    *,
    nonce: str | None = None,
    with_id_token: bool = False,
) -> dict[str, Any]:
    """Store a new access + refresh token pair for the user of `grant` (the authorization code
    or refresh token they descend from, by its grant_id), within `scope`. The caller holds the
    transaction."""
    now = store.now()
    user_id = grant["user_id"]
    access_token = "whop_at_" + secrets.token_urlsafe(32)
    refresh_token = "whop_rt_" + secrets.token_urlsafe(32)
    for table, token, ttl in (
        ("whop_access_tokens", access_token, ACCESS_TOKEN_TTL),
        ("whop_refresh_tokens", refresh_token, REFRESH_TOKEN_TTL),
    ):
        conn.execute(
            f"INSERT INTO {table} (token, grant_id, client_id, user_id, scope, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (token, grant["grant_id"], client_id, user_id, scope, now + ttl),
        )
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL,
        "refresh_token": refresh_token,
        "scope": scope,
    }
    if with_id_token and "openid" in scope.split():
        claims = {
            "iss": issuer(),
            "sub": user_id,
            "aud": client_id,
            "iat": now,
            "exp": now + ID_TOKEN_TTL,
            "auth_time": now,
        }
        if nonce:
            claims["nonce"] = nonce
        body["id_token"] = sign(claims)
    return body


def _revoke_grant(conn: sqlite3.Connection, grant_id: str) -> None:
    now = store.now()
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
    conn = store.db()
    now = store.now()
    failure: str | None = None
    with transaction(conn):
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
            body = _token_response(conn, row, client_id, row["scope"], nonce=row["nonce"], with_id_token=True)
    if failure is not None:
        return _oauth_error("invalid_grant", failure)
    return _no_store(jsonify(body))


def _refresh(client_id: str) -> Response:
    token = request.form.get("refresh_token")
    if not token:
        return _oauth_error("invalid_request", "refresh_token is required.")
    conn = store.db()
    now = store.now()
    failure: tuple[str, str] | None = None
    with transaction(conn):
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
            body = _token_response(conn, row, client_id, scope)
    if failure is not None:
        return _oauth_error(*failure)
    return _no_store(jsonify(body))


@bp.post("/oauth/token")
def token() -> Response:
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


# --------------------------------------------------------------------------- OpenID Connect


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    scheme, _, access_token = request.headers.get("Authorization", "").partition(" ")
    challenge = 'Bearer realm="whop-sandbox", error="invalid_token"'
    if scheme.lower() != "bearer" or not access_token:
        return _oauth_error("invalid_token", "Bearer access token required.", 401, {"WWW-Authenticate": challenge})
    row = (
        store.db()
        .execute(
            "SELECT t.scope, u.* FROM whop_access_tokens t JOIN whop_users u ON u.id = t.user_id"
            " WHERE t.token = ? AND t.revoked_at IS NULL AND t.expires_at > ?",
            (access_token.strip(), store.now()),
        )
        .fetchone()
    )
    if row is None:
        return _oauth_error(
            "invalid_token", "Access token is invalid or expired.", 401, {"WWW-Authenticate": challenge}
        )
    scopes = row["scope"].split()
    claims: dict[str, Any] = {"sub": row["id"]}
    if "profile" in scopes:
        claims["preferred_username"] = row["username"]
        claims["name"] = row["name"]
        claims["picture"] = setting("SANDBOX_PUBLIC_URL").rstrip("/") + url_for("whop_pages.avatar", user_id=row["id"])
    if "email" in scopes:
        claims["email"] = row["email"]
        claims["email_verified"] = True
    return _no_store(jsonify(claims))


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    base = issuer()
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
