"""The identity cache (app/identity_cache.py): a warm signed-in request runs no SQL for its
session, and every change that ends or narrows a sign-in still counts on the very next request.

Each refusal is tested with the refused browser's cache warm first (`warm` proves it: a request
that sends no session SQL). "Another process" is a second app instance sharing the suite's
Redis; "Redis down" is a redis-server process stopped for real.
"""

import logging
from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import select

from app import create_app, identity_cache
from app.clock import now
from app.devredis import start_redis_server
from app.extensions import db as _db
from app.local_cache import LocalCache
from app.models import CompanyMember, User, UserSession
from app.services.legends.game import join_game
from app.services.notifications import notify_user
from app.services.sessions import revoke_user_sessions
from app.session_auth import forget_session, signed_in_user_id
from tests.database import make_test_config
from tests.factories import PASSWORD
from tests.forms import post_form, sign_in_as, signed_in
from tests.legends_game import class_id, game_for
from tests.processes import free_port
from tests.queries import statements_during


def session_sql(statements):
    return [s for s in statements if "user_sessions" in s]


def warm(client, path="/healthz"):
    """Request `path` until the session comes from the cache (at most three times: the first
    sight of a session in a process and the next one run the lookup query); returns the
    statements of the warm request."""
    responses = []
    for _ in range(3):
        statements = statements_during(lambda: responses.append(client.get(path)))
        assert responses[-1].status_code == 200, (path, responses[-1].status_code)
        if not session_sql(statements):
            return statements
    raise AssertionError(f"{path} never came from the identity cache: {statements}")


def browser(app, who):
    other = app.test_client()
    sign_in_as(other, who)
    return other


def remembered(client, who):
    """Sign in with "Keep me signed in" ticked."""
    response = post_form(client, "/signin", {"email": who.email, "password": PASSWORD, "remember": "y"})
    assert response.status_code == 303


# --------------------------------------------------------------------------- the warm path


def test_a_warm_signed_in_request_runs_no_sql_for_its_session(client, db, make_seller, sign_in):
    owner, _ = make_seller(title="Warm Studio")
    sign_in(owner)
    assert warm(client, "/healthz") == []  # the anonymous floor: nothing at all
    warm(client, "/account")
    page = statements_during(lambda: client.get("/account"))
    assert not [s for s in page if "FROM notifications" in s or "user_sessions" in s]  # nor the bell's count
    body = client.get("/sell/").get_data(as_text=True)
    assert "Warm Studio" in body and owner.display_name in body


def test_a_new_notification_counts_on_the_next_page(client, db, make_user, sign_in):
    user = make_user()
    sign_in(user)
    warm(client, "/account")
    assert 'data-unread="1"' not in client.get("/").get_data(as_text=True)
    notify_user(user, "test", "Something happened")
    db.session.commit()
    assert 'data-unread="1"' in client.get("/").get_data(as_text=True)


def test_the_cache_is_bounded_in_size_and_age():
    cache = LocalCache(2, 60)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now the most recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)
    aged = LocalCache(2, 0)
    aged.put("a", 1)
    assert aged.get("a") is None
    off = LocalCache(0, 60)
    off.put("a", 1)
    assert off.get("a") is None


# --------------------------------------------------------------------------- refusals, cache warm


def test_a_session_revoked_from_another_browser_is_refused_on_its_next_request(app, client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    phone = browser(app, user)
    warm(phone)
    phone_row = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id.desc())
    ).first()
    assert post_form(client, f"/account/security/sessions/{phone_row.id}/revoke").status_code == 303
    assert not signed_in(phone) and signed_in(client)


def test_sessions_revoked_by_a_service_are_refused_on_their_next_request(client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    warm(client)
    revoke_user_sessions(user, "revoked")
    db.session.commit()
    assert not signed_in(client)


def test_a_password_changed_elsewhere_ends_this_warm_session(app, client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    phone = browser(app, user)
    warm(phone)
    new = "an-entirely-new-password"
    form = {"current_password": PASSWORD, "new_password": new, "confirm_password": new}
    assert post_form(client, "/account/security/password", form).status_code == 303
    assert not signed_in(phone) and signed_in(client)


def test_a_deactivated_user_is_refused_on_the_next_request(client, db, make_user):
    user = make_user()
    remembered(client, user)
    warm(client)
    user.active = False
    db.session.commit()
    assert not signed_in(client)


def test_an_expired_session_is_refused_though_cached(client, db, make_user, clock):
    user = make_user()
    sign_in_as(client, user)
    clock(timedelta(minutes=1))
    warm(client)
    clock(timedelta(hours=8, minutes=2))  # idle past the 8-hour timeout, no request since
    assert not signed_in(client)


def test_activity_is_still_recorded_every_five_minutes_while_cached(client, db, make_user, clock):
    user = make_user()
    sign_in_as(client, user)
    warm(client)
    clock(timedelta(minutes=6))
    touched = statements_during(lambda: client.get("/healthz"))
    assert len([s for s in touched if s.upper().startswith("UPDATE USER_SESSIONS")]) == 1
    db.session.expire_all()
    [row] = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all()
    assert row.last_seen_at == now() and row.expires_at == now() + timedelta(hours=8)
    warm(client)  # and the cache holds the recorded activity: no second write
    assert not [s for s in statements_during(lambda: client.get("/healthz")) if s.startswith("UPDATE")]


def test_a_removed_team_member_loses_seller_access_at_once(app, client, db, make_seller, sign_in):
    owner, company = make_seller()
    member, _ = make_seller(company=company, role="admin")
    colleague = browser(app, member)
    warm(colleague, "/sell/gigs")
    membership = db.session.scalar(select(CompanyMember).where(CompanyMember.user_id == member.id))
    sign_in(owner)

    assert post_form(client, f"/sell/team/members/{membership.id}/role", {"role": "member"}).status_code == 303
    assert colleague.get("/sell/gigs").status_code == 403  # a member may not run gigs
    assert colleague.get("/sell/orders").status_code == 200
    warm(colleague, "/sell/orders")

    assert post_form(client, f"/sell/team/members/{membership.id}/remove").status_code == 303
    response = colleague.get("/sell/orders")
    assert response.status_code == 302 and response.headers["Location"] == "/sell/become"


def test_a_suspended_company_shows_on_its_members_next_page(app, client, db, make_seller, make_user, sign_in):
    owner, company = make_seller(title="Paused Studio")
    seller = browser(app, owner)
    warm(seller, "/sell/")
    sign_in(make_user(is_admin=True))
    form = {"reason": "Unpaid fees"}
    assert post_form(client, f"/admin/companies/{company.id}/suspend", form).status_code == 303
    assert "Paused Studio is suspended by Tradepost: Unpaid fees" in seller.get("/sell/").get_data(as_text=True)


def test_uncommitted_changes_in_the_requests_own_session_are_seen(client, db, make_user):
    """A test shares its session with the requests it makes: a flushed, uncommitted change of
    the user is not hidden behind the cache."""
    user = make_user()
    sign_in_as(client, user)
    warm(client)
    user.active = False
    db.session.flush()
    assert not signed_in(client)


# --------------------------------------------------------------------------- other processes, Redis down


@pytest.fixture
def second_process(app, database_url, redis_url):
    """Another app instance on the suite's database and Redis: another web process."""
    other = create_app(make_test_config(database_url, redis_url, APP_BASE_URL=app.config["APP_BASE_URL"]))
    yield other
    with other.app_context():
        _db.session.remove()
        _db.engine.dispose()


def committed_user(db, make_user):
    user = make_user()
    db.session.commit()
    email = user.email
    db.session.remove()
    return email


@pytest.mark.committed
def test_sign_out_in_one_process_refuses_the_cookie_in_another(app, db, make_user, second_process):
    email = committed_user(db, make_user)
    here = app.test_client()  # its requests run in this test's app context, and session:
    sign_in_as(here, email)
    db.session.remove()  # SQLite: end its transaction, which holds the write lock
    there = second_process.test_client()
    there.set_cookie("session", here.get_cookie("session").value)
    warm(there)
    assert post_form(here, "/signout").status_code == 303
    db.session.remove()
    assert not signed_in(there)


@pytest.fixture
def own_redis_app(app, database_url, tmp_path):
    """An app on the suite's database with a Redis process of its own: (app, stop_redis)."""
    port = free_port()
    process = start_redis_server(port, tmp_path)
    own = create_app(
        make_test_config(database_url, f"redis://127.0.0.1:{port}/0", APP_BASE_URL=app.config["APP_BASE_URL"])
    )

    def stop():
        process.terminate()
        process.wait(timeout=10)

    yield own, stop
    if process.poll() is None:
        stop()
    with own.app_context():
        _db.session.remove()
        _db.engine.dispose()
    from app.extensions import limiter

    limiter.init_app(app)  # the limiter is one shared object: back to the suite's app and Redis
    limiter._storage_dead = False


@pytest.mark.committed
def test_with_redis_down_the_lookup_query_decides(db, make_user, own_redis_app):
    own, stop_redis = own_redis_app
    email = committed_user(db, make_user)
    client = own.test_client()
    sign_in_as(client, email)
    warm(client)
    stop_redis()
    checked = statements_during(lambda: client.get("/healthz"))
    assert client.get("/healthz").status_code == 200 and len(session_sql(checked)) == 1
    with own.app_context():
        user = _db.session.scalar(select(User).where(User.email == email))
        revoke_user_sessions(user, "revoked")  # its generations can't be replaced: Redis is down
        _db.session.commit()
        _db.session.remove()
    assert not signed_in(client)


# --------------------------------------------------------------------------- built only when used


@pytest.fixture
def built(monkeypatch):
    """How many times a request built its user and session row from a cache entry."""
    count = []
    real = identity_cache.materialize

    def counting(session, entry):
        count.append(entry.user_id)
        return real(session, entry)

    monkeypatch.setattr(identity_cache, "materialize", counting)
    return count


def test_a_vouched_for_request_builds_no_user_until_something_uses_it(client, db, make_user, caplog, built):
    user = make_user()
    sign_in_as(client, user)
    warm(client)
    caplog.set_level(logging.DEBUG, logger="app.access")  # /healthz is logged at DEBUG
    built.clear()
    assert client.get("/healthz").status_code == 200 and built == []
    [line] = [r for r in caplog.records if r.name == "app.access" and r.getMessage().startswith("GET /healthz")][-1:]
    assert line.user_id == user.id  # the access log names the user without building it
    assert user.display_name in client.get("/account").get_data(as_text=True) and built == [user.id]
    revoke_user_sessions(user, "revoked")
    db.session.commit()
    assert not signed_in(client)  # refused at once, as before


def test_the_id_of_a_vouched_for_user_is_forgotten_at_sign_out(app, db, make_user):
    user = make_user()
    entry = identity_cache.Entry(user_id=user.id, keys=identity_cache.keys_for(user.id, ()))
    with app.test_request_context("/healthz"):
        g.identity = identity_cache.Identity("token", entry, verified=True)
        assert signed_in_user_id() == user.id
        forget_session()
        assert signed_in_user_id() is None
    with app.test_request_context("/healthz"):
        g.identity = identity_cache.Identity("token", entry)  # read, not yet confirmed: not signed in
        assert signed_in_user_id() is None


def _board_tab(client, company):
    return client.get(f"/legends/{company.slug}/board?category=xp&period=all&scope=all", headers={"HX-Request": "true"})


def test_the_board_tab_checks_the_session_in_its_own_round_trip(client, db, make_seller, make_user, built):
    _owner, company = make_seller()
    game_for(company)
    player = make_user()
    join_game(company, player, str(class_id(company, "Scout")))
    db.session.commit()
    sign_in_as(client, player)
    warm(client)
    _board_tab(client, company)
    built.clear()
    response = _board_tab(client, company)
    assert response.status_code == 200 and "Your rank: <strong>#1</strong> of 1" in response.get_data(as_text=True)
    assert built == []  # confirmed by the board's glance: no user built, no second Redis call
    notify_user(player, "test", "Something happened")  # a generation of this session moves ...
    db.session.commit()
    response = _board_tab(client, company)  # ... so the usual check runs, and still says yes
    assert response.status_code == 200 and "Your rank: <strong>#1</strong>" in response.get_data(as_text=True)
    warm(client)
    _board_tab(client, company)
    revoke_user_sessions(player, "revoked")
    db.session.commit()
    refused = _board_tab(client, company)
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/signin")
    assert "Your rank" not in refused.get_data(as_text=True)
