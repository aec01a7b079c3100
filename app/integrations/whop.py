"""Whop, seen from Tradepost: OAuth client settings, iframe user tokens, webhooks.

Three pieces, each usable without a Flask app context:

* ``oauth_client_kwargs(api_base)`` — the Authlib registration parameters for
  "Continue with Whop" (authorization code + PKCE S256, OpenID Connect).
* ``verify_user_token(token, app_id=..., jwks_url=...)`` — checks the
  ``x-whop-user-token`` JWT that Whop's proxy adds to iframe requests.
* ``unwrap_webhook(body, headers, secret)`` — verifies a Standard Webhooks
  delivery from Whop and returns the parsed event.

In production ``api_base`` is ``https://api.whop.com``; locally it is the sandbox
emulator (``SANDBOX_PUBLIC_URL + "/whop"``), which speaks the same protocol.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from typing import Any

import jwt
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.errors import ServiceError

USER_TOKEN_HEADER = "x-whop-user-token"
USER_TOKEN_ISSUER = "urn:whopcom:exp-proxy"
USER_TOKEN_ALGORITHM = "ES256"
OAUTH_SCOPE = "openid profile email"

# One PyJWKClient per JWKS URL for the whole process: it caches the key set
# (5 min) and refetches once when a token names a kid it has not seen.
_jwks_clients: dict[str, jwt.PyJWKClient] = {}
_jwks_clients_lock = threading.Lock()


class WhopTokenError(ServiceError):
    """An ``x-whop-user-token`` was missing, malformed, expired or not for us (401)."""

    def __init__(self, reason: str):
        super().__init__(401, "unauthorized", reason)
        self.reason = reason


class WhopWebhookError(ServiceError):
    """A Whop webhook delivery failed signature or payload checks (401)."""

    def __init__(self, message: str):
        super().__init__(401, "bad_signature", message)


def oauth_client_kwargs(api_base: str, *, issuer: str | None = None, jwks_uri: str | None = None) -> dict[str, Any]:
    """Return Authlib ``oauth.register(...)`` parameters for Whop at ``api_base``.

    Pass client_id and client_secret next to these. ``issuer`` and ``jwks_uri``
    default to ``api_base`` and its ``/.well-known/jwks.json``; Authlib uses them
    to verify the OpenID Connect ``id_token`` (signature, ``iss``, ``aud``,
    ``nonce``).
    """
    base = api_base.rstrip("/")
    return {
        "authorize_url": f"{base}/oauth/authorize",
        "access_token_url": f"{base}/oauth/token",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "jwks_uri": jwks_uri or f"{base}/.well-known/jwks.json",
        "issuer": issuer or base,
        "client_kwargs": {"scope": OAUTH_SCOPE, "code_challenge_method": "S256"},
    }


def _jwks_client(jwks_url: str) -> jwt.PyJWKClient:
    client = _jwks_clients.get(jwks_url)
    if client is None:
        with _jwks_clients_lock:
            client = _jwks_clients.get(jwks_url)
            if client is None:
                client = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=300, timeout=5)
                _jwks_clients[jwks_url] = client
    return client


# What a user token's failure says, first match wins (subclasses before their bases).
_KEY_ERRORS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.PyJWKClientConnectionError, "signing keys unavailable"),
    (jwt.PyJWKClientError, "unknown signing key"),
)
_CLAIM_ERRORS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.InvalidAudienceError, "token is for another app"),
    (jwt.InvalidIssuerError, "unexpected issuer"),
    (jwt.InvalidSignatureError, "bad signature"),
)


def _token_error(exc: jwt.PyJWTError, reasons: tuple[tuple[type[jwt.PyJWTError], str], ...], default: str) -> str:
    return next((reason for kind, reason in reasons if isinstance(exc, kind)), default)


def verify_user_token(token: str | None, *, app_id: str, jwks_url: str, leeway: int = 10) -> dict[str, Any]:
    """Verify a Whop ``x-whop-user-token`` and return its claims.

    Accepts only ES256 tokens issued by ``urn:whopcom:exp-proxy`` for ``app_id``,
    signed by a key published at ``jwks_url``, with ``exp`` and a ``user_…``
    ``sub``. Any failure raises ``WhopTokenError`` with a short reason.
    """
    if not token:
        raise WhopTokenError("missing token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise WhopTokenError("malformed token") from exc
    if header.get("alg") != USER_TOKEN_ALGORITHM:
        raise WhopTokenError("unexpected algorithm")
    kid = header.get("kid")
    if not kid or not isinstance(kid, str):
        raise WhopTokenError("token has no key id")

    try:
        signing_key = _jwks_client(jwks_url).get_signing_key(kid)
    except jwt.PyJWTError as exc:
        raise WhopTokenError(_token_error(exc, _KEY_ERRORS, "invalid signing keys")) from exc

    try:
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=[USER_TOKEN_ALGORITHM],
            audience=app_id,
            issuer=USER_TOKEN_ISSUER,
            leeway=leeway,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.MissingRequiredClaimError as exc:
        raise WhopTokenError(f"missing claim {exc.claim}") from exc
    except jwt.PyJWTError as exc:
        raise WhopTokenError(_token_error(exc, _CLAIM_ERRORS, "invalid token")) from exc

    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith("user_"):
        raise WhopTokenError("subject is not a Whop user")
    return claims


def webhook_signing_key(secret: str) -> str:
    """Return the Standard Webhooks key for a Whop ``ws_…`` secret.

    Whop signs with the secret's own bytes, so it is base64-encoded before it is
    handed to ``standardwebhooks.Webhook`` (which base64-decodes its key).
    """
    return base64.b64encode(secret.encode()).decode()


def unwrap_webhook(body: bytes, headers: Mapping[str, str], secret: str) -> dict[str, Any]:
    """Verify a Whop webhook (Standard Webhooks) and return the event as a dict.

    ``body`` must be the raw request body; ``headers`` any mapping holding
    ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``. Raises
    ``WhopWebhookError`` for a bad or stale signature or a non-object payload.
    """
    if not secret:
        raise WhopWebhookError("no webhook secret configured")
    plain_headers = {str(key).lower(): str(value) for key, value in headers.items()}
    try:
        Webhook(webhook_signing_key(secret)).verify(body, plain_headers, json_parse=False)
    except (WebhookVerificationError, ValueError) as exc:
        raise WhopWebhookError(f"invalid signature: {exc}") from exc
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WhopWebhookError("payload is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise WhopWebhookError("payload is not a Whop event")
    return event
