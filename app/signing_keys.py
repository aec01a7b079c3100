"""Reading an Ed25519 private key from configuration text (LICENSE_SIGNING_KEY).

Shared by app/config.py (production refuses a key it cannot read) and the license API's
signer (services/licensing/signing.py), so the configuration imports no service.
"""

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class SigningKeyInvalid(ValueError):
    """The text is not an Ed25519 private key we can read; the message says what is expected."""


def parse_signing_key(value: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in `value`: PEM (PKCS#8), or base64 of a 32-byte seed.

    Raises SigningKeyInvalid for base64 that is not a seed and for PEM of another kind of key
    (unreadable PEM raises the ValueError `cryptography` raises).
    """
    text = value.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyInvalid("LICENSE_SIGNING_KEY must be an Ed25519 private key")
        return key
    try:
        seed = base64.b64decode(text, validate=True)
    except ValueError:
        raise SigningKeyInvalid("LICENSE_SIGNING_KEY must be PEM or base64 of a 32-byte seed") from None
    if len(seed) != 32:
        raise SigningKeyInvalid("LICENSE_SIGNING_KEY must be PEM or base64 of a 32-byte seed")
    return Ed25519PrivateKey.from_private_bytes(seed)
