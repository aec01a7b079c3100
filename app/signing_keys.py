"""Reading private keys from configuration text: the Ed25519 key of the license API
(LICENSE_SIGNING_KEY) and the EC P-256 keys of app user tokens (APP_TOKEN_SIGNING_KEYS).

Shared by app/config.py (production refuses a key it cannot read) and the signers
(services/licensing/signing.py, services/user_tokens.py), so the configuration imports no service.
"""

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePrivateKey
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


def parse_ec_signing_keys(value: str) -> list[EllipticCurvePrivateKey]:
    """The EC P-256 private keys in `value` (APP_TOKEN_SIGNING_KEYS), newest first: one or more
    PEM blocks (PKCS#8 or SEC1), or base64 of PKCS#8 DER, comma-separated.

    Raises SigningKeyInvalid when a key is of another kind or curve, or there is none.
    """
    text = value.strip()
    if text.startswith("-----BEGIN"):
        blocks = ["-----BEGIN" + block for block in text.split("-----BEGIN") if block.strip()]
        keys = [serialization.load_pem_private_key(block.strip().encode(), password=None) for block in blocks]
    else:
        try:
            ders = [base64.b64decode(part.strip(), validate=True) for part in text.split(",") if part.strip()]
        except ValueError:
            raise SigningKeyInvalid("APP_TOKEN_SIGNING_KEYS must be PEM or base64 of PKCS#8 DER") from None
        keys = [serialization.load_der_private_key(der, password=None) for der in ders]
    ec_keys = [key for key in keys if isinstance(key, EllipticCurvePrivateKey) and isinstance(key.curve, SECP256R1)]
    if not keys or len(ec_keys) != len(keys):
        raise SigningKeyInvalid("APP_TOKEN_SIGNING_KEYS must hold EC P-256 private keys")
    return ec_keys
