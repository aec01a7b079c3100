"""Whop accounts: "Continue with Whop" (OAuth 2.1 authorization code + PKCE S256, OpenID
Connect), and linking, refreshing and unlinking Whop in settings.

The seller's links to Whop are sell/whop.py; the iframe views experiences.py."""

import time

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required
from redis.exceptions import RedisError
from requests import RequestException

from app.extensions import db, limiter
from app.integrations.whop import oauth_client_kwargs
from app.queue import get_redis
from app.services.whop_accounts import (
    confirm_whop_link,
    encrypt_token,
    identity_of,
    is_placeholder_email,
    link_whop_identity,
    sign_in_with_whop,
    sync_whop_profile,
    unlink_whop_identity,
)
from app.session_auth import begin_session
from app.web import refusal_page, render, safe_next

bp = Blueprint("whop", __name__, url_prefix="/whop")
PENDING_LINK = "whop_pending_link"
PENDING_LINK_TTL = 600
OAUTH_STATE_PREFIX = "tp:whop-oauth:"

OAUTH_ERRORS = {
    "access_denied": "You cancelled signing in with Whop. Nothing was changed.",
    "mismatching_state": "That Whop sign-in expired or was started in another window. Please try again.",
    "invalid_grant": "Whop couldn't confirm the sign-in: the code expired or was already used. Please try again.",
    "unavailable": "Whop sign-in couldn't be finished because part of Tradepost is briefly "
    "unavailable. Please try again in a few minutes.",
}
OAUTH_FALLBACK_ERROR = "Signing in with Whop didn't work. Please try again."
# The pending sign-in (PKCE verifier, nonce) lives in Redis: without it there is no Whop sign-in.
WHOP_UNAVAILABLE = {
    "sign_in": "Continue with Whop is unavailable for a few minutes. Sign in with your email and "
    "password instead, or try again shortly.",
    "link": "Linking Whop is unavailable for a few minutes. Please try again shortly.",
}


class _RedisStateStore:
    """Authlib's cache interface over our Redis: the PKCE verifier and nonce of a pending
    sign-in stay on the server; the session cookie only holds the state's key."""

    def get(self, key):
        value = get_redis().get(OAUTH_STATE_PREFIX + key)
        return value.decode() if value is not None else None

    def set(self, key, value, expires=None):
        get_redis().set(OAUTH_STATE_PREFIX + key, value, ex=expires)

    def delete(self, key):
        get_redis().delete(OAUTH_STATE_PREFIX + key)


@bp.record_once
def _init_oauth(state):
    app = state.app
    oauth = OAuth(app, cache=_RedisStateStore())
    oauth.register(
        "whop",
        client_id=app.config["WHOP_CLIENT_ID"],
        client_secret=app.config["WHOP_CLIENT_SECRET"],
        **oauth_client_kwargs(app.config["WHOP_API_BASE"], jwks_uri=app.config["WHOP_JWKS_URL"]),
    )
    app.extensions["whop_oauth"] = oauth


def _client():
    return current_app.extensions["whop_oauth"].whop


def _start_authorization(intent):
    session["whop_intent"] = intent
    redirect_uri = current_app.config["APP_BASE_URL"].rstrip("/") + url_for("whop.callback")
    try:
        return _client().authorize_redirect(redirect_uri)
    except RedisError:
        current_app.logger.warning("Whop sign-in not started: Redis unavailable")
        abort(503, WHOP_UNAVAILABLE[intent])


# --------------------------------------------------------------------------- sign-in


@bp.route("/login")
@limiter.limit("30/minute")
def login():
    if current_user.is_authenticated:
        return redirect(url_for("whop.settings"))
    session["whop_next"] = safe_next(request.args.get("next"), "")
    return _start_authorization("sign_in")


@bp.route("/link", methods=["POST"])
@login_required
def link():
    response = _start_authorization("link")
    response.status_code = 303
    return response


def _oauth_failure(code, intent):
    return _back_with(OAUTH_ERRORS.get(code, OAUTH_FALLBACK_ERROR), intent)


def _back_with(message, intent):
    """Back where the person started (Whop settings when linking, else sign-in), saying why."""
    flash(message, "error")
    if intent == "link" and current_user.is_authenticated:
        return redirect(url_for("whop.settings"), 303)
    return redirect(url_for("auth.sign_in"), 303)


def _callback_refused(exc):
    # The intent was taken from the session; only a signed-in person can have been linking.
    return _back_with(exc.message, "link")


@bp.route("/callback")
@refusal_page(_callback_refused)
def callback():
    intent = session.pop("whop_intent", "sign_in")
    client = _client()
    try:
        token = client.authorize_access_token()
        profile = dict(token.get("userinfo") or {})
        profile.update(client.userinfo(token=token))
    except OAuthError as exc:
        current_app.logger.info("Whop sign-in failed: %s %s", exc.error, exc.description)
        return _oauth_failure(exc.error, intent)
    except RequestException:
        current_app.logger.exception("Whop sign-in: Whop unreachable")
        return _oauth_failure("unreachable", intent)
    except RedisError:
        current_app.logger.warning("Whop sign-in not finished: Redis unavailable")
        return _oauth_failure("unavailable", intent)
    if not profile.get("sub"):
        return _oauth_failure("no_subject", intent)

    if intent == "link" and current_user.is_authenticated:
        link_whop_identity(current_user, profile, token.get("refresh_token"))
        db.session.commit()
        flash("Your Whop account is linked.", "success")
        return redirect(url_for("whop.settings"), 303)

    outcome, user = sign_in_with_whop(profile, token.get("refresh_token"))
    if outcome == "needs_password":  # nothing was written: the password confirms the link
        session[PENDING_LINK] = {
            "user_id": user.id,
            "whop_user_id": profile["sub"],
            "username": profile.get("preferred_username"),
            "email": user.email,
            "refresh_token_encrypted": encrypt_token(token.get("refresh_token")),
            "expires_at": time.time() + PENDING_LINK_TTL,
        }
        return redirect(url_for("whop.confirm_link"), 303)
    next_url = session.pop("whop_next", "") or url_for("main.index")
    begin_session(user, method="whop")
    db.session.commit()
    if outcome == "created":
        flash("Welcome to Tradepost!", "welcome")
    else:
        flash("Signed in with Whop.", "success")
    return redirect(next_url, 303)


def _pending_link():
    pending = session.get(PENDING_LINK)
    if not pending or pending.get("expires_at", 0) < time.time():
        session.pop(PENDING_LINK, None)
        return None
    return pending


@bp.route("/confirm", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def confirm_link():
    pending = _pending_link()
    if pending is None:
        flash("That Whop sign-in has expired. Please continue with Whop again.", "error")
        return redirect(url_for("auth.sign_in"), 303)
    error = None
    if request.method == "POST":
        user = confirm_whop_link(pending["user_id"], request.form.get("password", ""), pending)
        if user is not None:
            next_url = session.pop("whop_next", "") or url_for("main.index")
            begin_session(user, method="whop")  # a fresh session: the pending link goes with the old one
        db.session.commit()
        if user is not None:
            flash("Your Whop account is now linked. Next time, Continue with Whop signs you in.", "success")
            return redirect(next_url, 303)
        error = "That password doesn't match this account."
    return render("whop/confirm.html", pending=pending, error=error, http_status=401 if error else 200)


@bp.route("/confirm/cancel", methods=["POST"])
def cancel_link():
    session.pop(PENDING_LINK, None)
    flash("Nothing was linked.", "info")
    return redirect(url_for("auth.sign_in"), 303)


# --------------------------------------------------------------------------- settings


@bp.route("/settings")
@login_required
def settings():
    return render(
        "whop/settings.html",
        identity=identity_of(current_user),
        placeholder_email=is_placeholder_email(current_user.email),
    )


@bp.route("/unlink", methods=["POST"])
@login_required
@refusal_page(lambda exc: _back_with(exc.message, "link"))
def unlink():
    unlink_whop_identity(current_user)
    db.session.commit()
    flash("Whop is unlinked from your account.", "success")
    return redirect(url_for("whop.settings"), 303)


@bp.route("/sync", methods=["POST"])
@login_required
def sync():
    identity = identity_of(current_user) or abort(404)
    problem = sync_whop_profile(identity)
    # Committed either way: a rotated (or a dead, forgotten) refresh token must be kept.
    db.session.commit()
    if problem is None:
        flash("Your Whop profile is up to date.", "success")
    else:
        flash(problem.message, "error")
    return redirect(url_for("whop.settings"), 303)
