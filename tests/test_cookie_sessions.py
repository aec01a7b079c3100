"""The signed session cookie (app.CookieSessions): a cookie whose signature the process checked
a moment ago is only decoded again, never trusted further than that — a changed cookie is
checked afresh (and refused), and an old one is refused as it always was."""

from datetime import timedelta

from flask import session

from tests.test_sessions import signed_in


def _with_cookie(app, value):
    """Another browser sending exactly `value` as its session cookie."""
    other = app.test_client()
    other.set_cookie(app.config.get("SESSION_COOKIE_NAME", "session"), value)
    return other


def test_a_checked_cookie_still_signs_in_and_a_changed_one_does_not(app, client, db, make_user, sign_in):
    sign_in(make_user())
    cookie = client.get_cookie("session").value
    assert signed_in(client) and signed_in(client)  # checked once, then known
    assert signed_in(_with_cookie(app, cookie))
    payload, stamp, signature = cookie.rsplit(".", 2)
    forged = f"{payload}.{stamp}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert not signed_in(_with_cookie(app, forged))
    assert not signed_in(_with_cookie(app, f"{payload}x.{stamp}.{signature}"))


def test_a_known_cookie_past_its_age_is_refused(app, client, db, make_user, sign_in, monkeypatch):
    sign_in(make_user())
    assert signed_in(client)  # the cookie is known to this process now
    monkeypatch.setattr(app, "permanent_session_lifetime", timedelta(seconds=-1))
    assert not signed_in(client)


def test_each_request_gets_its_own_copy_of_a_known_cookie(app, client, db, make_user, sign_in):
    sign_in(make_user())
    cookie = client.get_cookie("session").value  # holds the "Signed in." flash, a list
    first, second = _with_cookie(app, cookie), _with_cookie(app, cookie)
    with first:
        first.get("/healthz")
        session["_flashes"].append(("info", "only for the first browser"))
    with second:
        second.get("/healthz")
        assert [message for _, message in session["_flashes"]] == ["Signed in."]
