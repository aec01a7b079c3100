"""The buyer's account: orders and memberships, security (password, signed-in sessions) and
license keys (machines can be freed here).

Member areas are member_areas.py."""

from dataclasses import dataclass
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from markupsafe import Markup
from sqlalchemy import select

from app.clock import now
from app.extensions import db, limiter
from app.forms import show_refusal
from app.forms.auth import ChangeEmailForm, ChangePasswordForm, DeleteAccountForm, ProfileForm
from app.inputs import form_checks_characters
from app.models import Membership, Order
from app.models.order import ORDER_STATUSES
from app.pagecache import buyer_scope, kept, parts_version
from app.services import account_lifecycle
from app.services.accounts import change_password
from app.services.billing_portal import open_billing_portal
from app.services.library import buyer_library
from app.services.licensing import license_keys, self_service
from app.services.sessions import list_active_sessions, revoke_session_of, sign_out_everywhere
from app.session_auth import begin_session, current_session, forget_session
from app.web import commit_and_redirect, filter_by_status, paginate, refusal_page, render

bp = Blueprint("account", __name__, url_prefix="/account")
ORDERS_PER_PAGE = 25


@bp.route("")
@login_required
def home():
    """The buyer's orders (kept per buyer and query string under the buyer's version,
    pagecache.kept: an order's change shows at once) and memberships."""
    version = parts_version(buyer_scope(current_user.id))
    orders = kept(version, ("account-orders", current_user.id, request.query_string), _orders_block)
    return render(
        "account/home.html",
        "orders",
        memberships=_memberships(version),
        orders_html=orders.html,
        status=orders.status,
        statuses=ORDER_STATUSES,
    )


def _memberships(version):
    """The buyer's memberships, newest first; no query for a buyer who has none (kept under
    the buyer's version, which a new membership moves). What they show depends on the clock
    (access ends with the period), so the rows themselves are read every time."""
    has_any = kept(version, ("account-has-memberships", current_user.id), _has_memberships)
    if not has_any:
        return []
    return db.session.scalars(
        select(Membership).where(Membership.buyer_id == current_user.id).order_by(Membership.created_at.desc())
    ).all()


def _has_memberships():
    return db.session.scalar(select(Membership.id).where(Membership.buyer_id == current_user.id).limit(1)) is not None


@dataclass(frozen=True)
class KeptOrders:
    html: Markup
    status: str


def _orders_block():
    orders, status = filter_by_status(
        select(Order).where(Order.buyer_id == current_user.id).order_by(Order.created_at.desc(), Order.id.desc()),
        Order.status,
        ORDER_STATUSES,
    )
    pagination = paginate(orders, ORDERS_PER_PAGE)
    html = render_block("account/home.html", "orders", orders=pagination.items, pagination=pagination, status=status)
    return KeptOrders(Markup(html), status)


@bp.post("/memberships/<int:membership_id>/manage")
@login_required
def manage_membership(membership_id):
    """Send the buyer to Stripe's billing portal for their own subscription (cancel, renew,
    switch plan, update card); Stripe brings them back to their account."""
    return_url = current_app.config["APP_BASE_URL"].rstrip("/") + url_for(".home")
    url = open_billing_portal(_user(), membership_id, return_url)
    db.session.commit()
    return redirect(url, 303)


@bp.route("/library")
@login_required
def library():
    """Everything the buyer owns: plan and status, renewal or end, grace, member area, files,
    license keys and their machines."""
    return render(
        "account/library.html",
        items=buyer_library(current_user),
        grace_days=current_app.config["SUBSCRIPTION_GRACE_DAYS"],
        now=now(),
    )


def _user():
    return current_user._get_current_object()


def _password_change_key():
    return f"password-change:{getattr(current_user, 'id', None) or request.remote_addr}"


def _duration(delta):
    """'30 days', '8 hours', '15 minutes' for a session lifetime."""
    for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count, rest = divmod(int(delta.total_seconds()), seconds)
        if count and not rest:
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{int(delta.total_seconds() // 60)} minutes"


def _security_page(form, status=200):
    config = current_app.config
    lifetimes = {
        "idle": _duration(config["USER_SESSION_IDLE_TIMEOUT"]),
        "max_age": _duration(config["USER_SESSION_MAX_AGE"]),
        "remember": _duration(config["REMEMBER_COOKIE_DURATION"]),
    }
    return render(
        "account/security.html",
        form=form,
        sessions=list_active_sessions(_user()),
        this_session=current_session(),
        lifetimes=lifetimes,
        http_status=status,
    )


def _password_refused(exc):
    form = ChangePasswordForm()
    show_refusal(form, exc)
    return _security_page(form, exc.status)


@bp.route("/security")
@login_required
def security():
    return _security_page(ChangePasswordForm())


@bp.route("/security/password", methods=["POST"])
@form_checks_characters
@login_required
@limiter.limit("10/hour", key_func=_password_change_key, methods=["POST"])
@refusal_page(_password_refused)
def password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _security_page(form, 422)
    user, this = _user(), current_session()
    ended = change_password(user, form.current_password.data, form.new_password.data)
    # Every session ended, this one too; this browser gets a fresh one.
    begin_session(user, method=this.sign_in_method, remember=this.remember)
    db.session.commit()
    others = ended - 1
    flash(
        "Password changed."
        + (f" {others} other session{'s' if others != 1 else ''} signed out." if others > 0 else ""),
        "success",
    )
    return redirect(url_for("account.security"), 303)


@bp.route("/security/sessions/<int:session_id>/revoke", methods=["POST"])
@login_required
def revoke_session(session_id):
    this = current_session()
    row = revoke_session_of(_user(), session_id)
    if row is None:
        abort(404)
    db.session.commit()
    if this is not None and row.id == this.id:
        forget_session()
        flash("Signed out.", "info")
        return redirect(url_for("auth.sign_in"), 303)
    flash(f"Signed out {row.user_agent or 'that device'}.", "success")
    return redirect(url_for("account.security"), 303)


@bp.route("/security/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_all():
    count = sign_out_everywhere(_user())
    db.session.commit()
    forget_session()
    flash(f"Signed out everywhere ({count} session{'s' if count != 1 else ''}), this browser included.", "info")
    return redirect(url_for("auth.sign_in"), 303)


# -- settings: name, email, deletion ------------------------------------------------------------


def _settings_page(status=200, profile_form=None, email_form=None, delete_form=None):
    user = _user()
    profile_form = profile_form or ProfileForm(display_name=user.display_name)
    return render(
        "account/settings.html",
        profile_form=profile_form,
        email_form=email_form or ChangeEmailForm(formdata=None),
        delete_form=delete_form or DeleteAccountForm(formdata=None),
        blockers=account_lifecycle.deletion_blockers(user),
        deleted_name=account_lifecycle.DELETED_NAME,
        http_status=status,
    )


def _settings_refused(form_class, slot):
    def page(exc):
        form = form_class()
        show_refusal(form, exc)
        return _settings_page(exc.status, **{slot: form})

    return page


def _settings_form(rule, form_class, slot, takes_password=True):
    """Route decorator of a form on the settings page: signed-in users; the view gets the valid
    form, and an invalid form or a refusal shows the page again with this form in `slot`. A form
    that takes the password checks its own characters and allows 10 tries an hour per user."""

    def decorate(view):
        @wraps(view)
        def validated():
            form = form_class()
            if not form.validate_on_submit():
                return _settings_page(422, **{slot: form})
            return view(form)

        checked = refusal_page(_settings_refused(form_class, slot))(validated)
        if takes_password:
            checked = limiter.limit("10/hour", key_func=_password_change_key, methods=["POST"])(checked)
        checked = login_required(checked)
        return bp.route(rule, methods=["POST"])(form_checks_characters(checked) if takes_password else checked)

    return decorate


@bp.route("/settings")
@login_required
def settings():
    return _settings_page()


@_settings_form("/settings/profile", ProfileForm, "profile_form", takes_password=False)
def update_profile(form):
    account_lifecycle.update_profile(_user(), form.display_name.data)
    return commit_and_redirect("Name saved.", ".settings")


@_settings_form("/settings/email", ChangeEmailForm, "email_form")
def change_email(form):
    email = account_lifecycle.request_email_change(_user(), form.email.data, form.current_password.data)
    return commit_and_redirect(
        f"We sent a link to {email}. Your address changes when you open it.", ".settings", category="info"
    )


@_settings_form("/delete", DeleteAccountForm, "delete_form")
def delete(form):
    account_lifecycle.delete_account(_user(), form.password.data, form.confirmation.data)
    db.session.commit()
    forget_session()
    flash("Your account is deleted. Thank you for using Tradepost.", "info")
    return redirect(url_for("main.index"), 303)


# -- license keys -------------------------------------------------------------------------------


def _licenses_page(status=200, error=None):
    owned = self_service.buyer_licenses(current_user)
    allowance = self_service.SELF_SERVICE_RESETS
    resets_left = {lic.id: max(allowance - self_service.self_service_resets_used(lic), 0) for lic in owned}
    return render(
        "licensing/account.html",
        licenses=owned,
        keys={lic.id: license_keys.license_key(lic) for lic in owned},
        resets_left=resets_left,
        error=error,
        api_base=current_app.config["APP_BASE_URL"].rstrip("/"),
        now=now(),
        resets_per_window=allowance,
        http_status=status,
    )


@bp.route("/licenses")
@login_required
def licenses():
    return _licenses_page()


@bp.post("/licenses/activations/<int:activation_id>/deactivate")
@login_required
@refusal_page(lambda exc, activation_id: _licenses_page(exc.status, exc.message))
def deactivate_machine(activation_id):
    self_service.deactivate_own_activation(current_user, activation_id)
    db.session.commit()
    flash("Machine deactivated: its seat is free again.", "success")
    return redirect(url_for(".licenses"), 303)
