"""API keys as a service: created once in plaintext, stored hashed, authenticated by hash,
revoked, rolled with an overlap, last use noted at most once a minute."""

from datetime import timedelta

import pytest

from app.clock import freeze, now
from app.errors import ServiceError
from app.models import AuditEvent
from app.services import api_keys
from tests.factories import make_seller


@pytest.fixture
def clock():
    yield freeze
    freeze(None)


def test_create_key_returns_the_plaintext_once_and_stores_only_its_hash(db):
    user, company = make_seller()
    key, plaintext = api_keys.create_key(company, name="CI", scopes=["products:read"], actor=user)
    assert plaintext.startswith("tp_sk_live_") and len(plaintext) == len("tp_sk_live_") + 40
    assert key.key_hash == api_keys.hash_api_key(plaintext) and plaintext not in key.key_hash
    assert key.key_hint == plaintext[-4:] and key.display.endswith(plaintext[-4:])
    assert api_keys.authenticate(plaintext) is key
    test_key, test_plain = api_keys.create_key(company, name="Test", scopes=["orders:read"], mode="test")
    assert test_plain.startswith("tp_sk_test_") and test_key.mode == "test"
    actions = db.session.query(AuditEvent.action).filter_by(company_id=company.id).all()
    assert ("api_key.created",) in actions
    assert all(plaintext not in str(row.data) for row in db.session.query(AuditEvent).all())


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"name": "", "scopes": ["products:read"]}, "name"),
        ({"name": "x" * 81, "scopes": ["products:read"]}, "name"),
        ({"name": "a\x00b", "scopes": ["products:read"]}, "name"),
        ({"name": "ok", "scopes": []}, "scopes"),
        ({"name": "ok", "scopes": ["root:write"]}, "scopes"),
        ({"name": "ok", "scopes": ["products:read"], "mode": "prod"}, "mode"),
        ({"name": "ok", "scopes": ["products:read"], "expires_at": "past"}, "expires_at"),
    ],
)
def test_create_key_refuses_bad_input_naming_the_field(db, options, field):
    _, company = make_seller()
    if options.get("expires_at") == "past":
        options["expires_at"] = now() - timedelta(days=1)
    with pytest.raises(api_keys.ApiKeyInvalid) as refused:
        api_keys.create_key(company, **options)
    assert refused.value.field == field


def test_authenticate_refuses_missing_malformed_unknown_revoked_and_expired_keys(db, clock):
    _, company = make_seller()
    key, plaintext = api_keys.create_key(
        company, name="k", scopes=["products:read"], expires_at=now() + timedelta(days=1)
    )
    codes = {}
    for label, value in [("missing", None), ("malformed", "sk_live_abc"), ("unknown", plaintext[:-1] + "Z")]:
        with pytest.raises(api_keys.ApiKeyRefused) as refused:
            api_keys.authenticate(value if label != "unknown" or value != plaintext else value + "x")
        codes[label] = refused.value.code
    assert codes == {"missing": "missing_api_key", "malformed": "malformed_api_key", "unknown": "invalid_api_key"}
    clock(now() + timedelta(days=2))
    with pytest.raises(api_keys.ApiKeyRefused, match="expired"):
        api_keys.authenticate(plaintext)
    clock(None)
    api_keys.revoke_key(key)
    with pytest.raises(api_keys.ApiKeyRefused, match="revoked"):
        api_keys.authenticate(plaintext)
    with pytest.raises(ServiceError, match="already revoked"):
        api_keys.revoke_key(key)


def test_roll_keeps_the_old_key_valid_for_the_overlap_only(db, clock):
    _, company = make_seller()
    old, old_plain = api_keys.create_key(company, name="deploy", scopes=["orders:read", "products:read"])
    new, new_plain = api_keys.roll_key(old, overlap_hours=2)
    assert new.scope_list == ["products:read", "orders:read"] and new.rolled_from_id == old.id
    assert api_keys.authenticate(old_plain) is old and api_keys.authenticate(new_plain) is new
    clock(now() + timedelta(hours=3))
    with pytest.raises(api_keys.ApiKeyRefused, match="expired"):
        api_keys.authenticate(old_plain)
    assert api_keys.authenticate(new_plain) is new
    with pytest.raises(api_keys.ApiKeyInvalid):
        api_keys.roll_key(new, overlap_hours=1000)
    with pytest.raises(ServiceError, match="Only active"):
        api_keys.roll_key(old, overlap_hours=1)


def test_last_used_is_written_at_most_once_a_minute(db, clock):
    _, company = make_seller()
    key, _ = api_keys.create_key(company, name="k", scopes=["products:read"])
    start = now()
    assert api_keys.touch_last_used(key, start) is True
    assert api_keys.touch_last_used(key, start + timedelta(seconds=30)) is False
    assert api_keys.touch_last_used(key, start + timedelta(seconds=61)) is True
    db.session.expire(key)
    assert key.last_used_at == start + timedelta(seconds=61)


def test_cli_creates_lists_and_revokes_keys(app, db):
    _, company = make_seller()
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["api-keys", "create", "--company", company.slug, "--scope", "products:read", "--scope", "orders:read"]
        + ["--name", "Ops", "--expires-days", "30"]
    )
    assert created.exit_code == 0, created.output
    plaintext = created.output.strip().splitlines()[-1]
    key = api_keys.authenticate(plaintext)
    assert key.scope_list == ["products:read", "orders:read"] and key.expires_at is not None
    listed = runner.invoke(args=["api-keys", "list", "--company", company.slug]).output
    assert f"{key.id}\tOps\t{key.display}\tactive" in listed and plaintext not in listed
    assert runner.invoke(args=["api-keys", "revoke", str(key.id)]).exit_code == 0
    assert runner.invoke(args=["api-keys", "revoke", str(key.id)]).exit_code == 1
    assert runner.invoke(args=["api-keys", "revoke", "999999"]).exit_code == 1
    refused = runner.invoke(args=["api-keys", "create", "--company", company.slug, "--scope", "root"])
    assert refused.exit_code == 1 and "Unknown scope" in refused.output
    assert runner.invoke(args=["api-keys", "list", "--company", "no-such-company"]).exit_code == 1


def test_seed_demo_prints_the_same_read_only_demo_key_each_run(app, db, client):
    runner = app.test_cli_runner()
    lines = [line.split() for line in runner.invoke(args=["seed-demo"]).output.splitlines()]
    (line,) = [line for line in lines if line[0] == "api-key"]
    _, plaintext, slug = line
    assert plaintext.startswith("tp_sk_test_")
    again = [line.split() for line in runner.invoke(args=["seed-demo"]).output.splitlines()]
    assert line in again
    key = api_keys.authenticate(plaintext)
    assert set(key.scope_list) == {scope for scope in key.scope_list if scope.endswith(":read")}
    response = client.get("/api/v1/products", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 200 and response.get_json()["data"]
    assert client.post("/api/v1/licenses", json={}, headers={"Authorization": f"Bearer {plaintext}"}).status_code == 403
