"""License key strings: generating, normalising what a person typed, hashing, and keeping the
key readable to its buyer and seller (encrypted by app/crypto.py)."""

import hashlib
import secrets

from app.crypto import DecryptionError, decrypt
from app.models import License

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KEY_CHARS = 30
GROUP = 5
_TYPO_FIXES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", "- _")


def generate_key(prefix: str = "TP", key_format: str = "grouped") -> str:
    """A fresh key: prefix + 30 Crockford base32 characters (150 random bits)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(KEY_CHARS))
    if key_format == "compact":
        return f"{prefix}-{body}"
    return prefix + "".join(f"-{body[i : i + GROUP]}" for i in range(0, KEY_CHARS, GROUP))


def _canonical(text: str) -> str:
    return text.strip().upper().translate(_SEPARATORS).translate(_TYPO_FIXES)


def normalise_key(raw: object) -> str | None:
    """The canonical form of a typed key (or None when it cannot be one)."""
    if not isinstance(raw, str) or len(raw) > 128:
        return None
    text = _canonical(raw)
    if not KEY_CHARS < len(text) <= KEY_CHARS + 6 or not text.isascii() or not text.isalnum():
        return None
    return text


def hash_key(raw: object) -> str | None:
    """sha256 hex of the normalised key; None for strings that cannot be keys."""
    normalised = normalise_key(raw)
    return hashlib.sha256(normalised.encode()).hexdigest() if normalised else None


def key_hint(key: str) -> str:
    """The last GROUP characters of a key, as typed or generated (case, dashes and typos
    forgiven): what `License.key_hint` stores and the seller's search matches."""
    return _canonical(key)[-GROUP:]


def license_key(license: License) -> str:
    """The plain key of `license`, for its buyer's and seller's pages."""
    try:
        return decrypt(license.key_encrypted)
    except DecryptionError as exc:
        raise DecryptionError(f"license {license.id}: {exc}") from None
