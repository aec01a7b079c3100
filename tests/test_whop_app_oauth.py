"""Continue with Whop: our Authlib client against the sandbox's Whop emulator over real HTTP.

The test client plays the browser on our side; httpx plays it on Whop's authorize page. Each
flow: GET /whop/login → the emulator's authorize page → POST Allow/Deny → the redirect back to
our /whop/callback with code and state → the test client GETs it.
"""

import json
import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from app.models import AuditEvent, User, WhopIdentity
from app.services.whop_accounts import decrypt_token, encrypt_token
from tests import loopback
from tests.factories import PASSWORD
from tests.forms import authorize_on_whop, back_from_whop, csrf_token, post_form, sign_in_with_whop, start_whop_sign_in


def audit_actions(db):
    return [row.action for row in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_authorization_request_uses_pkce_s256_state_nonce_and_scopes(client, db, whop):
    url = start_whop_sign_in(client)
    assert url.startswith(whop.base + "/oauth/authorize?")
    query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    assert query["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["code_challenge"])
    assert query["state"] and query["nonce"]
    assert query["scope"] == "openid profile email"
    assert query["redirect_uri"].endswith("/whop/callback")
    # The verifier stays on the server: the session cookie holds no PKCE secret.
    with client.session_transaction() as session:
        assert "code_verifier" not in json.dumps(dict(session), default=str)


def test_new_whop_user_gets_an_account_and_is_signed_in(client, db, whop):
    whop_user = whop.make_user(name="Nia New")
    response = sign_in_with_whop(client, whop_user)
    assert response.headers["Location"] == "/"

    identity = db.session.scalar(select(WhopIdentity).where(WhopIdentity.whop_user_id == whop_user["id"]))
    assert identity.user.email == whop_user["email"]
    assert identity.user.display_name == "Nia New"
    assert identity.user.password_hash is None
    assert identity.created_via == "oauth"
    assert identity.refresh_token_encrypted and "whop_rt_" not in identity.refresh_token_encrypted
    assert decrypt_token(identity.refresh_token_encrypted).startswith("whop_rt_")
    assert {"auth.sign_up", "auth.whop_sign_in"} <= set(audit_actions(db))
    settings = client.get("/whop/settings").get_data(as_text=True)
    assert f"Linked to @{whop_user['username']}" in settings


def test_returning_whop_user_signs_in_to_the_same_account(client, db, whop):
    whop_user = whop.make_user()
    sign_in_with_whop(client, whop_user)
    client.post("/signout", data={"csrf_token": csrf_token(client, "/whop/settings")})
    users_before = db.session.scalar(select(func.count(User.id)))
    response = sign_in_with_whop(client, whop_user)
    assert response.headers["Location"] == "/"
    assert db.session.scalar(select(func.count(User.id))) == users_before
    assert audit_actions(db).count("auth.whop_sign_in") == 2


def test_existing_account_is_linked_only_after_its_password(client, db, whop, make_user):
    user = make_user(email="owner@example.com")
    whop_user = whop.make_user(email="owner@example.com")
    response = sign_in_with_whop(client, whop_user)
    assert response.headers["Location"] == "/whop/confirm"
    assert db.session.scalar(select(WhopIdentity)) is None

    page = client.get("/whop/confirm").get_data(as_text=True)
    assert "owner@example.com" in page and "already have an account" in page
    wrong = post_form(client, "/whop/confirm", {"password": "not-the-password"})
    assert wrong.status_code == 401
    assert "doesn" in wrong.get_data(as_text=True)
    assert db.session.scalar(select(WhopIdentity)) is None

    right = post_form(client, "/whop/confirm", {"password": PASSWORD})
    assert right.status_code == 303
    identity = db.session.scalar(select(WhopIdentity))
    assert (identity.user_id, identity.whop_user_id) == (user.id, whop_user["id"])
    assert decrypt_token(identity.refresh_token_encrypted).startswith("whop_rt_")
    assert "whop.linked" in audit_actions(db)
    assert "Linked to @" in client.get("/whop/settings").get_data(as_text=True)


def test_denied_consent_lands_on_sign_in_with_a_message(client, db, whop):
    whop_user = whop.make_user()
    location = authorize_on_whop(start_whop_sign_in(client), decision="deny", account=whop_user["id"])
    assert "error=access_denied" in location
    response = back_from_whop(client, location)
    assert response.headers["Location"] == "/signin"
    page = client.get("/signin").get_data(as_text=True)
    assert "You cancelled signing in with Whop" in page
    assert db.session.scalar(select(func.count(WhopIdentity.id))) == 0


def test_state_mismatch_is_refused_with_a_message(client, db, whop):
    whop_user = whop.make_user()
    location = authorize_on_whop(start_whop_sign_in(client), account=whop_user["id"])
    forged = re.sub(r"state=[^&]+", "state=forged-state", location)
    response = back_from_whop(client, forged)
    assert response.headers["Location"] == "/signin"
    assert "expired or was started in another window" in client.get("/signin").get_data(as_text=True)
    assert db.session.scalar(select(func.count(WhopIdentity.id))) == 0


def test_callback_from_another_browser_is_refused(app, client, db, whop):
    whop_user = whop.make_user()
    location = authorize_on_whop(start_whop_sign_in(client), account=whop_user["id"])
    other_browser = app.test_client()
    response = back_from_whop(other_browser, location)
    assert response.headers["Location"] == "/signin"
    assert "another window" in other_browser.get("/signin").get_data(as_text=True)


def test_tampered_pkce_verifier_fails_gracefully(app, client, db, whop):
    whop_user = whop.make_user()
    url = start_whop_sign_in(client)
    state = parse_qs(urlsplit(url).query)["state"][0]
    redis = app.extensions["redis"]
    key = f"tp:whop-oauth:_state_whop_{state}"
    stored = json.loads(redis.get(key))
    stored["data"]["code_verifier"] = "x" * 64
    redis.set(key, json.dumps(stored))

    response = back_from_whop(client, authorize_on_whop(url, account=whop_user["id"]))
    assert response.headers["Location"] == "/signin"
    assert "Whop couldn" in client.get("/signin").get_data(as_text=True)
    assert db.session.scalar(select(func.count(WhopIdentity.id))) == 0


def test_signed_in_user_links_and_unlinks_whop_in_settings(client, db, whop, make_user, sign_in):
    user = make_user()
    sign_in(user)
    assert "Link Whop account" in client.get("/whop/settings").get_data(as_text=True)
    whop_user = whop.make_user()
    location = authorize_on_whop(start_whop_sign_in(client, "/whop/link", method="post"), account=whop_user["id"])
    response = back_from_whop(client, location)
    assert response.headers["Location"] == "/whop/settings"
    identity = db.session.scalar(select(WhopIdentity))
    assert (identity.user_id, identity.whop_user_id) == (user.id, whop_user["id"])

    response = post_form(client, "/whop/unlink")
    assert response.status_code == 303
    assert db.session.scalar(select(WhopIdentity)) is None
    assert {"whop.linked", "whop.unlinked"} <= set(audit_actions(db))
    assert "Whop is unlinked" in client.get("/whop/settings").get_data(as_text=True)


def test_whop_account_linked_elsewhere_cannot_be_linked_again(client, db, whop, make_user, sign_in):
    whop_user = whop.make_user()
    other = make_user()
    db.session.add(WhopIdentity(user_id=other.id, whop_user_id=whop_user["id"], created_via="oauth"))
    db.session.commit()
    sign_in(make_user())
    location = authorize_on_whop(start_whop_sign_in(client, "/whop/link", method="post"), account=whop_user["id"])
    response = back_from_whop(client, location)
    assert response.headers["Location"] == "/whop/settings"
    assert "linked to another Tradepost account" in client.get("/whop/settings").get_data(as_text=True)
    assert db.session.scalar(select(func.count(WhopIdentity.id))) == 1


def test_whop_only_account_cannot_unlink_its_only_sign_in(client, db, whop):
    sign_in_with_whop(client, whop.make_user())
    response = post_form(client, "/whop/unlink")
    assert response.status_code == 303
    assert "can't be removed" in client.get("/whop/settings").get_data(as_text=True).replace("&#39;", "'")
    assert db.session.scalar(select(func.count(WhopIdentity.id))) == 1


def test_profile_refresh_rotates_the_stored_refresh_token(client, db, whop):
    sign_in_with_whop(client, whop.make_user())
    identity = db.session.scalar(select(WhopIdentity))
    first = decrypt_token(identity.refresh_token_encrypted)

    response = post_form(client, "/whop/sync")
    assert response.status_code == 303
    db.session.refresh(identity)
    second = decrypt_token(identity.refresh_token_encrypted)
    assert second.startswith("whop_rt_") and second != first
    assert "up to date" in client.get("/whop/settings").get_data(as_text=True)

    # The rotated-out token is dead: replaying it revokes the grant at Whop...
    replay = loopback.post(
        whop.base + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first},
        auth=("tradepost-dev-client", "tradepost-dev-client-secret"),
    )
    assert replay.json()["error"] == "invalid_grant"
    # ...so the next refresh is refused, and we forget the token and ask to reconnect.
    post_form(client, "/whop/sync")
    db.session.refresh(identity)
    assert identity.refresh_token_encrypted is None
    assert "reconnect" in client.get("/whop/settings").get_data(as_text=True)


def test_refresh_tokens_are_encrypted_with_the_configured_key(app, db):
    ciphertext = encrypt_token("whop_rt_secret")
    assert "whop_rt_secret" not in ciphertext
    assert decrypt_token(ciphertext) == "whop_rt_secret"
    assert decrypt_token("not-a-fernet-token") is None
