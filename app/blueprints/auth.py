"""Sign up, sign in, sign out."""

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required

from app.extensions import db, limiter
from app.forms import show_refusal
from app.forms.auth import SignInForm, SignUpForm
from app.services.account_lifecycle import send_verification_email
from app.services.accounts import authenticate_user, register_user
from app.session_auth import begin_session, end_session
from app.web import refusal_page, render, safe_next

bp = Blueprint("auth", __name__)


def _signin_limit():
    return current_app.config["SIGNIN_RATE_LIMIT"]


def _email_key():
    return "signin-email:" + request.form.get("email", "").strip().lower()


def _landing_for(user):
    if user.intent == "sell":
        return url_for("sell.home")
    return url_for("main.index")


def _sign_up_refused(exc):
    form = SignUpForm()
    show_refusal(form, exc)
    return render("auth/sign_up.html", form=form, http_status=exc.status)


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
@refusal_page(_sign_up_refused)
def sign_up():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = SignUpForm()
    if request.method == "GET" and request.args.get("intent") in ("hire", "sell"):
        form.intent.data = request.args["intent"]
    if not form.validate_on_submit():
        return render("auth/sign_up.html", form=form, http_status=422 if form.errors else 200)
    user = register_user(form.email.data, form.password.data, form.display_name.data, form.intent.data)
    send_verification_email(user)
    begin_session(user, method="sign_up")
    db.session.commit()
    # Its own category: the home page then leaves out its "Welcome back" (one greeting, not two).
    flash(f"Welcome to Tradepost, {user.display_name}! We sent you a link to confirm your email.", "welcome")
    return redirect(safe_next(request.args.get("next"), _landing_for(user)), 303)


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(_signin_limit, methods=["POST"])
@limiter.limit(_signin_limit, key_func=_email_key, methods=["POST"])
def sign_in():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next"), url_for("main.index")))
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        user = authenticate_user(form.email.data, form.password.data)
        if user is not None:
            begin_session(user, method="password", remember=form.remember.data)
        db.session.commit()
        if user is not None:
            flash("Signed in.", "success")
            return redirect(safe_next(request.args.get("next"), _landing_for(user)), 303)
        error = "That email and password don't match an account."
    return render(
        "auth/sign_in.html", form=form, error=error, http_status=401 if error else (422 if form.errors else 200)
    )


@bp.route("/signout", methods=["POST"])
@login_required
def sign_out():
    end_session()
    flash("Signed out.", "info")
    return redirect(url_for("main.index"), 303)
