"""Encryption of the secrets we store: Whop refresh tokens, license keys, webhook signing secrets.

One `MultiFernet` over the keys in `ENCRYPTION_KEYS` (comma-separated Fernet keys, newest
first): `encrypt` uses the newest, `decrypt` accepts any. To rotate, put a new key first,
deploy, run `flask crypto rotate` (every stored value is re-encrypted with the newest key),
then drop the old key.

Values stored before `ENCRYPTION_KEYS` existed were encrypted with keys derived from
`SECRET_KEY`, one per kind of secret (or with `WHOP_TOKEN_KEY` for Whop tokens, when it was
set). Those keys stay at the end of the list, for decryption only, so such values still open;
`flask crypto rotate` rewrites them with the newest key.
"""

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select, update

from app.extensions import db

# Every column that holds a value from `encrypt`: `flask crypto rotate` re-encrypts them all.
ENCRYPTED_COLUMNS = {
    "licenses": ("key_encrypted",),
    "webhook_endpoints": ("secret_encrypted", "previous_secret_encrypted"),
    "whop_identities": ("refresh_token_encrypted",),
    "apps": ("webhook_secret_encrypted",),
    "app_installations": ("api_key_encrypted",),
}


class DecryptionError(RuntimeError):
    """A stored value that none of the configured keys opens."""


def parse_keys(value):
    """`ENCRYPTION_KEYS` as a list, newest first: comma-separated, blanks ignored."""
    return [key.strip() for key in (value or "").split(",") if key.strip()]


def fernet_key_problem(name, value, many=True):
    """Why the setting `name` is not a Fernet key (`many`: a list of them), or None."""
    keys = parse_keys(value) if many else [value]
    if not keys:
        return f"{name} has no key"
    for key in keys:
        try:
            Fernet(key)
            exact = base64.urlsafe_b64encode(base64.urlsafe_b64decode(key)).decode() == key
        except (ValueError, TypeError):
            exact = False
        if not exact:
            return f"{name} is not a Fernet key (urlsafe base64 of 32 bytes)"
    return None


def _derived_key(secret_key, salt):
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"fernet").derive(secret_key.encode())
    return base64.urlsafe_b64encode(derived)


def legacy_keys(secret_key, whop_token_key=None):
    """The keys values were encrypted with before ENCRYPTION_KEYS: Whop tokens, license keys,
    webhook secrets. Used to decrypt only."""
    whop = whop_token_key or base64.urlsafe_b64encode(
        hashlib.sha256(b"tradepost:whop-token-key:" + secret_key.encode()).digest()
    )
    return [
        whop,
        _derived_key(secret_key, b"tradepost-license-keys"),
        _derived_key(secret_key, b"tradepost-webhook-secrets"),
    ]


@functools.lru_cache(maxsize=8)
def _keyring(keys, secret_key, whop_token_key):
    problem = fernet_key_problem("ENCRYPTION_KEYS", ",".join(keys))
    if problem:
        raise ValueError(problem)
    newest = [Fernet(key) for key in keys]
    return newest[0], MultiFernet(newest + [Fernet(key) for key in legacy_keys(secret_key, whop_token_key)])


def _keys():
    config = current_app.config
    return _keyring(tuple(parse_keys(config["ENCRYPTION_KEYS"])), config["SECRET_KEY"], config.get("WHOP_TOKEN_KEY"))


def encrypt(text):
    """Fernet token of `text` under the newest key."""
    return _keys()[1].encrypt(text.encode()).decode()


def decrypt(token):
    """The text inside `token`; DecryptionError when no configured key opens it."""
    try:
        return _keys()[1].decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "a stored secret opens with none of the keys in ENCRYPTION_KEYS (was the key "
            "it was encrypted with removed, or SECRET_KEY changed?)"
        ) from None


def is_current(token):
    """True when `token` was encrypted with the newest key."""
    try:
        _keys()[0].decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate_stored_secrets():
    """Re-encrypt every stored secret that is not under the newest key yet. Returns
    ({"table.column": count re-encrypted}, ["table.column id N", ...] that no key opens).

    Rows are left otherwise untouched (`updated_at` keeps its value); a value changed by
    someone else meanwhile is skipped, being already under the newest key. Flushed, never
    committed.
    """
    _, keyring = _keys()
    rotated, unreadable = {}, []
    for table_name, columns in ENCRYPTED_COLUMNS.items():
        table = db.metadata.tables[table_name]
        keep = {column.name: column for column in table.columns if column.onupdate is not None}
        for column_name in columns:
            column = table.c[column_name]
            rows = db.session.execute(select(table.c.id, column).where(column.is_not(None)).order_by(table.c.id))
            count = 0
            for row_id, token in rows.all():
                if is_current(token):
                    continue
                try:
                    fresh = keyring.rotate(token.encode()).decode()
                except InvalidToken:
                    unreadable.append(f"{table_name}.{column_name} id {row_id}")
                    continue
                db.session.execute(
                    update(table).where(table.c.id == row_id, column == token).values({column_name: fresh, **keep})
                )
                count += 1
            rotated[f"{table_name}.{column_name}"] = count
    db.session.flush()
    return rotated, unreadable
