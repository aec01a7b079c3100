"""Apps through the pages people use: registering and publishing (developers), installing and
uninstalling (owners and admins), the iframes that embed an app, the JWKS, and the endpoint
where an app fetches an installation's API key; every refusal next to its success."""

import base64
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from sqlalchemy import func, select

from app.clock import freeze, now
from app.crypto import decrypt
from app.models import ApiKey, App, AppInstallation, AuditEvent
from app.services import api_keys, user_tokens
from tests.factories import make_membership, make_product
from tests.factories.apps import install_app, make_app
from tests.forms import post_form
from tests.hostile import NUL, changed_tables, table_counts

FRAME = re.compile(r'<iframe class="app-frame"[^>]*src="([^"]+)"[^>]*>')


# What the registration form sends for a valid app.
VALID_APP = {
    "name": "Stock sync",
    "description": "Keeps stock in sync",
    "icon_url": "",
    "base_url": "https://sync.example.com",
    "dashboard_path": "/dashboard",
    "experience_path": "/experience",
    "scopes": ["products:read", "orders:read"],
    "webhook_url": "",
}


def form(**overrides):
    return {**VALID_APP, **overrides}


def frame_url(response):
    match = FRAME.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:2000]
    return unescape(match.group(1))


def verify(client, token, audience):
    """Verify `token` the way an app does: with the keys published at the JWKS."""
    keys = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").get_json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    return jwt.decode(
        token, key.key, algorithms=["ES256"], audience=audience, issuer=client.application.config["APP_BASE_URL"]
    )


def basic(public_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{public_id}:{secret}".encode()).decode()}


# -- developers: register, edit, publish, secret -----------------------------------------------


def test_an_owner_registers_edits_and_publishes_an_app(client, db, make_seller, sign_in):
    owner, company = make_seller()
    sign_in(owner)
    assert "Register your first app" in client.get("/sell/developers/apps").get_data(as_text=True)
    assert client.get("/sell/developers/apps/new").status_code == 200
    response = post_form(client, "/sell/developers/apps", form())
    assert response.status_code == 303
    app = db.session.scalar(select(App).where(App.company_id == company.id))
    assert (app.name, app.scopes, app.published) == ("Stock sync", ["products:read", "orders:read"], False)
    assert app.public_id.startswith("app_") and decrypt(app.webhook_secret_encrypted).startswith("whsec_")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert app.public_id in page and "Not published" in page

    assert post_form(client, f"/sell/developers/apps/{app.public_id}", form(name="Stock sync 2")).status_code == 303
    assert db.session.get(App, app.id).name == "Stock sync 2"
    assert post_form(client, f"/sell/developers/apps/{app.public_id}/publish").status_code == 303
    assert db.session.get(App, app.id).published is True
    assert "Stock sync 2" in client.get("/sell/developers/apps").get_data(as_text=True)
    assert post_form(client, f"/sell/developers/apps/{app.public_id}/unpublish").status_code == 303
    assert db.session.get(App, app.id).published is False


def test_the_secret_is_revealed_and_rotated_only_after_confirmation(client, db, make_seller, sign_in):
    owner, company = make_seller()
    app = make_app(company)
    sign_in(owner)
    old = decrypt(app.webhook_secret_encrypted)
    assert old in client.get(f"/sell/developers/apps/{app.public_id}/secret").get_data(as_text=True)
    assert "Rotate the app secret?" in client.get(f"/sell/developers/apps/{app.public_id}/rotate").get_data(
        as_text=True
    )
    refused = post_form(client, f"/sell/developers/apps/{app.public_id}/rotate")
    assert refused.status_code == 422 and decrypt(db.session.get(App, app.id).webhook_secret_encrypted) == old
    done = post_form(client, f"/sell/developers/apps/{app.public_id}/rotate", {"confirm": "rotate"})
    assert done.status_code == 303
    assert decrypt(db.session.get(App, app.id).webhook_secret_encrypted) != old


def test_localhost_mode_allows_http_localhost_but_not_publishing(client, db, make_seller, sign_in):
    owner, company = make_seller()
    sign_in(owner)
    refused = post_form(client, "/sell/developers/apps", form(base_url="http://localhost:5300"))
    assert refused.status_code == 422 and "needs localhost mode" in refused.get_data(as_text=True)
    created = post_form(client, "/sell/developers/apps", form(base_url="http://localhost:5300", localhost_mode="on"))
    assert created.status_code == 303
    app = db.session.scalar(select(App).where(App.company_id == company.id))
    assert app.localhost_mode and app.base_url == "http://localhost:5300"
    publish = post_form(client, f"/sell/developers/apps/{app.public_id}/publish")
    assert publish.status_code == 409 and "localhost mode off" in publish.get_data(as_text=True)
    assert db.session.get(App, app.id).published is False


def test_a_published_app_switched_to_localhost_mode_leaves_the_directory(client, db, make_seller, sign_in):
    owner, company = make_seller()
    app = make_app(company)
    sign_in(owner)
    response = post_form(
        client, f"/sell/developers/apps/{app.public_id}", form(base_url="http://127.0.0.1:5300", localhost_mode="on")
    )
    assert response.status_code == 303 and db.session.get(App, app.id).published is False


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("name", "", "Give your app a name"),
        ("name", "x" * 81, "under 80"),
        ("name", "tab\there", "control characters"),
        ("base_url", "", "Enter the URL"),
        ("base_url", "javascript:alert(1)", "full https://"),
        ("base_url", "http://sync.example.com", "Use an https:// URL"),
        ("base_url", "https://user:pw@sync.example.com", "Leave credentials"),
        ("base_url", "https://sync.example.com/?a=1", "Leave credentials, a query"),
        ("base_url", "https://" + "a" * 300 + ".com", "under 300"),
        ("icon_url", "http://img.example.com/i.png", "https:// image"),
        ("dashboard_path", "//evil.example.com", "starts with one /"),
        ("dashboard_path", "no-slash", "starts with one /"),
        ("experience_path", "/a b", "starts with one /"),
        ("experience_path", "/" + "a" * 250, "starts with one /"),
        ("scopes", ["products:read", "admin:everything"], "Unknown scope"),
        ("scopes", [], "at least one API scope"),
        ("webhook_url", "ftp://hooks.example.com", "full http:// or https://"),
        ("webhook_url", "http://169.254.169.254/latest", "metadata"),
        ("name", "Ünïcødé ✓ app", None),
    ],
)
def test_bad_app_input_is_refused_naming_the_field(client, db, make_seller, sign_in, field, value, message):
    owner, _ = make_seller()
    sign_in(owner)
    before = table_counts()
    response = post_form(client, "/sell/developers/apps", form(**{field: value}))
    if message is None:  # unicode is fine
        assert response.status_code == 303
        return
    assert response.status_code == 422, (field, value)
    body = unescape(response.get_data(as_text=True))
    assert message in body and f'id="{field}' in body or field == "scopes"
    assert changed_tables(before, table_counts(), ignore={"audit_events"}) == {}


def test_both_views_empty_is_refused(client, db, make_seller, sign_in):
    owner, _ = make_seller()
    sign_in(owner)
    response = post_form(client, "/sell/developers/apps", form(dashboard_path="", experience_path=""))
    assert response.status_code == 422 and "at least one view" in response.get_data(as_text=True)


def test_private_network_webhook_urls_are_refused(app, client, db, make_seller, sign_in, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS", False)
    owner, _ = make_seller()
    sign_in(owner)
    for url in ("http://127.0.0.1:8080/hook", "http://10.0.0.5/hook", "http://[::ffff:127.0.0.1]/hook"):
        response = post_form(client, "/sell/developers/apps", form(webhook_url=url))
        assert response.status_code == 422 and "public internet" in response.get_data(as_text=True), url
    assert db.session.scalar(select(func.count()).select_from(App)) == 0


def test_tradepost_own_origin_is_refused_as_base_url(app, client, db, make_seller, sign_in):
    owner, _ = make_seller()
    sign_in(owner)
    response = post_form(
        client, "/sell/developers/apps", form(base_url=app.config["APP_BASE_URL"], localhost_mode="on")
    )
    assert response.status_code == 422 and "origin of its own" in response.get_data(as_text=True)


def test_hostile_bytes_and_huge_bodies_write_nothing(client, db, make_seller, sign_in):
    owner, _ = make_seller()
    sign_in(owner)
    before = table_counts()
    assert post_form(client, "/sell/developers/apps", form(name="a" + NUL)).status_code == 400
    assert post_form(client, "/sell/developers/apps", form(description="x" * 2_000_000)).status_code == 413
    assert changed_tables(before, table_counts(), ignore={"audit_events"}) == {}


def test_another_company_cannot_see_or_change_the_app(client, db, make_seller, sign_in):
    _, company = make_seller()
    app = make_app(company)
    other, _ = make_seller()
    sign_in(other)
    base = f"/sell/developers/apps/{app.public_id}"
    assert client.get(base).status_code == 404
    assert client.get(base + "/secret").status_code == 404
    assert client.get(base + "/rotate").status_code == 404
    for path in (base, base + "/publish", base + "/unpublish", base + "/rotate"):
        assert post_form(client, path, {**form(name="Hijacked"), "confirm": "rotate"}).status_code == 404, path
    assert db.session.get(App, app.id).name == "Hello"


def test_members_may_not_build_or_install_apps(client, db, make_seller, sign_in):
    _, company = make_seller()
    app = make_app(company)
    member, _ = make_seller(company=company, role="member")
    sign_in(member)
    assert client.get("/sell/developers/apps").status_code == 403
    assert post_form(client, "/sell/developers/apps", form()).status_code == 403
    assert post_form(client, f"/sell/apps/{app.public_id}/install", {"confirm": "install"}).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(AppInstallation)) == 0


# -- the directory: install, uninstall ----------------------------------------------------------


def test_an_admin_installs_an_app_after_seeing_its_scopes_and_uninstalls_it(client, db, make_seller, sign_in):
    _, developer = make_seller()
    app = make_app(developer, scopes=["products:read", "orders:read"])
    owner, company = make_seller()
    admin, _ = make_seller(company=company, role="admin")
    sign_in(admin)
    assert "Hello" in client.get("/sell/apps").get_data(as_text=True)
    confirm = client.get(f"/sell/apps/{app.public_id}/install").get_data(as_text=True)
    assert "products:read" in confirm and "orders:read" in confirm
    assert 'hx-boost="false"' in confirm  # the dashboard's CSP (frame-src) needs a real page load
    unconfirmed = post_form(client, f"/sell/apps/{app.public_id}/install")
    assert unconfirmed.status_code == 422 and db.session.scalar(select(func.count()).select_from(AppInstallation)) == 0

    response = post_form(client, f"/sell/apps/{app.public_id}/install", {"confirm": "install"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/sell/apps/{app.public_id}")
    installation = db.session.scalar(select(AppInstallation).where(AppInstallation.company_id == company.id))
    key = db.session.get(ApiKey, installation.api_key_id)
    assert installation.granted_scopes == ["products:read", "orders:read"] and installation.installed_by_id == admin.id
    assert key.company_id == company.id and key.scope_list == ["products:read", "orders:read"]
    assert key.app_installation_id == installation.id
    plaintext = decrypt(installation.api_key_encrypted)
    assert api_keys.authenticate(plaintext).id == key.id
    twice = post_form(client, f"/sell/apps/{app.public_id}/install", {"confirm": "install"})
    assert twice.status_code == 409 and "already installed" in twice.get_data(as_text=True)

    assert "Uninstall Hello?" in client.get(f"/sell/apps/{app.public_id}/uninstall").get_data(as_text=True)
    assert post_form(client, f"/sell/apps/{app.public_id}/uninstall").status_code == 422
    done = post_form(client, f"/sell/apps/{app.public_id}/uninstall", {"confirm": "uninstall"})
    assert done.status_code == 303
    installation = db.session.get(AppInstallation, installation.id)
    assert installation.revoked_at is not None and installation.api_key_encrypted is None
    assert db.session.get(ApiKey, key.id).revoked_at is not None
    with pytest.raises(api_keys.ApiKeyRefused):
        api_keys.authenticate(plaintext)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "app.uninstalled"))
    assert client.get(f"/sell/apps/{app.public_id}/uninstall").status_code == 404
    # installable again after an uninstall
    assert post_form(client, f"/sell/apps/{app.public_id}/install", {"confirm": "install"}).status_code == 303


def test_unpublished_apps_of_others_cannot_be_installed(client, db, make_seller, sign_in):
    _, developer = make_seller()
    app = make_app(developer, published=False)
    owner, _ = make_seller()
    sign_in(owner)
    assert "Hello" not in client.get("/sell/apps").get_data(as_text=True)
    assert client.get(f"/sell/apps/{app.public_id}/install").status_code == 404
    assert post_form(client, f"/sell/apps/{app.public_id}/install", {"confirm": "install"}).status_code == 404
    assert client.get(f"/sell/apps/{app.public_id}").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(AppInstallation)) == 0


def test_a_developer_installs_its_own_unpublished_app(client, db, make_seller, sign_in):
    owner, company = make_seller()
    app = make_app(company, published=False)
    sign_in(owner)
    assert "yours" in client.get("/sell/apps").get_data(as_text=True)
    assert post_form(client, f"/sell/apps/{app.public_id}/install", {"confirm": "install"}).status_code == 303


def test_uninstalling_an_app_not_installed_is_404(client, db, make_seller, sign_in):
    _, developer = make_seller()
    app = make_app(developer)
    owner, _ = make_seller()
    sign_in(owner)
    assert post_form(client, f"/sell/apps/{app.public_id}/uninstall", {"confirm": "uninstall"}).status_code == 404
    assert post_form(client, f"/sell/apps/{NUL}x/uninstall", {"confirm": "uninstall"}).status_code in (400, 404)


# -- embedding: the dashboard and members' pages -----------------------------------------------


def test_the_dashboard_frames_the_app_with_a_verifiable_token(app, client, db, make_seller, sign_in):
    _, developer = make_seller()
    registered = make_app(developer)
    owner, company = make_seller(display_name="Olive Owner")
    install_app(registered, company)
    sign_in(owner)
    response = client.get(f"/sell/apps/{registered.public_id}")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "frame-src https://hello.example.com" in csp and response.headers["Cache-Control"] == "private, no-store"
    html = response.get_data(as_text=True)
    assert 'sandbox="allow-scripts allow-forms allow-same-origin"' in html and 'referrerpolicy="no-referrer"' in html
    url = urlsplit(frame_url(response))
    assert (url.scheme, url.netloc, url.path) == ("https", "hello.example.com", "/dashboard")
    query = parse_qs(url.query)
    token = query["tradepost_user_token"][0]
    assert query["company_id"] == [str(company.id)]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == user_tokens.signing_keys()[0].kid
    claims = verify(client, token, registered.public_id)
    assert claims["sub"] == str(owner.id) and claims["company_id"] == str(company.id)
    assert claims["name"] == "Olive Owner" and claims["view"] == "dashboard"
    assert claims["exp"] - claims["iat"] == 300
    with pytest.raises(jwt.InvalidAudienceError):
        verify(client, token, "app_someone_else")
    # other pages still refuse framing anything but themselves
    assert "frame-src" not in client.get("/sell/apps").headers["Content-Security-Policy"]


def test_the_dashboard_of_an_app_not_installed_is_404(client, db, make_seller, sign_in):
    _, developer = make_seller()
    registered = make_app(developer)
    _, company = make_seller()
    install_app(registered, company)
    stranger, _ = make_seller()
    sign_in(stranger)
    assert client.get(f"/sell/apps/{registered.public_id}").status_code == 404


def test_an_app_without_a_dashboard_view_has_no_dashboard_page(client, db, make_seller, sign_in):
    owner, company = make_seller()
    registered = make_app(company, dashboard_path="")
    install_app(registered, company)
    sign_in(owner)
    assert client.get(f"/sell/apps/{registered.public_id}").status_code == 404


def test_members_see_the_experience_view_next_to_their_product(client, db, make_seller, make_user, sign_in):
    owner, company = make_seller()
    product = make_product(company, "pro-course")
    registered = make_app(company)
    install_app(registered, company)
    buyer = make_user(display_name="Bea Buyer")
    make_membership(product, buyer)
    sign_in(buyer)
    path = f"/account/products/{product.id}/apps/{registered.public_id}"
    assert f'href="{path}"' in client.get(f"/account/products/{product.id}").get_data(as_text=True)
    response = client.get(path)
    assert (
        response.status_code == 200
        and "frame-src https://hello.example.com" in response.headers["Content-Security-Policy"]
    )
    url = urlsplit(frame_url(response))
    assert url.path == "/experience"
    claims = verify(client, parse_qs(url.query)["tradepost_user_token"][0], registered.public_id)
    assert (claims["sub"], claims["view"], claims["product_id"]) == (str(buyer.id), "experience", str(product.id))

    outsider = make_user()
    sign_in(outsider)
    assert client.get(path).status_code == 403
    assert client.get(f"/account/products/{product.id}/apps/app_nope").status_code == 404
    assert client.get(f"/account/products/2147483647/apps/{registered.public_id}").status_code == 404


def test_the_experience_view_ends_with_the_installation(client, db, make_seller, make_user, sign_in):
    owner, company = make_seller()
    product = make_product(company, "pro-course")
    registered = make_app(company)
    installation = install_app(registered, company)
    buyer = make_user()
    make_membership(product, buyer)
    from app.services import apps

    apps.uninstall_app(registered, installation)
    db.session.commit()
    sign_in(buyer)
    assert client.get(f"/account/products/{product.id}/apps/{registered.public_id}").status_code == 404


# -- the JWKS and key rotation -------------------------------------------------------------------


def test_the_jwks_publishes_public_keys_only_and_keeps_the_previous_key(app, client, db, monkeypatch):
    old, new = user_tokens.new_private_key_pem(), user_tokens.new_private_key_pem()
    monkeypatch.setitem(app.config, "APP_TOKEN_SIGNING_KEYS", old)
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "public, max-age=300"
    (only,) = response.get_json()["keys"]
    assert set(only) == {"kty", "crv", "x", "y", "kid", "use", "alg"} and only["alg"] == "ES256"
    monkeypatch.setitem(app.config, "APP_TOKEN_SIGNING_KEYS", new + old)
    kids = [k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert kids == [user_tokens.public_jwk(k)["kid"] for k in user_tokens.parse_ec_signing_keys(new + old)]
    assert kids[1] == only["kid"]


def test_tokens_of_the_previous_key_verify_after_a_rotation(app, client, db, make_seller, sign_in, monkeypatch):
    old, new = user_tokens.new_private_key_pem(), user_tokens.new_private_key_pem()
    monkeypatch.setitem(app.config, "APP_TOKEN_SIGNING_KEYS", old)
    _, developer = make_seller()
    registered = make_app(developer)
    owner, company = make_seller()
    install_app(registered, company)
    sign_in(owner)
    before = parse_qs(urlsplit(frame_url(client.get(f"/sell/apps/{registered.public_id}"))).query)[
        "tradepost_user_token"
    ][0]
    monkeypatch.setitem(app.config, "APP_TOKEN_SIGNING_KEYS", new + "\n" + old)
    after = parse_qs(urlsplit(frame_url(client.get(f"/sell/apps/{registered.public_id}"))).query)[
        "tradepost_user_token"
    ][0]
    assert jwt.get_unverified_header(before)["kid"] != jwt.get_unverified_header(after)["kid"]
    for token in (before, after):
        assert verify(client, token, registered.public_id)["sub"] == str(owner.id)
    monkeypatch.setitem(app.config, "APP_TOKEN_SIGNING_KEYS", new)
    with pytest.raises(StopIteration):  # the old key is gone: its tokens no longer verify
        verify(client, before, registered.public_id)


def test_an_expired_token_does_not_verify(app, client, db, make_seller, sign_in):
    _, developer = make_seller()
    registered = make_app(developer)
    owner, company = make_seller()
    install_app(registered, company)
    sign_in(owner)
    freeze(now().replace(year=now().year - 1))
    try:
        response = client.get(f"/sell/apps/{registered.public_id}")
    finally:
        freeze(None)
    token = parse_qs(urlsplit(frame_url(response)).query)["tradepost_user_token"][0]
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(client, token, registered.public_id)


# -- apps fetch their installation's key -----------------------------------------------------------


def test_an_app_fetches_the_key_of_an_installation_with_its_secret(client, db, make_seller):
    _, developer = make_seller()
    registered = make_app(developer)
    _, company = make_seller()
    installation = install_app(registered, company)
    secret = decrypt(registered.webhook_secret_encrypted)
    path = "/apps/installation-key"
    response = client.post(path, json={"company_id": str(company.id)}, headers=basic(registered.public_id, secret))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["api_key"] == decrypt(installation.api_key_encrypted) and body["scopes"] == ["products:read"]
    assert (
        client.post(path, data={"company_id": company.id}, headers=basic(registered.public_id, secret)).status_code
        == 200
    )

    for headers in (
        basic(registered.public_id, "whsec_wrong"),
        basic("app_unknown", secret),
        {},
        {"Authorization": "Basic %%%"},
    ):
        refused = client.post(path, json={"company_id": str(company.id)}, headers=headers)
        assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
    for company_id in ("", "abc", "9" * 40, str(developer.id), {"x": 1}):
        refused = client.post(path, json={"company_id": company_id}, headers=basic(registered.public_id, secret))
        assert refused.status_code == 404, company_id
    # another app's secret does not open this app's installations
    other = make_app(developer, name="Other")
    other_secret = decrypt(other.webhook_secret_encrypted)
    assert (
        client.post(
            path, json={"company_id": str(company.id)}, headers=basic(other.public_id, other_secret)
        ).status_code
        == 404
    )
