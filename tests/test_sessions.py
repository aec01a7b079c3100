"""Signed-in sessions: sign-out really ends a session, everywhere and on password change too.

Each browser is its own test client (or httpx client against the live server); "copying a
cookie" gives another client the exact cookie value a browser held, as an attacker who stole
it would use it. A browser counts as signed in when /account/security answers 200; signed
out when it is sent to sign-in.
"""

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import func, inspect, select

from app.clock import now
from app.models import AuditEvent, User, UserSession
from app.queue import enqueue
from app.services.sessions import hash_session_token, summarize_user_agent
from tests.factories import PASSWORD
from tests.forms import CSRF_INPUT, CSRF_META, post_form, sign_in_with_whop, signed_in
from tests.queries import statements_during

NEW_PASSWORD = "a-brand-new-password"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


# --------------------------------------------------------------------------- helpers


def sign_in_as(client, user, password=PASSWORD, remember=False, **request_kwargs):
    data = {"email": user.email, "password": password}
    if remember:
        data["remember"] = "y"
    response = post_form(client, "/signin", data, **request_kwargs)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return response


def cookie(client, name):
    found = client.get_cookie(name)
    return found.value if found is not None else None


def browser_with(app, **cookies):
    """A new browser holding copies of the given cookies (and nothing else)."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


def sessions_of(db, user):
    db.session.expire_all()
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)).all()


def active_sessions(db, user):
    return [row for row in sessions_of(db, user) if row.revoked_at is None and row.expires_at > now()]


def audit_rows(db, action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def audit_count(db):
    return db.session.scalar(select(func.count(AuditEvent.id)))


def field_error(body, name):
    """True when the re-rendered form marks field `name` as wrong."""
    return re.search(rf'<div class="field has-error">\s*<label for="{name}"', body) is not None


# --------------------------------------------------------------------------- sign-in


def test_sign_in_starts_a_session_whose_random_token_is_in_the_cookie(client, db, make_user):
    user = make_user()
    sign_in_as(client, user, headers={"User-Agent": FIREFOX}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    [row] = sessions_of(db, user)
    with client.session_transaction() as session:
        token = session["_user_id"]
    assert token != str(user.id) and len(token) >= 40
    assert row.token_hash == hash_session_token(token) and token not in row.token_hash
    assert (row.sign_in_method, row.remember, row.ip_address, row.user_agent) == (
        "password",
        False,
        "203.0.113.9",
        "Firefox on Linux",
    )
    assert row.revoked_at is None
    assert row.expires_at - row.created_at == timedelta(hours=8)
    assert cookie(client, "remember_token") is None
    assert signed_in(client)


def test_sign_up_starts_a_session_too(client, db):
    response = post_form(
        client, "/signup", {"email": "new@example.com", "password": "long-enough-pw", "intent": "hire"}
    )
    assert response.status_code == 303
    user = db.session.scalar(select(User).where(User.email == "new@example.com"))
    assert [row.sign_in_method for row in active_sessions(db, user)] == ["sign_up"]
    assert signed_in(client)


def test_sign_in_rotates_the_session_and_its_csrf_token(app, client, db, make_user):
    user = make_user()
    client.get("/signin")
    before = cookie(client, "session")
    with client.session_transaction() as session:
        csrf_before = session["csrf_token"]
    sign_in_as(client, user)
    client.get("/account/security")
    with client.session_transaction() as session:
        assert session["csrf_token"] != csrf_before
    # Whoever held the cookie from before sign-in holds an anonymous session still.
    assert not signed_in(browser_with(app, session=before))
    # A second sign-in is a new session with a new token.
    first_token = cookie(client, "session")
    post_form(client, "/signout")
    sign_in_as(client, user)
    rows = sessions_of(db, user)
    assert len(rows) == 2 and rows[0].token_hash != rows[1].token_hash
    assert not signed_in(browser_with(app, session=first_token))
    assert signed_in(client)


def test_cookies_made_before_per_session_tokens_sign_nobody_in(app, client, db, make_user):
    """The old cookies carried the user id; after this change that is no session at all."""
    user = make_user()
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
    assert not signed_in(client)
    with app.test_request_context():
        old_remember = encode_cookie(str(user.id))
    assert not signed_in(browser_with(app, remember_token=old_remember))


# --------------------------------------------------------------------------- sign-out


def test_copied_session_cookie_is_refused_after_sign_out(app, client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    stolen = browser_with(app, session=cookie(client, "session"))
    assert signed_in(stolen)

    assert post_form(client, "/signout").status_code == 303
    assert not signed_in(client)
    assert not signed_in(stolen)
    [row] = sessions_of(db, user)
    assert row.revoked_reason == "sign_out" and row.revoked_at is not None
    [audit] = audit_rows(db, "auth.sign_out")
    assert audit.actor_user_id == user.id and audit.data == {"session_id": row.id}


def test_copied_remember_cookie_is_refused_after_sign_out(app, client, db, make_user):
    user = make_user()
    sign_in_as(client, user, remember=True)
    remember = cookie(client, "remember_token")
    assert remember and hash_session_token(remember.split("|")[0]) == sessions_of(db, user)[0].token_hash
    # The session cookie removed: the remember cookie alone signs in, while the session lasts.
    assert signed_in(browser_with(app, remember_token=remember))

    post_form(client, "/signout")
    stolen = browser_with(app, remember_token=remember)
    response = stolen.get("/account/security")
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")
    # ...and the dead cookie is deleted from the browser that sent it.
    assert any(header.startswith("remember_token=;") for header in response.headers.getlist("Set-Cookie"))
    assert cookie(stolen, "remember_token") is None
    assert not signed_in(browser_with(app, remember_token=remember))


def test_remember_cookie_and_session_last_30_days(client, db, make_user):
    user = make_user()
    response = sign_in_as(client, user, remember=True)
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", header).group(1))
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs(expires - expected) < timedelta(minutes=2)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    [row] = sessions_of(db, user)
    assert row.remember and row.expires_at - row.created_at == timedelta(days=30)


def test_sign_out_everywhere_ends_every_session_of_the_user_only(app, client, db, make_user):
    user, bystander = make_user(), make_user()
    sign_in_as(client, user)
    laptop, phone, theirs = app.test_client(), app.test_client(), app.test_client()
    sign_in_as(laptop, user, remember=True)
    sign_in_as(phone, user)
    sign_in_as(theirs, bystander)
    laptop_remember = cookie(laptop, "remember_token")

    response = post_form(client, "/account/security/sign-out-everywhere")
    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert not signed_in(client) and not signed_in(laptop) and not signed_in(phone)
    assert not signed_in(browser_with(app, remember_token=laptop_remember))
    assert signed_in(theirs)
    assert {row.revoked_reason for row in sessions_of(db, user)} == {"sign_out_everywhere"}
    [audit] = audit_rows(db, "auth.sign_out_everywhere")
    assert audit.actor_user_id == user.id and audit.data == {"sessions_ended": 3}


def test_sign_out_everywhere_needs_the_csrf_token(client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    assert client.post("/account/security/sign-out-everywhere").status_code == 400
    assert signed_in(client) and len(active_sessions(db, user)) == 1


# --------------------------------------------------------------------------- per-session sign-out


def test_security_page_lists_active_sessions_and_marks_this_device(app, client, db, make_user):
    user = make_user()
    sign_in_as(client, user, headers={"User-Agent": FIREFOX}, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    phone = app.test_client()
    sign_in_as(phone, user, remember=True, headers={"User-Agent": IPHONE}, environ_base={"REMOTE_ADDR": "192.0.2.44"})
    ended = app.test_client()
    sign_in_as(ended, user)
    post_form(ended, "/signout")

    page = client.get("/account/security").get_data(as_text=True)
    rows = re.findall(r'<tr id="session-(\d+)">(.*?)</tr>', page, re.S)
    assert len(rows) == 2
    by_device = {("Firefox on Linux" in html): html for _, html in rows}
    assert "198.51.100.7" in by_device[True] and "This device" in by_device[True]
    assert "Safari on iPhone" in by_device[False] and "192.0.2.44" in by_device[False]
    assert "This device" not in by_device[False] and "Kept signed in" in by_device[False]
    assert "Sign out everywhere" in page
    assert "8 hours without activity" in page and "30 days after signing in" in page


def test_signing_out_another_of_my_sessions(app, client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    other = app.test_client()
    sign_in_as(other, user)
    other_row = sessions_of(db, user)[1]

    response = post_form(client, f"/account/security/sessions/{other_row.id}/revoke")
    assert response.status_code == 303 and response.headers["Location"] == "/account/security"
    assert not signed_in(other) and signed_in(client)
    assert sessions_of(db, user)[1].revoked_reason == "revoked"
    [audit] = audit_rows(db, "auth.session_revoked")
    assert audit.actor_user_id == user.id and audit.data == {"session_id": other_row.id}
    # Ending it again: it is no longer an active session of mine.
    assert post_form(client, f"/account/security/sessions/{other_row.id}/revoke").status_code == 404


def test_signing_out_this_session_from_the_list_signs_this_browser_out(client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    [row] = sessions_of(db, user)
    response = post_form(client, f"/account/security/sessions/{row.id}/revoke")
    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert not signed_in(client)


@pytest.mark.parametrize(
    "session_id", ["other-users", "unknown", "99999999999999999999", "-1", "abc", "1.5", "%00", "0"]
)
def test_revoking_a_session_that_is_not_mine_is_404(app, client, db, make_user, session_id):
    user, victim = make_user(), make_user()
    theirs = app.test_client()
    sign_in_as(theirs, victim)
    sign_in_as(client, user)
    victim_row = sessions_of(db, victim)[0]
    path_id = {"other-users": str(victim_row.id), "unknown": str(victim_row.id + 1000)}.get(session_id, session_id)
    audits = audit_count(db)

    response = post_form(client, f"/account/security/sessions/{path_id}/revoke")
    assert response.status_code == 404
    assert signed_in(theirs) and signed_in(client)
    assert len(active_sessions(db, victim)) == 1 and len(active_sessions(db, user)) == 1
    assert audit_count(db) == audits


# --------------------------------------------------------------------------- password change


def change_password(client, **overrides):
    data = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    data.update(overrides)
    return post_form(client, "/account/security/password", data)


def test_password_change_ends_other_sessions_and_keeps_this_browser(app, client, db, make_user):
    user = make_user()
    sign_in_as(client, user, remember=True)
    session_before, remember_before = cookie(client, "session"), cookie(client, "remember_token")
    elsewhere = app.test_client()
    sign_in_as(elsewhere, user)

    response = change_password(client)
    assert response.status_code == 303 and response.headers["Location"] == "/account/security"
    assert "1 other session signed out" in client.get("/account/security").get_data(as_text=True)
    assert signed_in(client)
    assert not signed_in(elsewhere)
    # This browser got a fresh session: copies of its cookies from before the change are dead too.
    assert cookie(client, "remember_token") != remember_before
    assert not signed_in(browser_with(app, session=session_before))
    assert not signed_in(browser_with(app, remember_token=remember_before))
    rows = sessions_of(db, user)
    assert [row.revoked_reason for row in rows] == ["password_changed", "password_changed", None]
    assert rows[2].remember and rows[2].sign_in_method == "password"

    assert post_form(app.test_client(), "/signin", {"email": user.email, "password": PASSWORD}).status_code == 401
    sign_in_as(app.test_client(), user, password=NEW_PASSWORD)
    [audit] = audit_rows(db, "auth.password_changed")
    assert audit.actor_user_id == user.id and audit.data == {"sessions_ended": 2}


def test_wrong_current_password_is_refused_and_changes_nothing(app, client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    elsewhere = app.test_client()
    sign_in_as(elsewhere, user)
    password_hash, audits = user.password_hash, audit_count(db)

    response = change_password(client, current_password="not-my-password")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(body, "current_password") and "That isn&#39;t your current password." in body
    db.session.refresh(user)
    assert user.password_hash == password_hash
    assert signed_in(client) and signed_in(elsewhere) and len(active_sessions(db, user)) == 2
    assert audit_count(db) == audits


HOSTILE_PASSWORD_CHANGES = {
    "current-missing": ({"current_password": ""}, "current_password"),
    "current-nul": ({"current_password": PASSWORD + "\x00"}, "current_password"),
    "current-huge": ({"current_password": "x" * 5000}, "current_password"),
    "current-unicode": ({"current_password": "пароль-ünïcødé-🔑"}, "current_password"),
    "new-short": ({"new_password": "short", "confirm_password": "short"}, "new_password"),
    "new-unicode-short": ({"new_password": "🔑" * 9, "confirm_password": "🔑" * 9}, "new_password"),
    "new-nul": ({"new_password": "has-a-nul\x00-inside", "confirm_password": "has-a-nul\x00-inside"}, "new_password"),
    "new-huge": ({"new_password": "y" * 5000, "confirm_password": "y" * 5000}, "new_password"),
    "confirm-differs": ({"confirm_password": NEW_PASSWORD + "!"}, "confirm_password"),
    "confirm-nul": ({"confirm_password": NEW_PASSWORD + "\x00"}, "confirm_password"),
    "confirm-missing": ({"confirm_password": ""}, "confirm_password"),
}


@pytest.mark.parametrize("case", HOSTILE_PASSWORD_CHANGES)
def test_bad_password_change_input_is_refused_naming_the_field(app, client, db, make_user, case):
    overrides, field = HOSTILE_PASSWORD_CHANGES[case]
    user = make_user()
    sign_in_as(client, user)
    elsewhere = app.test_client()
    sign_in_as(elsewhere, user)
    password_hash, audits = user.password_hash, audit_count(db)

    response = change_password(client, **overrides)
    assert 400 <= response.status_code < 500
    body = response.get_data(as_text=True)
    assert field_error(body, field)
    if case.endswith("-nul"):  # the password form checks characters itself (@form_checks_characters)
        assert response.status_code == 422 and "Remove the NUL character." in body
    db.session.refresh(user)
    assert user.password_hash == password_hash
    assert len(active_sessions(db, user)) == 2 and signed_in(elsewhere)
    assert audit_count(db) == audits


def test_unicode_password_can_be_chosen_and_used(app, client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    chosen = "correct-hörse-bättery-🔑"
    assert change_password(client, new_password=chosen, confirm_password=chosen).status_code == 303
    sign_in_as(app.test_client(), user, password=chosen)


def test_password_change_attempts_are_rate_limited_per_user(client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    statuses = [change_password(client, current_password=f"guess-number-{i}").status_code for i in range(10)]
    assert statuses == [422] * 10
    response = change_password(client)
    assert response.status_code == 429
    assert audit_rows(db, "auth.password_changed") == []


def test_whop_only_account_has_no_password_to_change(client, db, whop):
    sign_in_with_whop(client, whop.make_user())
    user = db.session.scalar(select(User).order_by(User.id.desc()))
    page = client.get("/account/security").get_data(as_text=True)
    assert "you sign in with Whop" in page and 'name="new_password"' not in page
    response = change_password(client, current_password="anything-at-all")
    assert response.status_code == 422 and "no password yet" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.password_hash is None and len(active_sessions(db, user)) == 1


# --------------------------------------------------------------------------- lifetimes and per-request cost


def test_plain_session_ends_after_eight_idle_hours(client, db, make_user, clock):
    user = make_user()
    sign_in_as(client, user)
    clock(timedelta(hours=7))
    assert signed_in(client)  # activity slides the idle expiry: now 7 h + 8 h
    [row] = sessions_of(db, user)
    assert row.last_seen_at == now() and row.expires_at == now() + timedelta(hours=8)
    clock(timedelta(hours=14, minutes=59))
    assert signed_in(client)
    clock(timedelta(hours=14, minutes=59) + timedelta(hours=8, minutes=1))
    assert not signed_in(client)


def test_plain_session_ends_after_seven_days_even_when_used(client, db, make_user, clock):
    user = make_user()
    sign_in_as(client, user)
    for hours in range(7, 7 * 24, 7):
        clock(timedelta(hours=hours))
        assert signed_in(client), hours
    clock(timedelta(days=7, minutes=1))
    assert not signed_in(client)


def test_remembered_session_lasts_thirty_days_then_ends(app, client, db, make_user, clock):
    user = make_user()
    sign_in_as(client, user, remember=True)
    remember = cookie(client, "remember_token")
    clock(timedelta(days=29, hours=23))
    assert signed_in(browser_with(app, remember_token=remember))
    clock(timedelta(days=30, minutes=1))
    assert not signed_in(browser_with(app, remember_token=remember))
    assert not signed_in(client)


def test_deactivated_users_sessions_stop_working(client, db, make_user):
    user = make_user()
    sign_in_as(client, user, remember=True)
    assert signed_in(client)
    user.active = False
    db.session.commit()
    assert not signed_in(client)


def test_each_request_checks_its_session_with_one_indexed_query(client, db, make_user):
    anonymous = statements_during(lambda: client.get("/healthz"))  # liveness: no query of its own
    assert anonymous == []
    user = make_user()
    sign_in_as(client, user)
    assert client.get("/healthz").status_code == 200

    signed = statements_during(lambda: client.get("/healthz"))
    [check] = signed
    assert check.upper().startswith("SELECT") and "user_sessions" in check and "token_hash" in check
    unique = [c["column_names"] for c in inspect(db.session.connection()).get_unique_constraints("user_sessions")]
    assert ["token_hash"] in unique


def test_last_seen_is_written_at_most_every_five_minutes(client, db, make_user, clock):
    user = make_user()
    sign_in_as(client, user)
    signed_in_at = sessions_of(db, user)[0].last_seen_at

    clock(timedelta(minutes=4))
    quiet = statements_during(lambda: client.get("/healthz"))
    assert not [sql for sql in quiet if sql.upper().startswith("UPDATE")]
    assert sessions_of(db, user)[0].last_seen_at == signed_in_at

    clock(timedelta(minutes=6))
    touched = statements_during(lambda: client.get("/healthz"))
    assert len([sql for sql in touched if sql.upper().startswith("UPDATE user_sessions".upper())]) == 1
    assert sessions_of(db, user)[0].last_seen_at == now()


def test_ended_sessions_are_pruned_after_thirty_days(app, client, db, make_user, run_jobs, clock):
    user = make_user()
    sign_in_as(client, user)
    post_form(client, "/signout")
    sign_in_as(client, user, remember=True)
    clock(timedelta(days=29))
    enqueue("app.tasks.sweeps.prune_user_sessions", queue="scheduled")
    run_jobs()
    assert len(sessions_of(db, user)) == 2
    clock(timedelta(days=31))
    enqueue("app.tasks.sweeps.prune_user_sessions", queue="scheduled")
    run_jobs()
    [kept] = sessions_of(db, user)
    assert kept.remember and kept.revoked_at is None


@pytest.mark.parametrize(
    "raw, summary",
    [
        (FIREFOX, "Firefox on Linux"),
        (IPHONE, "Safari on iPhone"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Safari/537.36 Edg/126.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("python-httpx/0.28.1", "python-httpx"),
        ("\x00<script>", "Unknown device"),
        ("", None),
    ],
)
def test_user_agents_are_stored_as_a_short_summary(raw, summary):
    assert summarize_user_agent(raw) == summary


# --------------------------------------------------------------------------- Whop sign-in


def test_whop_sign_in_starts_a_session_that_sign_out_ends(app, client, db, whop):
    sign_in_with_whop(client, whop.make_user())
    user = db.session.scalar(select(User).order_by(User.id.desc()))
    [row] = active_sessions(db, user)
    assert row.sign_in_method == "whop"
    stolen = browser_with(app, session=cookie(client, "session"))
    assert signed_in(stolen)
    post_form(client, "/signout")
    assert not signed_in(stolen) and not signed_in(client)


def test_whop_sign_in_confirmed_with_the_password_starts_a_session(client, db, whop, make_user):
    user = make_user(email="owner@example.com")
    response = sign_in_with_whop(client, whop.make_user(email="owner@example.com"))
    assert response.headers["Location"] == "/whop/confirm"
    assert active_sessions(db, user) == []
    assert post_form(client, "/whop/confirm", {"password": PASSWORD}).status_code == 303
    assert [row.sign_in_method for row in active_sessions(db, user)] == ["whop"]
    assert signed_in(client)


# --------------------------------------------------------------------------- over real HTTP


@pytest.fixture
def browsers(live_server):
    """browsers(**cookies) → an httpx client on the live app (closed after the test)."""
    made = []

    def make(**cookies):
        browser = httpx.Client(base_url=live_server, cookies=cookies, timeout=10)
        made.append(browser)
        return browser

    yield make
    for browser in made:
        browser.close()


def http_sign_in(browser, email, remember=False, password=PASSWORD):
    token = CSRF_INPUT.search(browser.get("/signin").text)
    data = {"email": email, "password": password, "csrf_token": token.group(1) or token.group(2)}
    if remember:
        data["remember"] = "y"
    response = browser.post("/signin", data=data)
    assert response.status_code == 303, response.text[:300]


def http_post(browser, path, data=None):
    token = CSRF_META.search(browser.get("/account/security").text).group(1)
    return browser.post(path, data={"csrf_token": token, **(data or {})})


def committed_user_email(db, make_user):
    """A committed user's email, with the test's own transaction closed again: on SQLite an
    open one would hold the write lock the live server needs."""
    email = make_user().email
    db.session.rollback()
    return email


@pytest.mark.committed
def test_over_http_copied_cookies_stop_working_at_sign_out(db, make_user, browsers):
    email = committed_user_email(db, make_user)
    owner = browsers()
    http_sign_in(owner, email, remember=True)
    session_copy = browsers(session=owner.cookies["session"])
    remember_copy = browsers(remember_token=owner.cookies["remember_token"])
    assert signed_in(session_copy) and signed_in(remember_copy)

    assert http_post(owner, "/signout").status_code == 303
    assert not signed_in(owner)
    assert not signed_in(session_copy)
    assert not signed_in(remember_copy)


@pytest.mark.committed
def test_over_http_sign_out_everywhere_and_password_change(db, make_user, browsers):
    email = committed_user_email(db, make_user)
    laptop, phone, tablet = browsers(), browsers(), browsers()
    for browser in (laptop, phone, tablet):
        http_sign_in(browser, email)

    response = http_post(
        laptop,
        "/account/security/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert response.status_code == 303
    assert signed_in(laptop) and not signed_in(phone) and not signed_in(tablet)

    http_sign_in(phone, email, password=NEW_PASSWORD)
    assert http_post(phone, "/account/security/sign-out-everywhere").status_code == 303
    assert not signed_in(phone) and not signed_in(laptop)
    assert db.session.scalar(select(func.count(UserSession.id)).where(UserSession.revoked_at.is_(None))) == 0


def test_the_session_lookup_brings_the_users_seller_company_in_the_same_statement(client, db, make_seller, sign_in):
    owner, _ = make_seller(title="Lookup Studio")
    sign_in(owner)
    client.get("/")  # the first request of the session records activity
    db.session.expire_all()
    pages = []
    statements = statements_during(lambda: pages.append(client.get("/")))
    assert pages[0].status_code == 200 and ">Selling<" in pages[0].get_data(as_text=True)
    lookups = [s for s in statements if "FROM users" in s and "user_sessions" in s]
    assert len(lookups) == 1 and "company_members" in lookups[0] and "companies" in lookups[0]
    assert not [s for s in statements if s.startswith("SELECT company_members")], statements
