"""Sign in with Whop against the emulator: authorization code + PKCE (S256), OIDC, rotation."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from flask import Flask, jsonify, session

from app.integrations.whop import oauth_client_kwargs
from app.sandbox.whop import store as whop_store


@pytest.fixture
def whop_signed_in(whop_oauth_client, whop_authorize, whop_api_base, whop_user):
    """Run the full code + PKCE flow for ``whop_user``; return (client, token, extras)."""
    client = whop_oauth_client()
    verifier = generate_token(48)
    nonce = generate_token(16)
    url, state = client.create_authorization_url(
        whop_api_base + "/oauth/authorize", code_verifier=verifier, nonce=nonce
    )
    location, params = whop_authorize(url, account=whop_user["id"])
    assert params["state"] == state
    token = client.fetch_token(whop_api_base + "/oauth/token", authorization_response=location, code_verifier=verifier)
    return client, token, {"nonce": nonce, "location": location, "verifier": verifier}


def _start(whop_oauth_client, whop_authorize, whop_api_base, user_id):
    client = whop_oauth_client()
    verifier = generate_token(48)
    url, _ = client.create_authorization_url(whop_api_base + "/oauth/authorize", code_verifier=verifier)
    location, params = whop_authorize(url, account=user_id)
    return client, verifier, location, params


def test_code_flow_with_pkce_issues_tokens_and_userinfo(whop_signed_in, whop_api_base, whop_user):
    client, token, _ = whop_signed_in
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] > 0
    assert token["scope"] == "openid profile email"
    assert token["access_token"] and token["refresh_token"]

    info = client.get(whop_api_base + "/oauth/userinfo")
    assert info.status_code == 200
    body = info.json()
    assert body["sub"] == whop_user["id"]
    assert body["preferred_username"] == whop_user["username"]
    assert body["name"] == whop_user["name"]
    assert body["email"] == whop_user["email"]
    assert body["email_verified"] is True
    assert body["picture"].startswith(whop_api_base + "/avatars/")
    assert info.headers["cache-control"] == "no-store"


def test_id_token_is_es256_signed_by_the_jwks_key(whop_signed_in, whop_api_base, whop_jwks_url, whop_config, whop_user):
    _, token, extras = whop_signed_in
    header = jwt.get_unverified_header(token["id_token"])
    assert header["alg"] == "ES256" and header["kid"]
    key = jwt.PyJWKClient(whop_jwks_url).get_signing_key(header["kid"])
    claims = jwt.decode(
        token["id_token"],
        key.key,
        algorithms=["ES256"],
        audience=whop_config["WHOP_CLIENT_ID"],
        issuer=whop_api_base,
    )
    assert claims["sub"] == whop_user["id"]
    assert claims["nonce"] == extras["nonce"]


def test_discovery_document_points_at_the_emulator(whop_http, whop_api_base):
    config = whop_http.get(whop_api_base + "/.well-known/openid-configuration").json()
    assert config["issuer"] == whop_api_base
    assert config["token_endpoint"] == whop_api_base + "/oauth/token"
    assert config["code_challenge_methods_supported"] == ["S256"]


def test_wrong_code_verifier_is_invalid_grant(whop_oauth_client, whop_authorize, whop_api_base, whop_user):
    client, _, location, _ = _start(whop_oauth_client, whop_authorize, whop_api_base, whop_user["id"])
    with pytest.raises(OAuthError) as excinfo:
        client.fetch_token(
            whop_api_base + "/oauth/token", authorization_response=location, code_verifier=generate_token(48)
        )
    assert excinfo.value.error == "invalid_grant"


def test_missing_code_verifier_is_refused(whop_oauth_client, whop_authorize, whop_api_base, whop_user):
    client, _, location, _ = _start(whop_oauth_client, whop_authorize, whop_api_base, whop_user["id"])
    with pytest.raises(OAuthError) as excinfo:
        client.fetch_token(whop_api_base + "/oauth/token", authorization_response=location)
    assert excinfo.value.error == "invalid_grant"
    assert "code_verifier" in excinfo.value.description


def test_code_is_single_use_and_replay_revokes_its_tokens(
    whop_oauth_client, whop_authorize, whop_api_base, whop_user, whop_http, whop_config
):
    client, verifier, location, params = _start(whop_oauth_client, whop_authorize, whop_api_base, whop_user["id"])
    token = client.fetch_token(whop_api_base + "/oauth/token", authorization_response=location, code_verifier=verifier)

    replay = whop_http.post(
        whop_api_base + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": client.redirect_uri,
            "code_verifier": verifier,
            "client_id": whop_config["WHOP_CLIENT_ID"],
            "client_secret": whop_config["WHOP_CLIENT_SECRET"],
        },
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"

    userinfo = whop_http.get(
        whop_api_base + "/oauth/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert userinfo.status_code == 401


def test_code_expires_after_60_seconds(whop_oauth_client, whop_authorize, whop_api_base, whop_user, monkeypatch):
    client, verifier, location, _ = _start(whop_oauth_client, whop_authorize, whop_api_base, whop_user["id"])
    real_now = whop_store.now
    monkeypatch.setattr(whop_store, "now", lambda: real_now() + 61)
    with pytest.raises(OAuthError) as excinfo:
        client.fetch_token(whop_api_base + "/oauth/token", authorization_response=location, code_verifier=verifier)
    assert excinfo.value.error == "invalid_grant"
    assert "expired" in excinfo.value.description


def test_deny_redirects_with_access_denied(whop_oauth_client, whop_authorize, whop_api_base, whop_user, whop_sink):
    client = whop_oauth_client()
    url, state = client.create_authorization_url(whop_api_base + "/oauth/authorize", code_verifier=generate_token(48))
    location, params = whop_authorize(url, decision="deny", account=whop_user["id"])
    assert location.startswith(whop_sink.url + "/callback?")
    assert params["error"] == "access_denied"
    assert params["state"] == state
    assert "code" not in params


def test_authorize_page_can_create_a_user(whop_oauth_client, whop_authorize, whop_api_base):
    client = whop_oauth_client()
    verifier = generate_token(48)
    url, _ = client.create_authorization_url(whop_api_base + "/oauth/authorize", code_verifier=verifier)
    location, _ = whop_authorize(
        url, account="new", username="newbie_" + generate_token(6).lower(), name="New Bie", email="newbie@example.test"
    )
    client.fetch_token(whop_api_base + "/oauth/token", authorization_response=location, code_verifier=verifier)
    assert client.get(whop_api_base + "/oauth/userinfo").json()["name"] == "New Bie"


def test_authorize_page_keeps_input_on_invalid_new_user(whop_oauth_client, whop_http, whop_api_base):
    client = whop_oauth_client()
    url, _ = client.create_authorization_url(whop_api_base + "/oauth/authorize", code_verifier=generate_token(48))
    page = whop_http.get(url)
    assert "Allow" in page.text and "Deny" in page.text
    fields = dict(parse_qsl(urlsplit(url).query))
    response = whop_http.post(
        whop_api_base + "/oauth/authorize",
        data={**fields, "decision": "allow", "account": "new", "username": "x", "name": "Kept Name", "email": "nope"},
    )
    assert response.status_code == 400
    assert "Kept Name" in response.text
    assert "valid email" in response.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_id": "someone-else"}, "Unknown client_id"),
        ({"code_challenge_method": None}, "code_challenge_method is required"),
        ({"code_challenge_method": "plain"}, "only S256"),
        ({"code_challenge": None}, "code_challenge is required"),
        ({"response_type": "token"}, "response_type"),
        ({"redirect_uri": "javascript:alert(1)"}, "redirect_uri"),
    ],
)
def test_bad_authorization_requests_get_an_error_page(
    whop_http, whop_api_base, whop_config, whop_sink, change, message
):
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=").decode()
    params = {
        "client_id": whop_config["WHOP_CLIENT_ID"],
        "redirect_uri": whop_sink.url + "/callback",
        "response_type": "code",
        "scope": "openid profile email",
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(change)
    params = {k: v for k, v in params.items() if v is not None}
    response = whop_http.get(whop_api_base + "/oauth/authorize", params=params)
    assert response.status_code == 400
    assert message in response.text
    assert "location" not in response.headers


def test_refresh_rotates_and_old_refresh_token_is_rejected(whop_signed_in, whop_api_base):
    client, token, _ = whop_signed_in
    first_refresh = token["refresh_token"]
    refreshed = client.refresh_token(whop_api_base + "/oauth/token", refresh_token=first_refresh)
    assert refreshed["refresh_token"] != first_refresh
    assert refreshed["access_token"] != token["access_token"]
    assert client.get(whop_api_base + "/oauth/userinfo").status_code == 200

    with pytest.raises(OAuthError) as excinfo:
        client.refresh_token(whop_api_base + "/oauth/token", refresh_token=first_refresh)
    assert excinfo.value.error == "invalid_grant"

    # Reusing a rotated token ends the whole grant, including the newest tokens.
    with pytest.raises(OAuthError):
        client.refresh_token(whop_api_base + "/oauth/token", refresh_token=refreshed["refresh_token"])


def test_client_secret_post_and_bad_client_credentials(whop_http, whop_api_base, whop_signed_in, whop_config):
    _, token, _ = whop_signed_in
    data = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}

    wrong = whop_http.post(
        whop_api_base + "/oauth/token",
        data={**data, "client_id": whop_config["WHOP_CLIENT_ID"], "client_secret": "wrong"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"

    ok = whop_http.post(
        whop_api_base + "/oauth/token",
        data={**data, "client_id": whop_config["WHOP_CLIENT_ID"], "client_secret": whop_config["WHOP_CLIENT_SECRET"]},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["refresh_token"] != token["refresh_token"]

    unsupported = whop_http.post(
        whop_api_base + "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": whop_config["WHOP_CLIENT_ID"],
            "client_secret": whop_config["WHOP_CLIENT_SECRET"],
        },
    )
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_userinfo_rejects_missing_and_unknown_tokens(whop_http, whop_api_base):
    assert whop_http.get(whop_api_base + "/oauth/userinfo").status_code == 401
    response = whop_http.get(whop_api_base + "/oauth/userinfo", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert "invalid_token" in response.headers["www-authenticate"]


def test_authlib_flask_registration_signs_in_and_verifies_the_id_token(
    whop_api_base, whop_config, whop_authorize, whop_user
):
    """``oauth_client_kwargs`` is enough for Authlib's Flask client to complete OIDC sign-in."""
    from authlib.integrations.flask_client import OAuth

    app = Flask(__name__)
    app.secret_key = "whop-test"
    oauth = OAuth(app)
    oauth.register(
        "whop",
        client_id=whop_config["WHOP_CLIENT_ID"],
        client_secret=whop_config["WHOP_CLIENT_SECRET"],
        **oauth_client_kwargs(whop_api_base),
    )

    @app.get("/login")
    def login():
        return oauth.whop.authorize_redirect("http://tradepost.test/callback")

    @app.get("/callback")
    def callback():
        token = oauth.whop.authorize_access_token()
        session["sub"] = token["userinfo"]["sub"]
        return jsonify(sub=token["userinfo"]["sub"], nonce=token["userinfo"]["nonce"])

    with app.test_client() as browser:
        start = browser.get("/login")
        assert start.status_code == 302
        assert "code_challenge_method=S256" in start.location
        assert "nonce=" in start.location
        location, _ = whop_authorize(start.location, account=whop_user["id"])
        assert location.startswith("http://tradepost.test/callback?")
        done = browser.get("/callback?" + location.split("?", 1)[1])
        assert done.status_code == 200, done.text
        assert done.json["sub"] == whop_user["id"]
