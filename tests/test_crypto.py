"""Stored secrets (license keys, webhook signing secrets, Whop refresh tokens) are encrypted by
app/crypto.py under ENCRYPTION_KEYS, newest first: keys can be added, values re-encrypted with
`flask crypto rotate`, and old keys removed; values from before ENCRYPTION_KEYS still open."""

import base64
import hashlib

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select

from app import crypto
from app.models import License, WebhookEndpoint, WhopIdentity
from app.services.licensing.license_keys import license_key
from app.services.outbound import endpoints, signing
from app.services.whop_accounts import decrypt_token, encrypt_token
from tests.factories import PASSWORD, make_licensed_shop
from tests.forms import post_form

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
FIXED_KEY = base64.urlsafe_b64encode(b"fixed-test-key-of-32-bytes-long!").decode()


@pytest.fixture
def keys(app, monkeypatch):
    """keys("NEW,OLD") sets ENCRYPTION_KEYS for the rest of the test."""
    return lambda value: monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", value)


@pytest.fixture
def secrets_under_old_key(app, db, keys, monkeypatch):
    """A license key, a webhook endpoint's secrets and a Whop refresh token, encrypted with OLD."""
    keys(OLD)
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS", True)
    shop = make_licensed_shop()
    endpoint = endpoints.create_endpoint(shop["company"], "http://127.0.0.1:9/hook")
    endpoints.rotate_endpoint_secret(endpoint)
    identity = WhopIdentity(
        user_id=shop["buyer"].id,
        whop_user_id="user_rotating",
        created_via="oauth",
        refresh_token_encrypted=encrypt_token("whop_rt_kept"),
    )
    db.session.add(identity)
    db.session.commit()
    return {
        "shop": shop,
        "endpoint": endpoint,
        "identity": identity,
        "signing": signing.signing_secrets(endpoint),
        "stored": stored_values(db),
    }


def stored_values(db):
    return {
        "license": db.session.scalar(select(License.key_encrypted)),
        "endpoint": db.session.execute(
            select(WebhookEndpoint.secret_encrypted, WebhookEndpoint.previous_secret_encrypted)
        ).one(),
        "whop": db.session.scalar(select(WhopIdentity.refresh_token_encrypted)),
    }


def run_rotate(app):
    return app.test_cli_runner().invoke(args=["crypto", "rotate"])


def test_values_under_an_old_key_open_after_a_new_key_is_added(db, keys, secrets_under_old_key):
    old = secrets_under_old_key
    keys(f"{NEW},{OLD}")
    db.session.expire_all()
    assert license_key(db.session.get(License, old["shop"]["license"].id)) == old["shop"]["key"]
    assert signing.signing_secrets(db.session.get(WebhookEndpoint, old["endpoint"].id)) == old["signing"]
    assert decrypt_token(db.session.get(WhopIdentity, old["identity"].id).refresh_token_encrypted) == "whop_rt_kept"
    fresh = crypto.encrypt("new value")
    assert crypto.is_current(fresh) and not crypto.is_current(old["stored"]["license"])
    assert Fernet(NEW).decrypt(fresh.encode()) == b"new value"


def test_rotate_re_encrypts_every_stored_secret_with_the_newest_key(app, db, keys, secrets_under_old_key):
    old = secrets_under_old_key
    updated_at = db.session.scalar(select(License.updated_at))
    keys(f"{NEW},{OLD}")
    result = run_rotate(app)
    assert result.exit_code == 0, result.output
    assert "licenses.key_encrypted: 1 re-encrypted" in result.output
    assert "webhook_endpoints.secret_encrypted: 1 re-encrypted" in result.output
    assert "webhook_endpoints.previous_secret_encrypted: 1 re-encrypted" in result.output
    assert "whop_identities.refresh_token_encrypted: 1 re-encrypted" in result.output

    db.session.expire_all()
    now_stored = stored_values(db)
    assert now_stored["license"] != old["stored"]["license"]
    assert all(
        crypto.is_current(value) for value in (now_stored["license"], *now_stored["endpoint"], now_stored["whop"])
    )
    assert db.session.scalar(select(License.updated_at)) == updated_at  # a re-encryption is not an edit

    keys(NEW)  # the old key can go now
    assert license_key(db.session.get(License, old["shop"]["license"].id)) == old["shop"]["key"]
    assert signing.signing_secrets(db.session.get(WebhookEndpoint, old["endpoint"].id)) == old["signing"]
    assert decrypt_token(now_stored["whop"]) == "whop_rt_kept"

    again = run_rotate(app)
    assert again.exit_code == 0 and "licenses.key_encrypted: 0 re-encrypted" in again.output
    db.session.expire_all()
    assert stored_values(db) == now_stored


def test_a_removed_key_fails_clearly(app, db, client, keys, secrets_under_old_key):
    old = secrets_under_old_key
    keys(NEW)
    with pytest.raises(crypto.DecryptionError, match="none of the keys in ENCRYPTION_KEYS"):
        crypto.decrypt(old["stored"]["license"])
    with pytest.raises(crypto.DecryptionError, match=f"license {old['shop']['license'].id}: "):
        license_key(db.session.get(License, old["shop"]["license"].id))
    assert decrypt_token(old["stored"]["whop"]) is None  # a Whop token that no longer opens is a missing one

    result = run_rotate(app)
    assert result.exit_code == 1
    assert "4 stored secrets open with no key in ENCRYPTION_KEYS" in result.output
    assert f"licenses.key_encrypted id {old['shop']['license'].id}" in result.output
    db.session.expire_all()
    assert stored_values(db) == old["stored"]  # nothing it cannot read is touched

    keys(f"{NEW},{OLD}")  # putting the key back is the fix
    assert post_form(client, "/signin", {"email": "seller@example.com", "password": PASSWORD}).status_code == 303
    assert old["shop"]["key"] in client.get(f"/sell/licenses/{old['shop']['license'].id}").get_data(as_text=True)


def _legacy(secret, salt):
    return Fernet(
        base64.urlsafe_b64encode(
            HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"fernet").derive(secret.encode())
        )
    )


def test_values_stored_before_encryption_keys_existed_still_open_and_rotate(app, db, monkeypatch):
    """Before ENCRYPTION_KEYS: license keys and webhook secrets under keys derived from
    SECRET_KEY, Whop tokens under WHOP_TOKEN_KEY or a SHA-256 of SECRET_KEY."""
    secret = app.config["SECRET_KEY"]
    license_token = _legacy(secret, b"tradepost-license-keys").encrypt(b"TP-LEGACY").decode()
    webhook_token = _legacy(secret, b"tradepost-webhook-secrets").encrypt(b"whsec_legacy").decode()
    whop_derived = (
        Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"tradepost:whop-token-key:" + secret.encode()).digest()))
        .encrypt(b"whop_rt_derived")
        .decode()
    )
    for token, text in (
        (license_token, "TP-LEGACY"),
        (webhook_token, "whsec_legacy"),
        (whop_derived, "whop_rt_derived"),
    ):
        assert crypto.decrypt(token) == text and not crypto.is_current(token)

    whop_key = Fernet.generate_key().decode()
    whop_keyed = Fernet(whop_key).encrypt(b"whop_rt_keyed").decode()
    assert decrypt_token(whop_keyed) is None
    monkeypatch.setitem(app.config, "WHOP_TOKEN_KEY", whop_key)
    assert decrypt_token(whop_keyed) == "whop_rt_keyed"

    shop = make_licensed_shop()
    db.session.get(License, shop["license"].id).key_encrypted = license_token
    db.session.commit()
    assert run_rotate(app).exit_code == 0
    db.session.expire_all()
    assert crypto.is_current(db.session.scalar(select(License.key_encrypted)))
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-secret-key-" + "x" * 20)  # legacy keys gone
    assert license_key(db.session.get(License, shop["license"].id)) == "TP-LEGACY"


def test_every_encrypted_column_is_rotated():
    from app.extensions import db

    encrypted = {
        (table.name, column.name)
        for table in db.metadata.tables.values()
        for column in table.columns
        if column.name.endswith("_encrypted")
    }
    listed = {(table, column) for table, columns in crypto.ENCRYPTED_COLUMNS.items() for column in columns}
    assert encrypted == listed


@pytest.mark.parametrize(
    "value, problem",
    [
        ("", "has no key"),
        (" , ", "has no key"),
        ("not-a-key", "is not a Fernet key"),
        # A fixed key, so the test ids are the same in every pytest-xdist worker.
        (f"{FIXED_KEY},not-a-key", "is not a Fernet key"),
        (FIXED_KEY + "x", "is not a Fernet key"),
    ],
)
def test_malformed_keys_are_named(value, problem):
    assert crypto.fernet_key_problem("ENCRYPTION_KEYS", value) == f"ENCRYPTION_KEYS {problem}" + (
        " (urlsafe base64 of 32 bytes)" if "Fernet" in problem else ""
    )
    assert crypto.fernet_key_problem("ENCRYPTION_KEYS", f"{NEW}, {OLD}") is None
