"""The user tokens Tradepost gives embedded apps, like Whop's `x-whop-user-token`, and the JWKS
that verifies them.

A token is an ES256 JWT: header `kid` (the RFC 7638 thumbprint of the signing key), claims
`iss` (APP_BASE_URL), `sub` (the user's id, as a string), `aud` (the app's public id), `iat`,
`exp` (TOKEN_LIFETIME later), `company_id` (the installing company's id, as a string), `name`
(the user's display name) and `view` ("dashboard" or "experience"; experience tokens also
carry `product_id`). Keys: APP_TOKEN_SIGNING_KEYS, newest first; the newest signs, all are
published at /.well-known/jwks.json (public parts only), so a token signed just before a
rotation still verifies. Unset: a key generated once under instance/ in development, one per
process in tests; production refuses to start without it (app/config.py).
"""

import base64
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from flask import current_app

from app.clock import now
from app.config import ConfigError
from app.models import App, Company, User
from app.signing_keys import SigningKeyInvalid, parse_ec_signing_keys

TOKEN_LIFETIME = timedelta(minutes=5)
ALGORITHM = "ES256"
KEY_FILE = "app_token_signing_key.pem"
# The query parameter of the frame URL and the header of proxied requests carrying the token.
QUERY_PARAMETER = "tradepost_user_token"
HEADER = "x-tradepost-user-token"


@dataclass(frozen=True)
class TokenKey:
    kid: str
    private: EllipticCurvePrivateKey
    jwk: dict[str, str]


_keys: dict[str, list[TokenKey]] = {}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private: EllipticCurvePrivateKey) -> dict[str, str]:
    """The public half of `private` as a JWK with its `kid` (RFC 7638 thumbprint), `use`, `alg`."""
    numbers = private.public_key().public_numbers()
    members = {"crv": "P-256", "kty": "EC", "x": _b64url(numbers.x.to_bytes(32, "big"))}
    members["y"] = _b64url(numbers.y.to_bytes(32, "big"))
    thumbprint = hashlib.sha256(json.dumps(members, sort_keys=True, separators=(",", ":")).encode()).digest()
    return {**members, "kid": _b64url(thumbprint), "use": "sig", "alg": ALGORITHM}


def new_private_key_pem() -> str:
    """A fresh EC P-256 private key as PKCS#8 PEM (a value for APP_TOKEN_SIGNING_KEYS)."""
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


def _instance_key_pem() -> str:
    """Development: one key generated on first use and kept under instance/ (never committed)."""
    path = os.path.join(current_app.instance_path, KEY_FILE)
    if not os.path.exists(path):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(new_private_key_pem())
    with open(path, encoding="ascii") as handle:
        return handle.read()


@functools.cache
def _process_key_pem() -> str:
    """Tests: one key per process (every test app of the process signs with it)."""
    return new_private_key_pem()


def _configured_text() -> str:
    """APP_TOKEN_SIGNING_KEYS, or the key development and tests use when it is unset."""
    configured = current_app.config.get("APP_TOKEN_SIGNING_KEYS")
    if configured:
        return configured
    env = current_app.config.get("ENV_NAME")
    if env == "development":
        return _instance_key_pem()
    if env == "test":
        return _process_key_pem()
    raise ConfigError("apps need APP_TOKEN_SIGNING_KEYS set in production")


def signing_keys() -> list[TokenKey]:
    """The keys, newest first, parsed once per process and configuration.

    Raises ConfigError when APP_TOKEN_SIGNING_KEYS cannot be read, or is unset in production.
    """
    text = _configured_text()
    if text not in _keys:
        try:
            privates = parse_ec_signing_keys(text)
        except (SigningKeyInvalid, ValueError) as exc:
            raise ConfigError(f"APP_TOKEN_SIGNING_KEYS cannot be read: {exc}") from None
        _keys[text] = [
            TokenKey(kid=jwk["kid"], private=key, jwk=jwk) for key, jwk in ((k, public_jwk(k)) for k in privates)
        ]
    return _keys[text]


def jwks() -> dict[str, Any]:
    """The JSON Web Key Set of every configured key (public parts only)."""
    return {"keys": [key.jwk for key in signing_keys()]}


def issuer() -> str:
    """The `iss` of our tokens: Tradepost's public base URL."""
    return current_app.config["APP_BASE_URL"].rstrip("/")


def issue_user_token(
    user: User,
    app: App,
    company: Company,
    *,
    view: str,
    product_id: int | None = None,
    lifetime: timedelta = TOKEN_LIFETIME,
) -> str:
    """A signed token telling `app` that `user` is looking at it, for `company`'s installation
    (the newest key signs; it expires `lifetime` from now: TOKEN_LIFETIME for a frame URL,
    shorter for one proxied request)."""
    key = signing_keys()[0]
    issued = now()
    claims: dict[str, Any] = {
        "iss": issuer(),
        "sub": str(user.id),
        "aud": app.public_id,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
        "company_id": str(company.id),
        "name": user.display_name,
        "view": view,
    }
    if product_id is not None:
        claims["product_id"] = str(product_id)
    return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})


def verify_user_token(token: str, audience: str) -> dict[str, Any]:
    """The claims of `token` if one of our current keys signed it for `audience` and it has
    not expired (raises jwt.InvalidTokenError otherwise). Apps do this with the JWKS; this is
    the same check in-process, for tests and operators."""
    header = jwt.get_unverified_header(token)
    for key in signing_keys():
        if key.kid == header.get("kid"):
            return jwt.decode(
                token,
                key.private.public_key(),
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=issuer(),
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
    raise jwt.InvalidTokenError("unknown kid")
