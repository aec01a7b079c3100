"""x-whop-user-token: minted by the emulator, verified by app.integrations.whop."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from app.integrations.whop import WhopTokenError, verify_user_token
from app.sandbox import whop
from app.sandbox.whop import tokens as whop_tokens
from app.sandbox.whop.tokens import mint_user_token


def _verify(token, whop_config, whop_jwks_url, **kwargs):
    return verify_user_token(token, app_id=whop_config["WHOP_APP_ID"], jwks_url=whop_jwks_url, **kwargs)


def test_token_from_json_endpoint_verifies(whop_http, whop_api_base, whop_user, whop_config, whop_jwks_url):
    response = whop_http.post(whop_api_base + "/tokens", json={"user_id": whop_user["id"]})
    assert response.status_code == 200
    claims = _verify(response.json()["token"], whop_config, whop_jwks_url)
    assert claims["sub"] == whop_user["id"]
    assert claims["iss"] == "urn:whopcom:exp-proxy"
    assert claims["aud"] == whop_config["WHOP_APP_ID"]
    assert 0 < claims["exp"] - claims["iat"] <= 300


def test_token_header_names_the_jwks_key(whop_http, whop_api_base, whop_user, whop_jwks_url):
    token = whop_http.post(whop_api_base + "/tokens", json={"user_id": whop_user["id"]}).json()["token"]
    header = jwt.get_unverified_header(token)
    keys = whop_http.get(whop_jwks_url).json()["keys"]
    assert header["alg"] == "ES256"
    assert header["kid"] in {key["kid"] for key in keys}
    assert all(key["kty"] == "EC" and key["crv"] == "P-256" and "d" not in key for key in keys)


def test_tokens_page_shows_a_minted_token(whop_http, whop_api_base, whop_user):
    page = whop_http.get(whop_api_base + "/tokens")
    assert page.status_code == 200 and whop_user["id"] in page.text
    shown = whop_http.post(whop_api_base + "/tokens", data={"user_id": whop_user["id"], "experience_id": "exp_page"})
    assert shown.status_code == 200
    assert 'id="token"' in shown.text
    assert "exp_page" in shown.text


def test_tokens_endpoint_refuses_bad_input(whop_http, whop_api_base):
    response = whop_http.post(whop_api_base + "/tokens", json={"user_id": "admin"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_user_id"
    response = whop_http.post(whop_api_base + "/tokens", json={"user_id": "user_abc", "ttl": 0 - 5})
    assert response.status_code == 422


def test_cli_mint_token(whop_sandbox_app, whop_sandbox_server, whop_user, whop_config, whop_jwks_url):
    result = whop_sandbox_app.test_cli_runner().invoke(args=["whop", "mint-token", whop_user["id"]])
    assert result.exit_code == 0, result.output
    assert _verify(result.output.strip(), whop_config, whop_jwks_url)["sub"] == whop_user["id"]


def test_expired_token_is_refused(whop_sandbox_app, whop_user, whop_config, whop_jwks_url):
    with whop_sandbox_app.app_context():
        token = mint_user_token(whop_user["id"], whop_config["WHOP_APP_ID"], ttl=-60)
    with pytest.raises(WhopTokenError) as excinfo:
        _verify(token, whop_config, whop_jwks_url)
    assert excinfo.value.reason == "token expired"


def test_leeway_tolerates_small_clock_skew(whop_sandbox_app, whop_user, whop_config, whop_jwks_url):
    with whop_sandbox_app.app_context():
        token = mint_user_token(whop_user["id"], whop_config["WHOP_APP_ID"], ttl=-3)
    assert _verify(token, whop_config, whop_jwks_url, leeway=10)["sub"] == whop_user["id"]


def test_token_for_another_app_is_refused(whop_http, whop_api_base, whop_user, whop_config, whop_jwks_url):
    token = whop_http.post(
        whop_api_base + "/tokens", json={"user_id": whop_user["id"], "app_id": "app_someone_else"}
    ).json()["token"]
    with pytest.raises(WhopTokenError) as excinfo:
        _verify(token, whop_config, whop_jwks_url)
    assert excinfo.value.reason == "token is for another app"


def _forged(kid: str, whop_config, sub: str, **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": "urn:whopcom:exp-proxy",
        "sub": sub,
        "aud": whop_config["WHOP_APP_ID"],
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": kid})


def test_token_signed_by_another_key_is_refused(whop_http, whop_user, whop_config, whop_jwks_url):
    real_kid = whop_http.get(whop_jwks_url).json()["keys"][0]["kid"]
    with pytest.raises(WhopTokenError) as excinfo:
        _verify(_forged(real_kid, whop_config, whop_user["id"]), whop_config, whop_jwks_url)
    assert excinfo.value.reason == "bad signature"

    with pytest.raises(WhopTokenError) as excinfo:
        _verify(_forged("kid_nobody_published", whop_config, whop_user["id"]), whop_config, whop_jwks_url)
    assert excinfo.value.reason == "unknown signing key"


@pytest.mark.parametrize(
    "token",
    [None, "", "not-a-jwt", jwt.encode({"sub": "user_x"}, "k" * 32, algorithm="HS256", headers={"kid": "x"})],
)
def test_malformed_or_wrong_algorithm_tokens_are_refused(token, whop_config, whop_jwks_url):
    with pytest.raises(WhopTokenError):
        _verify(token, whop_config, whop_jwks_url)


def test_wrong_issuer_is_refused(whop_sandbox_app, whop_user, whop_config, whop_jwks_url):
    with whop_sandbox_app.app_context():
        good = mint_user_token(whop_user["id"], whop_config["WHOP_APP_ID"])
    kid = jwt.get_unverified_header(good)["kid"]
    # Re-sign with the sandbox key itself but a different issuer.
    with whop_sandbox_app.app_context():
        bad = whop_tokens.sign(
            {
                "iss": "https://evil.example",
                "sub": whop_user["id"],
                "aud": whop_config["WHOP_APP_ID"],
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
            }
        )
    assert jwt.get_unverified_header(bad)["kid"] == kid
    with pytest.raises(WhopTokenError) as excinfo:
        _verify(bad, whop_config, whop_jwks_url)
    assert excinfo.value.reason == "unexpected issuer"


def test_unreachable_jwks_is_a_token_error(whop_sandbox_app, whop_user, whop_config):
    with whop_sandbox_app.app_context():
        token = mint_user_token(whop_user["id"], whop_config["WHOP_APP_ID"])
    with pytest.raises(WhopTokenError) as excinfo:
        verify_user_token(token, app_id=whop_config["WHOP_APP_ID"], jwks_url="http://127.0.0.1:9/jwks.json")
    assert excinfo.value.reason == "signing keys unavailable"


def test_signing_key_survives_a_restart(whop_sandbox_app, whop_http, whop_jwks_url):
    """A second sandbox app on the same database publishes the same key."""
    restarted = Flask(__name__)
    restarted.config.update(SANDBOX_DATABASE=whop_sandbox_app.config["SANDBOX_DATABASE"])
    whop.init_app(restarted)
    keys_after = restarted.test_client().get("/whop/.well-known/jwks.json").get_json()["keys"]
    assert keys_after == whop_http.get(whop_jwks_url).json()["keys"]
