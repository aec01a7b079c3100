"""Flask-Login on per-session rows: the one way a browser is signed in or out.

Flask-Login's alternative-id mechanism: `User.get_id()` is the session's random token, so the
session cookie (`_user_id`) and the remember cookie carry that token, never the user id. The
user loader resolves it from this process's identity cache, validated by one Redis read
(app/identity_cache.py), or else with one indexed query (services/sessions.find_active_session);
a revoked, expired or unknown session, or a deactivated user, means signed out. The token is
checked at the start of every request that brings a cookie (static files aside), which is
also where activity is recorded, at most every few minutes.

A session the identity cache vouches for (its generations read back unchanged) is checked
without building its ORM objects: `g.identity` holds it, and `current_user` is built from it
only when the request first uses it (a health probe, a kept fragment never does). A view marked
`confirms_identity` reads those generations itself, in a Redis round trip it makes anyway (the
Legends board's glance), and answers nothing signed-in before `identity_cache.confirm` said yes;
whatever it does not confirm is checked the usual way (`settle_identity`).
"""

from collections.abc import Callable
from typing import Any

from flask import current_app, g, request, session
from flask_login import COOKIE_NAME, current_user, login_user, logout_user
from flask_login.utils import _create_identifier

from app.access import chosen_company_id
from app.extensions import db, login_manager
from app.identity_cache import Identity, check_identity, find_session
from app.services.sessions import (
    end_user_session,
    sign_out_session,
    start_user_session,
    touch_user_session,
)


def configure_login(app):
    """Register the token loader and the per-request session check on `app`."""

    @login_manager.user_loader
    def load_user(token):
        found = find_session(token)
        if found is None:
            return None
        user, row = found
        g.user_session = row
        user.chosen_company_id = chosen_company_id()
        return user

    login_manager._session_identifier_generator = _identifier
    app.before_request(_check_session)


_identifiers: dict[tuple, str] = {}


def _identifier() -> str:
    """Flask-Login's session-protection identifier (a SHA-512 of the client's address and user
    agent), remembered per address and agent: it is asked for on every signed-in request."""
    headers = request.headers
    key = (headers.get("X-Forwarded-For", request.remote_addr), headers.get("User-Agent"))
    found = _identifiers.get(key)
    if found is None:
        if len(_identifiers) >= 4096:
            _identifiers.clear()
        found = _identifiers[key] = _create_identifier()
    return found


def _remember_cookie_name():
    return current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)


def _check_session():
    req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup
    if req.endpoint == "static":
        return
    token = session.get("_user_id")
    if token is None and _remember_cookie_name() not in req.cookies:
        return
    if token is not None and not login_manager._session_protection_failed():
        view = current_app.view_functions.get(req.endpoint)
        identity = check_identity(token, verify=not getattr(view, "confirms_identity", False))
        if identity is not None:
            g.identity = identity
            return
    _check_fully()


def _check_fully():
    if not current_user.is_authenticated:
        # The cookies name a session that has ended: drop them so the browser stops sending them.
        logout_user()
        return
    if touch_user_session(g.user_session):
        db.session.commit()


def confirms_identity(view: Callable) -> Callable:
    """Mark a view that confirms the signed-in identity itself (see the module's docstring): its
    requests start with `unconfirmed_identity()` instead of a Redis read of their own."""
    view.confirms_identity = True  # type: ignore[attr-defined]
    return view


def unconfirmed_identity() -> Identity | None:
    """The cached identity a `confirms_identity` view is to confirm, or None."""
    identity = g.get("identity")
    return identity if identity is not None and not identity.verified else None


def settle_identity() -> None:
    """The usual session check, for a `confirms_identity` view that did not confirm."""
    identity = g.get("identity")
    if identity is not None and not identity.verified:
        del g.identity
        _check_fully()


def signed_in_user_id() -> int | None:
    """The signed-in user's id, without building the user when the identity cache vouched (and
    nothing signed this request in or out since)."""
    if "_login_user" not in g:
        identity: Any = g.get("identity")
        if identity is not None and identity.verified:
            return identity.user_id
    return current_user.id if current_user.is_authenticated else None


def current_session():
    """The `user_sessions` row of this request's signed-in session, or None."""
    if not current_user.is_authenticated:
        return None
    return g.get("user_session")


def begin_session(user, *, method, remember=False):
    """Sign this browser in as `user` with a brand-new session (flushed; the view commits).

    Nothing from before survives (no session fixation): a session this browser still had is
    ended, and the cookie's contents, CSRF token included, start afresh. Read anything you
    need from `session` before calling this.
    """
    previous = current_session()
    if previous is not None:
        end_user_session(previous, "replaced")
    session.clear()
    row, _token = start_user_session(
        user,
        method=method,
        remember=remember,
        ip_address=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
    )
    login_user(user, remember=remember)
    g.user_session = row
    return row


def forget_session():
    """Sign this browser out locally: empty the session cookie and delete the remember cookie.

    Call after the session row was ended (and committed) by a service.
    """
    session.clear()
    logout_user()
    g.pop("user_session", None)


def end_session():
    """Sign this browser out: its session row is revoked (audited, committed), cookies dropped."""
    if current_user.is_authenticated:
        sign_out_session(current_user._get_current_object(), current_session())
        db.session.commit()
    forget_session()
