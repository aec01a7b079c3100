"""Seller (/sell/licenses) and buyer (/account/licenses) license pages, docs and demo data:
success and refusals, tenant isolation, audit rows."""

import html
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, CompanyMember, License, LicenseActivation, LicensePolicy
from app.services.accounts import register_user
from app.services.licensing import license_keys, public_api
from tests.factories import PASSWORD, make_licensed_shop, make_membership, make_product, make_user
from tests.forms import post_form, sign_in_as
from tests.license_api import LicenseApi


@pytest.fixture
def shop(db):
    shop = make_licensed_shop(max_activations=3, duration_days=365)
    for fingerprint in ("host-a", "host-b"):
        public_api.activate_license(shop["key"], fingerprint, f"Machine {fingerprint}")
    db.session.commit()
    return shop


@pytest.fixture
def seller(client, shop):
    sign_in_as(client, "seller@example.com")
    return client


def audit_actions(license_id):
    return db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.subject_type == "license", AuditEvent.subject_id == str(license_id))
        .order_by(AuditEvent.id)
    ).all()


def reload(license_id):
    db.session.expire_all()
    return db.session.get(License, license_id)


def test_seller_lists_and_searches_keys(seller, shop):
    other_buyer = make_user("zed@example.com")
    make_membership(shop["product"], other_buyer)
    db.session.commit()
    page = seller.get("/sell/licenses").get_data(as_text=True)
    assert "License keys" in page and "Pro Tool" in page and "Up to 3 machines" in page
    assert f"••••-{shop['key'][-5:]}" in page and "buyer@example.com" in page and "2 / 3" in page
    assert shop["key"] not in page  # full keys only on the key's own page

    found = seller.get("/sell/licenses", query_string={"q": "buyer@exa"}).get_data(as_text=True)
    assert "buyer@example.com" in found
    assert "buyer@example.com" in seller.get("/sell/licenses", query_string={"q": shop["key"].lower()}).get_data(
        as_text=True
    )
    assert "buyer@example.com" in seller.get("/sell/licenses", query_string={"q": shop["key"][-5:]}).get_data(
        as_text=True
    )
    assert "No keys match." in seller.get("/sell/licenses", query_string={"q": "nobody@"}).get_data(as_text=True)
    assert "No keys match." in seller.get("/sell/licenses", query_string={"status": "revoked"}).get_data(as_text=True)
    assert "buyer@example.com" in seller.get("/sell/licenses", query_string={"status": "active"}).get_data(as_text=True)

    fragment = seller.get("/sell/licenses", query_string={"q": "buyer"}, headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="license-table">') and "<html" not in body
    assert "HX-Request" in fragment.headers["Vary"]


def test_seller_key_page_shows_the_key_and_machines(seller, shop):
    page = seller.get(f"/sell/licenses/{shop['license'].id}").get_data(as_text=True)
    assert shop["key"] in page and 'data-copy="' + shop["key"] in page
    assert "host-a" in page and "Machine host-b" in page and "Suspend" in page and "Revoke for good" in page


def test_seller_actions_change_the_key_and_are_audited(seller, shop):
    license_id = shop["license"].id
    api = LicenseApi(seller)
    response = post_form(seller, f"/sell/licenses/{license_id}/suspend")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/sell/licenses/{license_id}")
    assert api.validate(key=shop["key"])[1]["code"] == "SUSPENDED"
    assert post_form(seller, f"/sell/licenses/{license_id}/suspend").status_code == 409
    assert post_form(seller, f"/sell/licenses/{license_id}/reinstate").status_code == 303
    assert api.validate(key=shop["key"])[1]["code"] == "VALID"

    assert post_form(seller, f"/sell/licenses/{license_id}/reset").status_code == 303
    license = reload(license_id)
    assert (license.activation_count, license.reset_count) == (0, 1)
    assert db.session.scalar(select(func.count()).select_from(LicenseActivation)) == 0

    before = license.expires_at
    assert post_form(seller, f"/sell/licenses/{license_id}/extend", {"days": "30"}).status_code == 303
    assert (reload(license_id).expires_at - before).days == 30
    refused = post_form(seller, f"/sell/licenses/{license_id}/extend", {"days": "abc"})
    assert refused.status_code == 422 and "Enter a number of days." in refused.get_data(as_text=True)
    assert post_form(seller, f"/sell/licenses/{license_id}/extend", {"days": "0"}).status_code == 422

    # Revoking for good asks first: the key page links to a confirmation page whose form says so.
    assert f"/sell/licenses/{license_id}/revoke" in seller.get(f"/sell/licenses/{license_id}").get_data(as_text=True)
    confirm = seller.get(f"/sell/licenses/{license_id}/revoke")
    assert confirm.status_code == 200 and 'name="confirm" value="revoke"' in confirm.get_data(as_text=True)
    unconfirmed = post_form(seller, f"/sell/licenses/{license_id}/revoke")
    assert unconfirmed.status_code == 422 and "Confirm that this key" in unconfirmed.get_data(as_text=True)
    assert reload(license_id).status == "active" and api.validate(key=shop["key"])[1]["code"] != "REVOKED"
    assert post_form(seller, f"/sell/licenses/{license_id}/revoke", {"confirm": "no"}).status_code == 422
    assert post_form(seller, f"/sell/licenses/{license_id}/revoke", {"confirm": "revoke"}).status_code == 303
    assert api.validate(key=shop["key"])[1]["code"] == "REVOKED"
    again = post_form(seller, f"/sell/licenses/{license_id}/reinstate")
    assert again.status_code == 409 and "Only suspended keys" in again.get_data(as_text=True)
    assert audit_actions(license_id) == [
        "license.suspended",
        "license.reinstated",
        "license.activations_reset",
        "license.extended",
        "license.revoked",
    ]
    assert "activations reset" in seller.get(f"/sell/licenses/{license_id}").get_data(as_text=True)


def test_extending_a_key_without_expiry_is_refused(client, db):
    shop = make_licensed_shop(duration_days=None)
    sign_in_as(client, "seller@example.com")
    response = post_form(client, f"/sell/licenses/{shop['license'].id}/extend", {"days": "30"})
    assert response.status_code == 409 and reload(shop["license"].id).expires_at is None


def test_team_members_may_not_open_license_keys(client, shop):
    member = register_user("member@example.com", PASSWORD, "Mo Member", "sell")
    db.session.add(CompanyMember(company_id=shop["company"].id, user_id=member.id, role="member"))
    db.session.commit()
    sign_in_as(client, "member@example.com")
    assert client.get(f"/sell/licenses/{shop['license'].id}").status_code == 403
    assert post_form(client, f"/sell/licenses/{shop['license'].id}/revoke", {"confirm": "revoke"}).status_code == 403
    assert client.get(f"/sell/licenses/{shop['license'].id}/revoke").status_code == 403
    assert client.get(f"/sell/licenses/policy/{shop['product'].id}").status_code == 403
    assert reload(shop["license"].id).status == "active"


def test_seller_b_cannot_see_or_touch_seller_a_keys(client, shop):
    other = make_licensed_shop(seller_email="b@example.com", buyer_email="b-buyer@example.com", slug="b-tool")
    sign_in_as(client, "b@example.com")
    license_id = shop["license"].id
    page = client.get("/sell/licenses").get_data(as_text=True)
    assert "b-buyer@example.com" in page and "<td>buyer@example.com</td>" not in page and "Pro Tool" not in page
    assert "No keys match." in client.get("/sell/licenses", query_string={"q": shop["key"]}).get_data(as_text=True)
    assert client.get(f"/sell/licenses/{license_id}").status_code == 404
    for action in ("suspend", "reinstate", "revoke", "reset"):
        assert post_form(client, f"/sell/licenses/{license_id}/{action}", {"confirm": "revoke"}).status_code == 404
    assert client.get(f"/sell/licenses/{license_id}/revoke").status_code == 404
    assert post_form(client, f"/sell/licenses/{license_id}/extend", {"days": "5"}).status_code == 404
    assert client.get(f"/sell/licenses/policy/{shop['product'].id}").status_code == 404
    assert (
        post_form(
            client,
            f"/sell/licenses/policy/{shop['product'].id}",
            {"enabled": "on", "max_activations": "9", "key_prefix": "XX", "key_format": "grouped"},
        ).status_code
        == 404
    )
    license = reload(license_id)
    assert (license.status, license.activation_count, license.max_activations) == ("active", 2, 3)
    assert audit_actions(license_id) == [] and other["license"].company_id != license.company_id


def test_policy_form_creates_a_policy_and_issues_keys_to_existing_buyers(client, db):
    shop = make_licensed_shop()
    product = make_product(shop["company"], "new-app")
    holder = make_membership(product, shop["buyer"])
    db.session.commit()
    sign_in_as(client, "seller@example.com")
    form = client.get(f"/sell/licenses/policy/{product.id}").get_data(as_text=True)
    assert "Machines per key" in form and 'value="TP"' in form

    refused = post_form(
        client,
        f"/sell/licenses/policy/{product.id}",
        {"enabled": "on", "max_activations": "0", "duration_days": "-3", "key_prefix": "T!", "key_format": "weird"},
    )
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    for message in ("between 1 and 1000", "never expire", "2 to 6 letters", "grouped or compact"):
        assert message in text
    assert db.session.scalar(select(LicensePolicy).where(LicensePolicy.product_id == product.id)) is None

    saved = post_form(
        client,
        f"/sell/licenses/policy/{product.id}",
        {"enabled": "on", "max_activations": "5", "duration_days": "", "key_prefix": "app", "key_format": "compact"},
    )
    assert saved.status_code == 303
    db.session.expire_all()
    policy = db.session.scalar(select(LicensePolicy).where(LicensePolicy.product_id == product.id))
    assert (policy.max_activations, policy.duration_days, policy.key_prefix, policy.key_format) == (
        5,
        None,
        "APP",
        "compact",
    )
    issued = db.session.scalar(select(License).where(License.membership_id == holder.id))
    assert license_keys.license_key(issued).startswith("APP-") and issued.max_activations == 5
    assert "1 existing buyer got a key" in client.get("/sell/licenses").get_data(as_text=True)

    post_form(
        client,
        f"/sell/licenses/policy/{shop['product'].id}",
        {"enabled": "on", "max_activations": "7", "key_prefix": "TP", "key_format": "grouped"},
    )
    assert reload(shop["license"].id).max_activations == 7  # a new limit applies to existing keys


def test_buyer_sees_keys_and_frees_machines_three_times_a_month(client, shop):
    sign_in_as(client, "buyer@example.com")
    assert "Your license keys" in client.get("/account").get_data(as_text=True)
    page = client.get("/account/licenses").get_data(as_text=True)
    assert shop["key"] in page and f'data-copy="{shop["key"]}"' in page
    assert "Machine host-a" in page and "2 of 3 machines in use" in page
    assert "/api/v1/licenses/validate" in page and f'"product_id": {shop["product"].id}' in page

    activations = db.session.scalars(select(LicenseActivation).order_by(LicenseActivation.id)).all()
    assert post_form(client, f"/account/licenses/activations/{activations[0].id}/deactivate").status_code == 303
    assert reload(shop["license"].id).activation_count == 1
    for fingerprint in ("host-c", "host-d"):
        public_api.activate_license(shop["key"], fingerprint)
        db.session.commit()
    remaining = db.session.scalars(select(LicenseActivation.id).order_by(LicenseActivation.id)).all()
    assert post_form(client, f"/account/licenses/activations/{remaining[0]}/deactivate").status_code == 303
    assert post_form(client, f"/account/licenses/activations/{remaining[1]}/deactivate").status_code == 303
    refused = post_form(client, f"/account/licenses/activations/{remaining[2]}/deactivate")
    assert refused.status_code == 429 and "ask the seller" in refused.get_data(as_text=True)
    assert reload(shop["license"].id).activation_count == 1
    assert audit_actions(shop["license"].id).count("license.self_deactivated") == 3


def test_buyers_cannot_touch_other_peoples_machines(client, shop):
    make_user("intruder@example.com")
    db.session.commit()
    sign_in_as(client, "intruder@example.com")
    assert "No license keys yet" in client.get("/account/licenses").get_data(as_text=True)
    activation_id = db.session.scalars(select(LicenseActivation.id)).first()
    assert post_form(client, f"/account/licenses/activations/{activation_id}/deactivate").status_code == 404
    assert post_form(client, "/account/licenses/activations/999999/deactivate").status_code == 404
    assert reload(shop["license"].id).activation_count == 2


def test_license_pages_need_sign_in(client, shop):
    for path in ("/account/licenses", "/sell/licenses", f"/sell/licenses/{shop['license'].id}"):
        response = client.get(path)
        assert response.status_code == 302 and "/signin" in response.headers["Location"]
    assert client.post(f"/sell/licenses/{shop['license'].id}/revoke").status_code == 400  # no CSRF token


def test_docs_page_has_curl_examples_and_a_working_python_client(client, shop):
    page = client.get("/docs/licensing").get_data(as_text=True)
    assert "curl -s -X POST" in page and "/api/v2/memberships/" in page
    for code in public_api.CODES:
        assert code in page
    source = html.unescape(
        re.search(r'<pre class="lic-code" id="python-client"><code>(.*?)</code></pre>', page, re.S).group(1)
    )
    assert 20 <= len(source.splitlines()) <= 40
    namespace = {}
    exec(compile(source, "docs-client", "exec"), namespace)  # the client exactly as documented

    response = client.post(
        "/api/v1/licenses/validate", json={"key": shop["key"], "fingerprint": "host-a", "nonce": "abc"}
    )
    body = namespace["verified"](response.headers, response.data, "abc")
    assert body["valid"] is True
    with pytest.raises(ValueError, match="replayed"):
        namespace["verified"](response.headers, response.data, "other-nonce")
    with pytest.raises(Exception, match="InvalidSignature|^$"):
        namespace["verified"](response.headers, response.data.replace(b"true", b"fals"), "abc")
    license_file = client.post(
        "/api/v1/licenses/checkout", json={"key": shop["key"], "fingerprint": "host-a"}
    ).get_json()["license_file"]
    assert namespace["license_file_ok"](license_file, "host-a") is True
    assert namespace["license_file_ok"](license_file, "host-z") is False


def test_seed_demo_prints_a_license_line_and_stays_idempotent(app, db):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"]).output.strip().splitlines()
    lines = [line.split() for line in first if line.startswith("license ")]
    assert [email for _, _, email in lines] == ["bob@tradepost.test", "carol@tradepost.test", "dan@tradepost.test"]
    assert all(re.match(r"^DEV(-[0-9A-Z]{5}){6}$", key) for _, key, _ in lines)
    assert runner.invoke(args=["seed-demo"]).output.strip().splitlines() == first
    license = db.session.scalar(select(License).where(License.key_hash == license_keys.hash_key(lines[0][1])))
    assert license.activation_count == 1 and db.session.scalar(select(func.count()).select_from(License)) == 3


def test_docs_page_explains_the_signed_503(client):
    page = " ".join(client.get("/docs/licensing").get_data(as_text=True).split())
    assert "<strong>503</strong> <code>SERVICE_UNAVAILABLE</code>, signed like everything else" in page
