"""The public license API: result codes, activation limits, expiry, signatures, offline files,
the Whop-compatible endpoint, bad bodies and rate limits."""

import base64
import json
import re
import secrets
from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidSignature
from sqlalchemy import func, select

from app.clock import freeze, now
from app.extensions import db
from app.models import License, LicenseActivation
from app.redis_calls import Lua
from app.services.licensing import issuing, license_keys, public_api, records, seller_admin, signing
from tests.factories import make_licensed_shop, make_membership, make_policy, make_product, make_seller, make_user
from tests.license_api import LicenseApi
from tests.queries import statements_during

KEY_PATTERN = re.compile(r"^TP(-[0-9A-HJKMNP-TV-Z]{5}){6}$")


@pytest.fixture
def shop(db):
    return make_licensed_shop(max_activations=2)


@pytest.fixture
def api(client):
    return LicenseApi(client)


@pytest.fixture
def clock():
    yield freeze
    freeze(None)


@pytest.fixture
def one_window(monkeypatch):
    """The rate limits' clock held 10 s into a minute: a test's requests all fall in one fixed
    window however slowly they run (a window ending midway would let the test's 61st pass)."""
    from app.blueprints import license_api

    monkeypatch.setattr(license_api, "limits_clock", lambda: 1_800_000_010.0)


def activation_count(key):
    db.session.expire_all()
    return db.session.scalar(select(License.activation_count).where(License.key_hash == license_keys.hash_key(key)))


def test_issued_key_has_150_random_bits_in_crockford_groups(shop):
    assert KEY_PATTERN.match(shop["key"])
    assert len(shop["key"].replace("TP-", "").replace("-", "")) * 5 >= 128
    license = shop["license"]
    assert license.key_hash == license_keys.hash_key(shop["key"]) and shop["key"] not in license.key_encrypted
    assert license.key_hint == shop["key"][-5:]
    compact = license_keys.generate_key("ACME", "compact")
    assert re.match(r"^ACME-[0-9A-HJKMNP-TV-Z]{30}$", compact)
    assert len({license_keys.generate_key() for _ in range(200)}) == 200


def test_issuing_is_idempotent_and_needs_an_enabled_policy(db, shop):
    assert issuing.issue_license_for_membership(shop["membership"]).id == shop["license"].id
    plain = make_product(shop["company"], "no-keys")
    assert issuing.issue_license_for_membership(make_membership(plain, shop["buyer"])) is None
    paused = make_product(shop["company"], "paused-keys")
    make_policy(paused, enabled=False)
    assert issuing.issue_license_for_membership(make_membership(paused, shop["buyer"])) is None
    assert db.session.scalar(select(func.count()).select_from(License)) == 1


def test_valid_key_answer_is_signed_and_echoes_the_nonce(api, shop, client):
    status, body = api.validate(key=shop["key"], nonce="n-123")
    assert status == 200
    assert (body["valid"], body["code"], body["activation"]) == (True, "VALID", None)
    assert body["license"] == {
        "id": shop["license"].id,
        "product_id": shop["product"].id,
        "status": "active",
        "key_hint": shop["key"][-5:],
        "expires_at": None,
        "max_activations": 2,
        "activations": 0,
    }
    assert body["meta"]["nonce"] == "n-123" and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", body["meta"]["time"])


def test_a_tampered_body_fails_verification(api, shop, client):
    response = client.post("/api/v1/licenses/validate", json={"key": "TP-NOPE0-00000-00000-00000-00000-00000"})
    assert json.loads(response.data)["valid"] is False
    tampered = response.data.replace(b'"valid":false', b'"valid":true')
    assert tampered != response.data
    signature = base64.b64decode(response.headers["Tradepost-Signature"].split(" ", 1)[1])
    with pytest.raises(InvalidSignature):
        api.public_key.verify(signature, tampered)


def test_public_key_is_served_as_pem_and_raw(api, client):
    body = json.loads(client.get("/api/v1/licenses/public-key").data)
    assert body["algorithm"] == "ed25519" and body["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert len(base64.b64decode(body["public_key"])) == 32


def test_unknown_and_malformed_keys_are_not_found(api):
    for key in ("TP-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", "hello", "TP-" + "Ü" * 30):
        status, body = api.validate(key=key)
        assert (status, body["valid"], body["code"], body["license"]) == (200, False, "NOT_FOUND", None)


def test_typed_keys_are_normalised(api, shop):
    typed = shop["key"].lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert api.validate(key=typed)[1]["code"] == "VALID"


def test_product_mismatch(api, shop):
    status, body = api.validate(key=shop["key"], product_id=shop["product"].id + 1000)
    assert (body["valid"], body["code"], body["license"]) == (False, "PRODUCT_MISMATCH", None)
    assert api.validate(key=shop["key"], product_id=shop["product"].id)[1]["code"] == "VALID"


def test_activation_then_validation_with_fingerprints(api, shop):
    status, body = api.activate(key=shop["key"], fingerprint="host-a", name="Work laptop")
    assert status == 201 and body["code"] == "ACTIVATED"
    assert body["activation"]["fingerprint"] == "host-a" and body["activation"]["name"] == "Work laptop"
    assert body["license"]["activations"] == 1
    status, body = api.activate(key=shop["key"], fingerprint="host-a")
    assert (status, body["code"], body["license"]["activations"]) == (200, "ALREADY_ACTIVE", 1)

    status, body = api.validate(key=shop["key"], fingerprint="host-a")
    assert (body["valid"], body["code"], body["activation"]["fingerprint"]) == (True, "VALID", "host-a")
    status, body = api.validate(key=shop["key"], fingerprint="host-b")
    assert (body["valid"], body["code"], body["activation"]) == (False, "NO_ACTIVATION", None)
    assert activation_count(shop["key"]) == 1  # validation never activates


def test_activation_limit_and_deactivation(api, shop):
    assert api.activate(key=shop["key"], fingerprint="host-a")[0] == 201
    assert api.activate(key=shop["key"], fingerprint="host-b")[0] == 201
    status, body = api.activate(key=shop["key"], fingerprint="host-c")
    assert (status, body["error"]["code"]) == (409, "TOO_MANY_ACTIVATIONS")
    assert activation_count(shop["key"]) == 2

    status, body = api.deactivate(key=shop["key"], fingerprint="host-a")
    assert (status, body["deactivated"], body["license"]["activations"]) == (200, True, 1)
    assert api.deactivate(key=shop["key"], fingerprint="host-a")[0] == 404
    assert api.deactivate(key="TP-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", fingerprint="host-b")[0] == 404
    assert api.activate(key=shop["key"], fingerprint="host-c")[0] == 201
    assert api.validate(key=shop["key"], fingerprint="host-a")[1]["code"] == "NO_ACTIVATION"


def test_suspended_and_revoked_keys(api, shop, db):
    assert api.activate(key=shop["key"], fingerprint="host-a")[0] == 201
    license = db.session.get(License, shop["license"].id)
    seller_admin.suspend_license(license, shop["owner"])
    db.session.commit()
    status, body = api.validate(key=shop["key"], fingerprint="host-a")
    assert (body["valid"], body["code"], body["license"]["status"]) == (False, "SUSPENDED", "suspended")
    status, body = api.activate(key=shop["key"], fingerprint="host-b")
    assert (status, body["error"]["code"]) == (403, "SUSPENDED")

    seller_admin.reinstate_license(license, shop["owner"])
    db.session.commit()
    assert api.validate(key=shop["key"], fingerprint="host-a")[1]["code"] == "VALID"

    seller_admin.revoke_license(license, shop["owner"])
    db.session.commit()
    assert api.validate(key=shop["key"])[1]["code"] == "REVOKED"
    assert api.activate(key=shop["key"], fingerprint="host-b")[1]["error"]["code"] == "REVOKED"
    with pytest.raises(records.LicenseStateError):
        seller_admin.reinstate_license(license, shop["owner"])


def test_keys_expire_after_the_policy_duration(api, db, clock):
    shop = make_licensed_shop(duration_days=30)
    license = shop["license"]
    assert license.expires_at == license.created_at + timedelta(days=30)
    assert api.activate(key=shop["key"], fingerprint="host-a")[0] == 201
    clock(license.created_at + timedelta(days=29, hours=23))
    assert api.validate(key=shop["key"], fingerprint="host-a")[1]["code"] == "VALID"
    clock(license.created_at + timedelta(days=30, seconds=1))
    status, body = api.validate(key=shop["key"], fingerprint="host-a")
    assert (body["valid"], body["code"], body["license"]["status"]) == (False, "EXPIRED", "expired")
    assert api.activate(key=shop["key"], fingerprint="host-b")[1]["error"]["code"] == "EXPIRED"

    seller_admin.extend_license(db.session.get(License, license.id), 10, shop["owner"])
    db.session.commit()
    assert api.validate(key=shop["key"], fingerprint="host-a")[1]["code"] == "VALID"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/licenses/validate",
        "/api/v1/licenses/activate",
        "/api/v1/licenses/deactivate",
        "/api/v1/licenses/checkout",
    ],
)
def test_bad_bodies_are_422_and_change_nothing(api, shop, client, path):
    key = shop["key"]
    bad = [
        dict(data="key=" + key, content_type="application/x-www-form-urlencoded"),
        dict(data="{not json", content_type="application/json"),
        dict(json=[key]),
        dict(json={"fingerprint": "host-a"}),
        dict(json={"key": 12345, "fingerprint": "host-a"}),
        dict(json={"key": key, "fingerprint": "x" * 256}),
        dict(json={"key": key, "fingerprint": ["host-a"]}),
        dict(json={"key": key, "fingerprint": "   "}),
        dict(json={"key": key, "fingerprint": "host-a", "nonce": "n" * 129}),
        dict(json={"key": "K" * 129, "fingerprint": "host-a"}),
    ]
    if path.endswith("validate"):
        bad += [dict(json={"key": key, "product_id": "12"}), dict(json={"key": key, "product_id": True})]
    else:
        bad += [dict(json={"key": key})]
    if path == "/api/v1/licenses/activate":
        bad += [dict(json={"key": key, "fingerprint": "host-a", "name": "n" * 256})]
    if path.endswith("checkout"):
        bad += [
            dict(json={"key": key, "fingerprint": "host-a", "ttl": 10}),
            dict(json={"key": key, "fingerprint": "host-a", "ttl": 91 * 86400}),
            dict(json={"key": key, "fingerprint": "host-a", "ttl": "3600"}),
        ]
    for kwargs in bad:
        response = client.post(path, **kwargs)
        assert response.status_code == 422, (kwargs, response.data)
        body = api.verify(response)
        assert body["error"]["code"] == "INVALID_REQUEST" and body["error"]["message"]
    assert activation_count(key) == 0
    assert db.session.scalar(select(func.count()).select_from(LicenseActivation)) == 0


def test_whop_compatible_validate_binds_the_first_hardware_id(api, shop):
    path = f"/api/v2/memberships/{shop['key']}/validate_license"
    status, body = api.post(path, {"metadata": {"hardware_id": "hw-1"}})
    assert status == 201
    assert body["valid"] is True and body["status"] == "completed" and body["license_key"] == shop["key"]
    assert body["id"] == f"mem_{shop['membership'].id}" and body["product"] == f"prod_{shop['product'].id}"
    assert body["metadata"] == {"hardware_id": "hw-1"}
    for field in ("user", "cancel_at_period_end", "expires_at", "renewal_period_end", "created_at", "manage_url"):
        assert field in body
    assert api.post(path, {"metadata": {"hardware_id": "hw-1"}})[0] == 201
    assert api.post(path, {"hardware_id": "hw-1"})[0] == 201
    status, body = api.post(path, {"metadata": {"hardware_id": "hw-2"}})
    assert (status, body["error"]["message"]) == (403, "Hardware mismatch")
    assert activation_count(shop["key"]) == 1

    assert (
        api.post(
            "/api/v2/memberships/TP-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA/validate_license",
            {"metadata": {"hardware_id": "hw-1"}},
        )[0]
        == 404
    )
    for bad in ({"metadata": {}}, {"metadata": "hw-1"}, {"metadata": {"hardware_id": 7}}):
        assert api.post(path, bad)[0] == 422


@pytest.mark.parametrize("reason", ["SUSPENDED", "REVOKED", "EXPIRED"])
def test_whop_endpoint_refuses_unusable_keys_with_403_without_binding(api, shop, db, clock, reason):
    license = db.session.get(License, shop["license"].id)
    if reason == "SUSPENDED":
        seller_admin.suspend_license(license, shop["owner"])
    elif reason == "REVOKED":
        seller_admin.revoke_license(license, shop["owner"])
    else:
        license.expires_at = now() + timedelta(days=1)
        clock(now() + timedelta(days=2))
    db.session.commit()
    status, body = api.post(
        f"/api/v2/memberships/{shop['key']}/validate_license", {"metadata": {"hardware_id": "hw-1"}}
    )
    assert (status, body["valid"], body["reason"], body["metadata"]) == (403, False, reason, {"hardware_id": None})
    assert body["status"] == ("expired" if reason == "EXPIRED" else "canceled")
    assert body["error"]["code"] == reason and body["error"]["message"]
    assert activation_count(shop["key"]) == 0


def _read_file(api, license_file):
    data = base64.b64decode(license_file["data"])
    api.public_key.verify(base64.b64decode(license_file["signature"]), data)
    return json.loads(data)


def test_offline_license_file_verifies_and_expires(api, shop, clock):
    status, body = api.checkout(key=shop["key"], fingerprint="host-a")
    assert (status, body["error"]["code"]) == (403, "NO_ACTIVATION")
    api.activate(key=shop["key"], fingerprint="host-a")
    moment = now().replace(microsecond=0)
    clock(moment)
    status, body = api.checkout(key=shop["key"], fingerprint="host-a", ttl=7200)
    assert status == 200
    license_file = body["license_file"]
    assert (license_file["format"], license_file["alg"]) == ("tradepost-license-file/1", "ed25519")
    document = _read_file(api, license_file)
    assert document["fingerprint"] == "host-a" and document["license"]["status"] == "active"
    assert document["issued_at"] == public_api.iso(moment)
    assert document["expires_at"] == public_api.iso(moment + timedelta(seconds=7200))

    forged = dict(
        license_file,
        data=base64.b64encode(base64.b64decode(license_file["data"]).replace(b"host-a", b"host-z")).decode(),
    )
    with pytest.raises(InvalidSignature):
        _read_file(api, forged)

    default = _read_file(api, api.checkout(key=shop["key"], fingerprint="host-a")[1]["license_file"])
    assert default["expires_at"] == public_api.iso(moment + timedelta(days=30))


def test_offline_file_never_outlives_the_key(api, db, clock):
    shop = make_licensed_shop(duration_days=10)
    api.activate(key=shop["key"], fingerprint="host-a")
    document = _read_file(api, api.checkout(key=shop["key"], fingerprint="host-a")[1]["license_file"])
    assert document["expires_at"] == public_api.iso(shop["license"].expires_at)
    clock(shop["license"].expires_at + timedelta(seconds=1))
    assert api.checkout(key=shop["key"], fingerprint="host-a")[1]["error"]["code"] == "EXPIRED"


def test_rate_limit_per_key_answers_429_with_retry_after(one_window, api, shop, client):
    for _ in range(60):
        assert client.post("/api/v1/licenses/validate", json={"key": shop["key"]}).status_code == 200
    response = client.post("/api/v1/licenses/validate", json={"key": shop["key"], "nonce": "late"})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) == 50  # the window's seconds left
    body = api.verify(response)
    assert body["error"]["code"] == "RATE_LIMITED" and body["meta"]["nonce"] == "late"
    assert client.post("/api/v1/licenses/activate", json={"key": shop["key"], "fingerprint": "a"}).status_code == 429
    other = client.post("/api/v1/licenses/validate", json={"key": "TP-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"})
    assert other.status_code == 200  # another key has its own budget


def test_rate_limit_per_ip(one_window, api, client):
    for n in range(99):  # the LicenseApi helper already spent one request on the public key
        key = f"TP-{n:05d}-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"
        assert client.post("/api/v1/licenses/validate", json={"key": key}).status_code == 200
    response = client.post("/api/v1/licenses/validate", json={"key": "TP-ZZZZZ-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert api.verify(response)["error"]["code"] == "RATE_LIMITED"


def test_rate_limit_windows_are_counted_together_and_expire_with_their_window(one_window, api, shop, app, monkeypatch):
    """Two limits of two windows each: a request counts all four windows, and each counter
    expires with its window."""
    monkeypatch.setitem(app.config, "LICENSE_RATE_LIMIT_PER_IP", "100/minute;1000/hour")
    monkeypatch.setitem(app.config, "LICENSE_RATE_LIMIT_PER_KEY", "60/minute;500/day")
    redis = app.extensions["redis"]
    redis.flushdb()
    for _ in range(2):
        assert api.validate(key=shop["key"])[0] == 200
    counters = {key.decode(): redis.get(key) for key in redis.scan_iter("tp-limits:license-api:*")}
    assert sorted(name.split(":")[-2] for name in counters) == ["100/60", "1000/3600", "500/86400", "60/60"]
    assert set(counters.values()) == {b"2"}
    for name in counters:
        assert 0 < redis.ttl(name) <= int(name.split(":")[-2].split("/")[1])


def test_validation_records_when_a_key_was_last_checked(api, shop, db, clock):
    moment = now().replace(microsecond=0)
    clock(moment)
    api.validate(key=shop["key"])
    db.session.expire_all()
    assert db.session.get(License, shop["license"].id).last_validated_at == moment
    clock(moment + timedelta(seconds=30))
    api.validate(key=shop["key"])
    db.session.expire_all()
    assert db.session.get(License, shop["license"].id).last_validated_at == moment


def test_api_needs_no_csrf_token_or_session(app, shop):
    fresh = app.test_client()
    response = fresh.post("/api/v1/licenses/activate", json={"key": shop["key"], "fingerprint": "host-a"})
    assert response.status_code == 201 and "Set-Cookie" not in response.headers


def test_each_shop_issues_keys_in_its_own_prefix_and_format(db):
    other_owner, other_company = make_seller("other@example.com", title="Other Shop", connected=True)
    product = make_product(other_company, "other-tool")
    make_policy(product, key_prefix="OT", key_format="compact")
    license = issuing.issue_license_for_membership(make_membership(product, make_user("b2@example.com")))
    assert license_keys.license_key(license).startswith("OT-") and license.company_id == other_company.id


def test_configured_signing_keys_in_base64_or_pem(app, client, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    raw_public = base64.b64encode(
        private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    seed = base64.b64encode(
        private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    ).decode()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    for value in (seed, pem):
        monkeypatch.setitem(app.config, "LICENSE_SIGNING_KEY", value)
        answer = client.get("/api/v1/licenses/public-key")
        assert json.loads(answer.data)["public_key"] == raw_public
        private.public_key().verify(base64.b64decode(answer.headers["Tradepost-Signature"][8:]), answer.data)
    for bad in ("bm90IGEga2V5", "%%%"):
        with app.test_request_context(), pytest.raises(signing.ConfigError):
            monkeypatch.setitem(app.config, "LICENSE_SIGNING_KEY", bad)
            signing.signing_key()


def test_production_without_a_signing_key_answers_500_unsigned(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    response = client.post("/api/v1/licenses/validate", json={"key": "TP-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"})
    assert response.status_code == 500 and "Tradepost-Signature" not in response.headers
    assert response.get_json()["error"]["code"] == "INTERNAL_ERROR"


def test_each_call_reads_the_key_and_its_machine_in_one_statement(api, shop):
    """The fewest round trips: validate is one statement (PostgreSQL: the read with the
    "last checked" touch in a CTE; SQLite: the SELECT, the touch being out of the way);
    activate, new machine or not, is one statement on PostgreSQL (take the seat, insert the
    machine, read the key and its machine); on SQLite the seat's UPDATE, then the INSERT or,
    without a seat, the SELECT."""
    key = shop["key"]
    api.validate(key=key)  # the once-a-minute "last checked" touch is out of the way
    validate = statements_during(lambda: api.validate(key=key, fingerprint="host-q"))
    activate = statements_during(lambda: api.activate(key=key, fingerprint="host-q"))
    again = statements_during(lambda: api.activate(key=key, fingerprint="host-q"))
    deactivate = statements_during(lambda: api.deactivate(key=key, fingerprint="host-q"))
    if db.session.get_bind().dialect.name == "postgresql":
        assert [s.split()[0] for s in validate] == ["WITH"] and "UPDATE licenses" in validate[0]
        assert [s.split()[0] for s in activate] == ["WITH"] and [s.split()[0] for s in again] == ["WITH"]
        assert "INSERT INTO license_activations" in activate[0] and "UPDATE licenses" in activate[0]
    else:
        assert [s.split()[0] for s in validate] == ["SELECT"]
        assert [s.split()[0] for s in activate] == ["UPDATE", "INSERT"]
        assert [s.split()[0] for s in again] == ["UPDATE", "SELECT"]
    assert [s.split()[0] for s in deactivate[:1]] == ["SELECT"] and sorted(s.split()[0] for s in deactivate[1:]) == [
        "DELETE",
        "UPDATE",
    ]
    assert "license_activations" in validate[0] and "license_activations" in deactivate[0]


def test_activation_answers_match_the_locked_path(api, shop, db, clock):
    """Every answer of the one-statement activation: a new machine, the same one again, a full
    key, an unknown key and an expired one, with the counts the key shows."""
    status, body = api.activate(key=shop["key"], fingerprint="host-a", name="Desk")
    assert (status, body["code"], body["license"]["activations"]) == (201, "ACTIVATED", 1)
    assert body["activation"]["name"] == "Desk" and body["activation"]["created_at"] is not None
    status, again = api.activate(key=shop["key"], fingerprint="host-a", name="Renamed")
    assert (status, again["code"], again["activation"]) == (200, "ALREADY_ACTIVE", body["activation"])
    assert api.activate(key=shop["key"], fingerprint="host-b")[1]["license"]["activations"] == 2
    status, full = api.activate(key=shop["key"], fingerprint="host-c")
    assert (status, full["error"]["code"]) == (409, "TOO_MANY_ACTIVATIONS")
    assert api.activate(key="TP-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", fingerprint="x")[0] == 404
    assert activation_count(shop["key"]) == 2

    license = db.session.get(License, shop["license"].id)
    license.expires_at = now() + timedelta(days=1)
    db.session.commit()
    clock(now() + timedelta(days=2))
    status, expired = api.activate(key=shop["key"], fingerprint="host-d")
    assert (status, expired["error"]["code"]) == (403, "EXPIRED")
    status, expired = api.activate(key=shop["key"], fingerprint="host-a")
    assert (status, expired["error"]["code"]) == (403, "EXPIRED")  # refused before "already active"
    assert activation_count(shop["key"]) == 2


def test_activation_updates_a_license_the_session_already_holds(db, shop):
    license = db.session.get(License, shop["license"].id)
    assert license.activation_count == 0
    _, activation, created = public_api.activate_license(shop["key"], "host-a", "Laptop")
    assert created and license.activation_count == 1
    assert [a.fingerprint for a in license.activations] == ["host-a"]
    assert db.session.get(LicenseActivation, activation.id).name == "Laptop"


def test_rate_limit_script_is_loaded_when_redis_does_not_know_it(api, shop, app, monkeypatch):
    """The limits run their Lua script by SHA1; a Redis that lacks it (restarted, flushed) is
    given it once and the request is counted as usual."""
    from app.blueprints import license_api

    script = Lua(license_api.COUNT_WINDOWS.script + f"-- {secrets.token_hex(8)}\n")
    monkeypatch.setattr(license_api, "COUNT_WINDOWS", script)
    redis = app.extensions["redis"]
    assert redis.script_exists(script.sha) == [False]
    for _ in range(2):
        assert api.validate(key=shop["key"])[0] == 200
    assert redis.script_exists(script.sha) == [True]
    counters = [redis.get(key) for key in redis.scan_iter("tp-limits:license-api:key:*")]
    assert counters == [b"2"]
