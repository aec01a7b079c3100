"""The emulator's ES256 signing keys and what they sign: ``x-whop-user-token`` JWTs as Whop's
iframe proxy sends them (minted in code with ``mint_user_token``, on the ``/whop/tokens`` page,
or with ``flask sandbox whop mint-token``), OAuth id tokens (``sign``), and the JWKS at
``/whop/.well-known/jwks.json`` that publishes the public keys."""

from __future__ import annotations

import sqlite3
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Blueprint, Response, jsonify, render_template, request
from jwt.algorithms import ECAlgorithm

from app.sandbox.sqlite import transaction
from app.sandbox.whop import store
from app.sandbox.whop.web import json_error, setting

bp = Blueprint("whop_tokens", __name__, url_prefix="/whop", template_folder="templates")

USER_TOKEN_ISSUER = "urn:whopcom:exp-proxy"
USER_TOKEN_HEADER = "x-whop-user-token"
MAX_USER_TOKEN_TTL = 24 * 3600


def signing_keys(conn: sqlite3.Connection) -> list[sqlite3.Row]:
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
    with transaction(conn):
        # Another process may have generated the key since our first SELECT.
        if conn.execute("SELECT 1 FROM whop_signing_keys").fetchone() is None:
            conn.execute(
                "INSERT INTO whop_signing_keys (kid, private_pem, created_at) VALUES (?, ?, ?)",
                (store.new_id("whopsbx", 16), pem, store.now()),
            )
    return conn.execute("SELECT * FROM whop_signing_keys ORDER BY created_at DESC, rowid DESC").fetchall()


def sign(claims: dict[str, Any]) -> str:
    """A JWT of ``claims`` signed ES256 with the newest key (its ``kid`` in the header)."""
    row = signing_keys(store.db())[0]
    key = serialization.load_pem_private_key(row["private_pem"].encode(), password=None)
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": row["kid"], "typ": "JWT"})


def mint_user_token(user_id: str, app_id: str | None = None, ttl: int = 300) -> str:
    """Return an ``x-whop-user-token`` for ``user_id`` as Whop's proxy would send it.

    ES256, header ``kid`` from the sandbox JWKS, claims ``iss`` =
    ``urn:whopcom:exp-proxy``, ``sub`` = user id, ``aud`` = ``app_id`` (default
    ``WHOP_APP_ID``), ``iat`` and ``exp`` = now + ``ttl`` seconds (a negative ttl
    yields an already-expired token, for tests). Needs an app context.
    """
    if not store.USER_ID_RE.match(user_id or ""):
        raise ValueError("user_id must look like user_XXXX")
    now = store.now()
    return sign(
        {
            "iss": USER_TOKEN_ISSUER,
            "sub": user_id,
            "aud": app_id or setting("WHOP_APP_ID"),
            "iat": now,
            "exp": now + int(ttl),
        }
    )


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    keys = []
    for row in signing_keys(store.db()):
        public_key = serialization.load_pem_private_key(row["private_pem"].encode(), password=None).public_key()
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
        keys.append({**jwk, "kid": row["kid"], "use": "sig", "alg": "ES256"})
    response = jsonify({"keys": keys})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/tokens")
def tokens() -> str:
    return render_template(
        "whop/tokens.html",
        users=store.list_users(store.db()),
        form={"app_id": setting("WHOP_APP_ID"), "experience_id": request.args.get("experience_id", "")},
        token=None,
        claims=None,
        error=None,
    )


@bp.post("/tokens")
def mint() -> Response | tuple[str, int]:
    data = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):
        return json_error(400, "invalid_body", "Send a JSON object.")
    user_id = (data.get("user_id") or data.get("user") or "").strip()
    app_id = (data.get("app_id") or "").strip() or setting("WHOP_APP_ID")
    error = None
    try:
        ttl = int(data.get("ttl") or 300)
    except (TypeError, ValueError):
        ttl, error = 300, ("ttl", "ttl must be a whole number of seconds.")
    if not error and not 1 <= ttl <= MAX_USER_TOKEN_TTL:
        error = ("ttl", f"ttl must be between 1 and {MAX_USER_TOKEN_TTL} seconds.")
    if not error and not store.USER_ID_RE.match(user_id):
        error = ("user_id", "user_id must look like user_XXXX.")
    if request.is_json:
        if error:
            return json_error(422, "invalid_" + error[0], error[1])
        return jsonify({"token": mint_user_token(user_id, app_id, ttl)})
    token_value = None if error else mint_user_token(user_id, app_id, ttl)
    return (
        render_template(
            "whop/tokens.html",
            users=store.list_users(store.db()),
            form={**data, "user_id": user_id, "app_id": app_id},
            token=token_value,
            claims=jwt.decode(token_value, options={"verify_signature": False}) if token_value else None,
            error=error[1] if error else None,
        ),
        422 if error else 200,
    )
