"""The example app (examples/hello_app) as a real process, embedded end to end: installed, its
dashboard opened, the frame URL's token verified by the app against our JWKS over HTTP, the API
called with the installation's key; and every token it must refuse refused."""

import base64
import json
import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from app.clock import freeze, now
from app.crypto import decrypt
from app.extensions import db
from app.models import App, Company, User
from app.services import user_tokens
from tests import loopback
from tests.factories import make_product, make_seller
from tests.factories.apps import install_app, make_app
from tests.forms import post_form, sign_in_as
from tests.processes import free_port, start_hello_app, stop_process

pytestmark = pytest.mark.committed

FRAME = re.compile(r'<iframe class="app-frame"[^>]*src="([^"]+)"')


@pytest.fixture
def world(app, live_server):
    """A developer company with the hello app (localhost mode, on a free port) and a second app,
    both installed by a shop with one product; the hello app running as its own process."""
    port = free_port()
    with app.app_context():
        owner, company = make_seller("shop@example.com", display_name="Sam Shop")
        make_product(company, "pro-course")
        hello = make_app(company, "Hello", f"http://127.0.0.1:{port}", published=False, localhost_mode=True)
        other = make_app(company, "Other", "https://other.example.com")
        installations = {"hello": install_app(hello, company), "other": install_app(other, company)}
        world = {
            "company_id": company.id,
            "hello": hello.public_id,
            "other": other.public_id,
            "installation": installations["hello"].id,
            "url": f"http://127.0.0.1:{port}",
        }
        secret = decrypt(hello.webhook_secret_encrypted)
    process = start_hello_app(port, live_server, world["hello"], secret)
    yield world
    stop_process(process)


def frame_token(client, public_id):
    page = client.get(f"/sell/apps/{public_id}")
    assert page.status_code == 200
    src = unescape(FRAME.search(page.get_data(as_text=True)).group(1))
    return src, parse_qs(urlsplit(src).query)["tradepost_user_token"][0]


def whoami(world, token=None, headers=None):
    params = {"tradepost_user_token": token} if token else {}
    return loopback.get(world["url"] + "/whoami", params=params, headers=headers or {}, timeout=20)


def test_the_hello_app_verifies_the_token_and_calls_the_api(app, client, world):
    sign_in_as(client, "shop@example.com")
    src, token = frame_token(client, world["hello"])
    assert src.startswith(world["url"] + "/dashboard?")
    page = loopback.get(src, timeout=20)
    assert page.status_code == 200 and "Hello, Sam Shop" in page.text
    assert "products: 1" in page.text
    who = whoami(world, token).json()
    assert who == {
        "user_id": who["user_id"],
        "name": "Sam Shop",
        "company_id": str(world["company_id"]),
        "view": "dashboard",
        "api": "products: 1",
    }
    # the same token as the header of a proxied request
    assert whoami(world, headers={"x-tradepost-user-token": token}).json()["name"] == "Sam Shop"
    assert whoami(world).status_code == 401


def test_the_hello_app_refuses_tokens_not_meant_for_it(app, client, world):
    sign_in_as(client, "shop@example.com")
    _, other_token = frame_token(client, world["other"])
    refused = whoami(world, other_token)
    assert refused.status_code == 401 and "audience" in refused.json()["error"].lower()

    _, token = frame_token(client, world["hello"])
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "1"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = whoami(world, f"{header}.{forged_payload}.{signature}")
    assert tampered.status_code == 401 and "Signature verification failed" in tampered.json()["error"]

    kid = jwt.get_unverified_header(token)["kid"]
    stranger = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": kid})
    assert whoami(world, stranger).status_code == 401
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    assert whoami(world, unsigned).status_code == 401
    assert whoami(world, "not.a.token").status_code == 401


def test_the_hello_app_refuses_an_expired_token(app, client, world):
    sign_in_as(client, "shop@example.com")
    freeze(now() - timedelta(minutes=6))
    try:
        _, token = frame_token(client, world["hello"])
    finally:
        freeze(None)
    refused = whoami(world, token)
    assert refused.status_code == 401 and "expired" in refused.json()["error"]


def test_tokens_of_the_previous_key_verify_after_a_rotation(app, client, world, monkeypatch):
    old, new = user_tokens.new_private_key_pem(), user_tokens.new_private_key_pem()
    monkeypatch.setitem(app.config, "APP_TOKEN_SIGNING_KEYS", old)
    sign_in_as(client, "shop@example.com")
    _, before = frame_token(client, world["hello"])
    assert whoami(world, before).status_code == 200  # the app caches the JWKS with the old key
    monkeypatch.setitem(app.config, "APP_TOKEN_SIGNING_KEYS", new + old)
    _, after = frame_token(client, world["hello"])
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert whoami(world, after).status_code == 200  # an unknown kid: the app fetched the JWKS again
    assert whoami(world, before).status_code == 200


def test_uninstalling_revokes_the_apps_key_at_once(app, client, world):
    sign_in_as(client, "shop@example.com")
    _, token = frame_token(client, world["hello"])
    assert whoami(world, token).json()["api"] == "products: 1"
    with app.app_context():
        hello = db.session.scalar(select(App).where(App.public_id == world["hello"]))
        secret = decrypt(hello.webhook_secret_encrypted)
    fetched = loopback.post(
        f"{app.config['APP_BASE_URL']}/apps/installation-key",
        json={"company_id": str(world["company_id"])},
        auth=(world["hello"], secret),
    )
    key = fetched.json()["api_key"]
    api = f"{app.config['APP_BASE_URL']}/api/v1/products"
    assert loopback.get(api, headers={"Authorization": f"Bearer {key}"}).status_code == 200

    done = post_form(client, f"/sell/apps/{world['hello']}/uninstall", {"confirm": "uninstall"})
    assert done.status_code == 303
    assert loopback.get(api, headers={"Authorization": f"Bearer {key}"}).status_code == 401
    # the app holds the key it cached: the API refuses it
    assert whoami(world, token).json()["api"] == "refused (401)"
    assert whoami(world, token).json()["api"].startswith("no API key")


PROXY_FRAME = re.compile(r'<iframe class="app-frame"[^>]*src="([^"]+)"[^>]*sandbox="([^"]+)"')


def proxied_frame(client, public_id):
    """(the proxy path of the app's dashboard frame, the frame's sandbox attribute)."""
    page = client.get(f"/sell/apps/{public_id}?via=proxy")
    assert page.status_code == 200
    assert "frame-src 'self'" in page.headers["Content-Security-Policy"]
    src, sandbox = PROXY_FRAME.search(page.get_data(as_text=True)).groups()
    return unescape(src), sandbox


def test_the_proxy_passes_a_fresh_user_token_in_a_header(app, client, world):
    sign_in_as(client, "shop@example.com")
    src, sandbox = proxied_frame(client, world["hello"])
    assert src.startswith("/apps/proxy/") and src.endswith("/dashboard") and "tradepost_user_token" not in src
    assert sandbox == "allow-scripts allow-forms"  # never allow-same-origin on our own origin
    anonymous = app.test_client()  # the sandboxed frame sends no cookie: the grant in the path is enough
    page = anonymous.get(src)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert "Hello, Sam Shop" in page.get_data(as_text=True) and "products: 1" in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].startswith("sandbox allow-scripts allow-forms")
    assert "Set-Cookie" not in page.headers
    who = anonymous.get(src.replace("/dashboard", "/whoami")).get_json()
    assert who["name"] == "Sam Shop" and who["view"] == "dashboard"
    posted = anonymous.post(src.replace("/dashboard", "/echo"), data={"message": "hi"})
    assert posted.status_code == 200 and posted.get_json() == {"who": who, "message": "hi"}


def test_the_proxied_token_is_short_lived_and_for_this_app_only(app, client, world):
    sign_in_as(client, "shop@example.com")
    with app.app_context():
        hello = db.session.scalar(select(App).where(App.public_id == world["hello"]))
        other = db.session.scalar(select(App).where(App.public_id == world["other"]))
        owner = db.session.scalar(select(User).where(User.email == "shop@example.com"))
        company = db.session.get(Company, world["company_id"])
        minute = timedelta(seconds=60)
        for_other = user_tokens.issue_user_token(owner, other, company, view="dashboard", lifetime=minute)
        for_hello = user_tokens.issue_user_token(owner, hello, company, view="dashboard", lifetime=minute)
    claims = jwt.decode(for_hello, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60 and claims["aud"] == world["hello"]
    refused = whoami(world, headers={"x-tradepost-user-token": for_other})
    assert refused.status_code == 401 and "audience" in refused.json()["error"].lower()
    assert whoami(world, headers={"x-tradepost-user-token": for_hello}).status_code == 200


def test_the_proxy_refuses_what_it_must(app, client, world):
    sign_in_as(client, "shop@example.com")
    src, _ = proxied_frame(client, world["hello"])
    anonymous = app.test_client()
    grant = src.split("/")[3]
    forged = anonymous.get(src.replace(grant, grant[:-4] + "AAAA"))
    assert forged.status_code == 403 and forged.get_json()["error"]["code"] == "grant_invalid"
    assert anonymous.put(src).status_code == 405
    root = src.removesuffix("dashboard")  # the app's own root page, through the proxy
    assert anonymous.get(root).status_code == 200 and "Hello, Sam Shop" in anonymous.get(root).get_data(as_text=True)
    assert anonymous.post(root.replace(grant, grant[:-4] + "AAAA")).status_code == 403
    posted_root = anonymous.post(root, data={"message": "at the root"})  # the app's root takes a form post
    assert posted_root.status_code == 200 and posted_root.get_json()["message"] == "at the root"
    forged_post = anonymous.post(
        src.replace(grant, grant[:-4] + "AAAA").replace("/dashboard", "/echo"), data={"message": "x"}
    )
    assert forged_post.status_code == 403 and forged_post.get_json()["error"]["code"] == "grant_invalid"
    huge = anonymous.post(src.replace("/dashboard", "/echo"), data={"message": "x" * (300 * 1024)})
    assert huge.status_code == 413
    other_src, _ = proxied_frame(client, world["other"])
    unreachable = anonymous.get(other_src)  # https://other.example.com: the SSRF guard cannot vet it
    assert unreachable.status_code == 502 and unreachable.get_json()["error"]["code"] == "bad_gateway"
    done = post_form(client, f"/sell/apps/{world['hello']}/uninstall", {"confirm": "uninstall"})
    assert done.status_code == 303
    assert anonymous.get(src).status_code == 404  # uninstalled: the grant no longer opens anything
