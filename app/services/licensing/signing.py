"""The Ed25519 key that signs every answer of the license API, and the signing itself.

LICENSE_SIGNING_KEY (PEM, or base64 of a 32-byte seed) in production; unset, a key generated
once under instance/ in development and one per process in tests. Loaded once per process.
"""

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

from app.config import ConfigError
from app.signing_keys import SigningKeyInvalid, parse_signing_key

SIGNING_KEY_FILE = "license_signing_key.pem"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    public_pem: str
    public_raw_b64: str


_signing_keys: dict[str, SigningKey] = {}


def _parse(value: str) -> Ed25519PrivateKey:
    try:
        return parse_signing_key(value)
    except SigningKeyInvalid as exc:
        raise ConfigError(str(exc)) from None


def _instance_signing_key() -> Ed25519PrivateKey:
    """Development: one key generated on first use and kept under instance/ (never committed)."""
    path = os.path.join(current_app.instance_path, SIGNING_KEY_FILE)
    if not os.path.exists(path):
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
    with open(path, encoding="ascii") as handle:
        return _parse(handle.read())


def signing_key() -> SigningKey:
    """The process-wide Ed25519 key that signs API answers (loaded once per process).

    Raises ConfigError when LICENSE_SIGNING_KEY cannot be read, or is unset in production.
    """
    configured = current_app.config.get("LICENSE_SIGNING_KEY")
    env = current_app.config.get("ENV_NAME")
    source = configured or f"{env}:{current_app.instance_path}"
    cached = _signing_keys.get(source)
    if cached is not None:
        return cached
    if configured:
        private = _parse(configured)
    elif env == "development":
        private = _instance_signing_key()
    elif env == "test":
        private = Ed25519PrivateKey.generate()
    else:
        raise ConfigError("the license API needs LICENSE_SIGNING_KEY set in production")
    public = private.public_key()
    cached = _signing_keys[source] = SigningKey(
        private=private,
        public_pem=public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        public_raw_b64=base64.b64encode(
            public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ).decode(),
    )
    return cached


def signature_of(data: bytes) -> str:
    """Base64 of the Ed25519 signature of `data`."""
    return base64.b64encode(signing_key().private.sign(data)).decode()


def sign_body(body: bytes) -> str:
    """The `Tradepost-Signature` header value for the exact response bytes `body`."""
    return "ed25519 " + signature_of(body)


def canonical_json(payload: Any) -> bytes:
    """`payload` as the bytes we sign: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
