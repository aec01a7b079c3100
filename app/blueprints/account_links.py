"""The pages emailed links open, and asking for those emails: confirming an address,
forgetting a password, confirming a new address (app/services/account_lifecycle.py).

A link works signed in or out; opened in a browser signed in as another account it is refused.
"""

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required

from app.extensions import db, limiter
from app.forms import show_refusal
from app.forms.auth import ForgotPasswordForm, ResetPasswordForm
from app.inputs import form_checks_characters
from app.services import account_lifecycle
from app.session_auth import forget_session
from app.web import commit_and_redirect, refusal_page, render

bp = Blueprint("account_links", __name__)

FORGOT_ANSWER = (
    "If an account uses that address, we have sent it a link to choose a new password. "
    "It works once, for one hour. Check your spam folder if nothing arrives in a few minutes."
)


def _signed_in():
    return current_user._get_current_object() if current_user.is_authenticated else None


def _forgot_key():
    return "password-forgot:" + request.form.get("email", "").strip().lower()[:254]


def _resend_key():
    return f"verify-resend:{getattr(current_user, 'id', None) or request.remote_addr}"


def _forgot_limit():
    return current_app.config["PASSWORD_RESET_RATE_LIMIT"]


def _link_refused(exc, token):
    """A link that cannot be used (unknown, used, expired, another account's), or an address
    taken since: what happened, and where to go on."""
    return render("auth/link_refused.html", code=exc.status, message=exc.message, http_status=exc.status)


def _link_used(message):
    """After an emailed link did its work: on to the settings when signed in, else to sign in."""
    return commit_and_redirect(message, "account.settings" if current_user.is_authenticated else "auth.sign_in")


@bp.route("/email/verify/<token>")
@refusal_page(_link_refused)
def verify_email(token):
    user = account_lifecycle.verify_email(token, _signed_in())
    return _link_used(f"Thank you: {user.email} is confirmed.")


@bp.route("/email/verify/resend", methods=["POST"])
@login_required
@limiter.limit("5/hour", key_func=_resend_key, methods=["POST"])
def resend_verification():
    if not account_lifecycle.send_verification_email(_signed_in()):
        flash("Your email address is already confirmed.", "info")
        return redirect(url_for("account.settings"), 303)
    db.session.commit()
    flash(f"We sent a new link to {current_user.email}.", "success")
    return redirect(request.referrer if _same_site(request.referrer) else url_for("account.settings"), 303)


def _same_site(url):
    base = request.host_url
    return bool(url) and url.startswith(base)


def _forgot_refused(exc):
    form = ForgotPasswordForm()
    show_refusal(form, exc)
    return render("auth/forgot_password.html", form=form, http_status=exc.status)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_forgot_limit, methods=["POST"])
@limiter.limit(_forgot_limit, key_func=_forgot_key, methods=["POST"])
@refusal_page(_forgot_refused)
def forgot_password():
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render("auth/forgot_password.html", form=form, http_status=422 if form.errors else 200)
    account_lifecycle.request_password_reset(form.email.data)
    db.session.commit()
    flash(FORGOT_ANSWER, "info")
    return redirect(url_for("auth.sign_in"), 303)


def _reset_refused(exc, token):
    form = ResetPasswordForm()
    if exc.field == "token":
        return render("auth/reset_password.html", form=None, link_error=exc.message, http_status=exc.status)
    show_refusal(form, exc)
    return render("auth/reset_password.html", form=form, token=token, http_status=exc.status)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@form_checks_characters
@limiter.limit("20/hour", methods=["POST"])
@refusal_page(_reset_refused)
def reset_password(token):
    account_lifecycle.find_link(token, "reset_password", _signed_in())
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        return render("auth/reset_password.html", form=form, token=token, http_status=422 if form.errors else 200)
    account_lifecycle.reset_password(token, form.password.data, _signed_in())
    db.session.commit()
    if current_user.is_authenticated:
        forget_session()
    flash("Your password is changed and every session signed out. Sign in with the new password.", "success")
    return redirect(url_for("auth.sign_in"), 303)


@bp.route("/account/email/confirm/<token>")
@refusal_page(_link_refused)
def confirm_email_change(token):
    user = account_lifecycle.confirm_email_change(token, _signed_in())
    return _link_used(f"Your email address is now {user.email}.")
