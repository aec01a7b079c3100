"""Sign-up, sign-in, sign-out: the successes and every refusal a person can hit."""

import re

from sqlalchemy import func, select

from app.models import AuditEvent, User
from tests.factories import PASSWORD
from tests.forms import csrf_token, post_form


def count_users(db):
    return db.session.scalar(select(func.count()).select_from(User))


def audit_actions(db):
    return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_sign_up_creates_account_and_signs_in(client, db):
    response = post_form(
        client,
        "/signup",
        {"display_name": "Ana", "email": " Ana@Example.COM ", "password": "long-enough-pw", "intent": "hire"},
    )
    assert response.status_code == 303
    user = db.session.scalar(select(User))
    assert user.email == "ana@example.com"
    assert user.password_hash.startswith("$argon2id$")
    assert "long-enough-pw" not in user.password_hash
    page = client.get("/").get_data(as_text=True)
    assert "Welcome to Tradepost, Ana!" in page
    assert "Sign out" in page


def test_sign_up_intent_is_preselected_and_stored(client, db):
    page = client.get("/signup?intent=sell").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="sell"', page)
    post_form(client, "/signup", {"email": "s@example.com", "password": "long-enough-pw", "intent": "sell"})
    assert db.session.scalar(select(User.intent)) == "sell"


def test_sign_up_refuses_bad_email_keeping_input(client, db):
    response = post_form(
        client,
        "/signup",
        {"display_name": "Keep Me", "email": "not-an-email", "password": "long-enough-pw", "intent": "hire"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "not valid" in body or "must have an @-sign" in body
    assert 'value="Keep Me"' in body and 'value="not-an-email"' in body
    assert count_users(db) == 0


def test_sign_up_refuses_short_password(client, db):
    response = post_form(client, "/signup", {"email": "a@example.com", "password": "short", "intent": "hire"})
    assert response.status_code == 422
    assert "Use at least 10 characters." in response.get_data(as_text=True)
    assert 'value="a@example.com"' in response.get_data(as_text=True)
    assert count_users(db) == 0


def test_sign_up_refuses_duplicate_email_case_insensitively(client, db, make_user):
    make_user(email="taken@example.com")
    response = post_form(
        client, "/signup", {"email": "TAKEN@example.com", "password": "long-enough-pw", "intent": "hire"}
    )
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert count_users(db) == 1


def test_sign_up_refuses_unknown_intent(client, db):
    response = post_form(client, "/signup", {"email": "a@example.com", "password": "long-enough-pw", "intent": "admin"})
    assert response.status_code == 422
    assert count_users(db) == 0


def test_post_without_csrf_token_is_refused(client, db):
    response = client.post("/signup", data={"email": "a@example.com", "password": "long-enough-pw", "intent": "hire"})
    assert response.status_code == 400
    assert count_users(db) == 0


def test_htmx_post_with_csrf_header_is_accepted(client, db):
    token = csrf_token(client)
    response = client.post(
        "/signup",
        data={"email": "h@example.com", "password": "long-enough-pw", "intent": "hire"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert response.status_code == 303
    assert count_users(db) == 1


def test_sign_in_success_is_audited(client, db, make_user):
    user = make_user(email="me@example.com")
    response = post_form(client, "/signin", {"email": "ME@example.com", "password": PASSWORD})
    assert response.status_code == 303
    assert audit_actions(db)[-1] == "auth.sign_in"
    assert db.session.get(User, user.id).last_sign_in_at is not None


def test_wrong_password_shows_error_and_is_audited_without_password(client, db, make_user):
    make_user(email="me@example.com")
    response = post_form(client, "/signin", {"email": "me@example.com", "password": "wrong-password-x"})
    assert response.status_code == 401
    assert "don&#39;t match an account" in response.get_data(as_text=True)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.sign_in_failed")).one()
    assert event.data == {"email": "me@example.com"}
    assert "wrong-password-x" not in repr(event.data)
    assert "Sign out" not in client.get("/").get_data(as_text=True)


def test_unknown_email_is_refused_the_same_way(client, db):
    response = post_form(client, "/signin", {"email": "ghost@example.com", "password": "whatever-123"})
    assert response.status_code == 401
    assert audit_actions(db) == ["auth.sign_in_failed"]


def test_inactive_user_cannot_sign_in(client, db, make_user):
    make_user(email="gone@example.com", active=False)
    response = post_form(client, "/signin", {"email": "gone@example.com", "password": PASSWORD})
    assert response.status_code == 401


def test_eleventh_sign_in_in_a_minute_is_rate_limited_per_ip(client, db):
    token = csrf_token(client)
    statuses = [
        client.post(
            "/signin", data={"email": f"x{i}@example.com", "password": "nope-nope-nope", "csrf_token": token}
        ).status_code
        for i in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    response = client.post("/signin", data={"email": "y@example.com", "password": "x", "csrf_token": token})
    assert response.status_code == 429
    assert "Slow down a little" in response.get_data(as_text=True)
    assert "Retry-After" in response.headers


def test_rate_limit_headers_come_only_from_routes_that_carry_a_limit(client, db):
    token = csrf_token(client)
    limited = client.post("/signin", data={"email": "z@example.com", "password": "nope-nope-1", "csrf_token": token})
    assert limited.status_code == 401
    assert limited.headers["X-RateLimit-Limit"] == "10" and limited.headers["X-RateLimit-Remaining"] == "9"
    for unlimited in (client.get("/signin"), client.get("/healthz"), client.get("/no-such-page")):
        assert not [name for name, _ in unlimited.headers if name.startswith("X-RateLimit")]


def test_sign_in_is_rate_limited_per_email_across_ips(client, db, make_user):
    make_user(email="target@example.com")
    token = csrf_token(client)
    statuses = []
    for i in range(11):
        statuses.append(
            client.post(
                "/signin",
                data={"email": "target@example.com", "password": "bad-guess-123", "csrf_token": token},
                environ_base={"REMOTE_ADDR": f"10.0.0.{i + 1}"},
            ).status_code
        )
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429


def test_next_redirects_only_to_our_own_paths(client, db, make_user):
    user = make_user(email="me@example.com")
    for evil in ("https://evil.example", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = post_form(client, f"/signin?next={evil}", {"email": user.email, "password": PASSWORD})
        assert response.status_code in (302, 303)
        assert response.headers["Location"] == "/", evil
        post_form(client, "/signout")
    response = post_form(client, "/signin?next=/healthz", {"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/healthz"


def test_sign_out_requires_post_and_signs_out(client, db, make_user, sign_in):
    user = make_user()
    sign_in(user)
    assert client.get("/signout").status_code == 405
    response = post_form(client, "/signout")
    assert response.status_code == 303
    assert "Sign out" not in client.get("/").get_data(as_text=True)


def test_sign_out_without_csrf_is_refused(client, db, make_user, sign_in):
    sign_in(make_user())
    assert client.post("/signout").status_code == 400
    assert "Sign out" in client.get("/").get_data(as_text=True)


def test_session_cookie_flags(client, db, make_user):
    user = make_user()
    response = post_form(client, "/signin", {"email": user.email, "password": PASSWORD})
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_only_the_test_config_hashes_passwords_cheaply(app):
    """The suite signs up thousands of accounts with argon2's cheapest parameters
    (TestConfig.ARGON2_PROFILE); every other config hashes with the RFC 9106 low-memory ones."""
    from argon2 import extract_parameters, profiles
    from flask import Flask

    from app.config import Config, DevelopmentConfig, ProductionConfig, TestConfig
    from app.services.accounts import hash_password

    def cost(hashed):
        parameters = extract_parameters(hashed)
        return parameters.time_cost, parameters.memory_cost, parameters.parallelism

    assert TestConfig.ARGON2_PROFILE == "CHEAPEST"
    for config in (Config, DevelopmentConfig, ProductionConfig):
        assert getattr(config, "ARGON2_PROFILE", None) is None, config
    elsewhere = Flask(__name__)  # no ARGON2_PROFILE, as every config but the test one
    with elsewhere.app_context():
        strong = cost(hash_password("long-enough-pw"))
    with app.app_context():
        cheap = cost(hash_password("long-enough-pw"))
    rfc, cheapest = profiles.RFC_9106_LOW_MEMORY, profiles.CHEAPEST
    assert strong == (rfc.time_cost, rfc.memory_cost, rfc.parallelism) == (3, 65536, 4)
    assert cheap == (cheapest.time_cost, cheapest.memory_cost, cheapest.parallelism)
