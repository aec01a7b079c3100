"""The apps a company develops (owners and admins): register, change, publish or unpublish,
reveal and rotate the app secret. Installing apps is in app/blueprints/apps.py."""

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.access import company_required
from app.blueprints.apps import app_confirmation
from app.crypto import decrypt
from app.extensions import db
from app.models import App
from app.models.api_key import API_SCOPES
from app.services import apps
from app.web import refusal_page, render, require_confirmation

bp = Blueprint("developer_apps", __name__, url_prefix="/developers/apps")


def get_app_or_404(public_id):
    """The current company's app, or 404 (other companies' apps do not exist here)."""
    app = db.session.scalar(select(App).where(App.public_id == public_id, App.company_id == g.company.id))
    return app or abort(404)


def form_input():
    form = request.form
    return apps.AppInput(
        name=form.get("name", ""),
        description=form.get("description", ""),
        icon_url=form.get("icon_url", ""),
        base_url=form.get("base_url", ""),
        experience_path=form.get("experience_path", ""),
        dashboard_path=form.get("dashboard_path", ""),
        scopes=form.getlist("scopes"),
        webhook_url=form.get("webhook_url", ""),
        localhost_mode=form.get("localhost_mode") == "on",
    )


def app_values(app):
    """The form's values for a saved app."""
    return apps.AppInput(
        name=app.name,
        description=app.description,
        icon_url=app.icon_url or "",
        base_url=app.base_url,
        experience_path=app.experience_path,
        dashboard_path=app.dashboard_path,
        scopes=app.scopes,
        webhook_url=app.webhook_url or "",
        localhost_mode=app.localhost_mode,
    )


def render_form(app, values, errors=None, status=200, secret=None, block=None):
    """The registration form (`values`: as typed, or None for the saved app's)."""
    values = values if values is not None else app_values(app)
    return render(
        "apps/form.html",
        block,
        app=app,
        values=values,
        errors=errors or {},
        scopes=API_SCOPES,
        secret=secret,
        http_status=status,
    )


def form_refused(exc, public_id=None):
    """The form again as typed, each field's error next to it."""
    app = get_app_or_404(public_id) if public_id is not None else None
    return render_form(app, form_input(), exc.errors, exc.status)


@bp.route("")
@company_required("apps")
def index():
    return render("apps/developer_index.html", apps=apps.company_apps(g.company))


@bp.route("/new")
@company_required("apps")
def new():
    return render_form(None, apps.AppInput(dashboard_path="/dashboard", experience_path="/experience"))


@bp.route("", methods=["POST"])
@company_required("apps")
@refusal_page(form_refused)
def create():
    app = apps.register_app(g.company, form_input(), actor=current_user)
    db.session.commit()
    flash(f"{app.name} is registered. Install it from the app directory to try it.", "success")
    return redirect(url_for(".edit", public_id=app.public_id), 303)


@bp.route("/<public_id>")
@company_required("apps")
def edit(public_id):
    return render_form(get_app_or_404(public_id), None)


@bp.route("/<public_id>/secret")
@company_required("apps")
def secret(public_id):
    """The app secret in clear (it signs our webhooks to the app and authenticates the app)."""
    app = get_app_or_404(public_id)
    return render_form(app, None, secret=decrypt(app.webhook_secret_encrypted), block="secret")


@bp.route("/<public_id>", methods=["POST"])
@company_required("apps")
@refusal_page(form_refused)
def update(public_id):
    app = apps.update_app(get_app_or_404(public_id), form_input(), actor=current_user)
    db.session.commit()
    flash("App saved.", "success")
    return redirect(url_for(".edit", public_id=app.public_id), 303)


def _state_refused(exc, public_id, published=None):
    return render_form(get_app_or_404(public_id), None, {"published": exc.message}, exc.status)


@bp.post("/<public_id>/publish", endpoint="publish", defaults={"published": True})
@bp.post("/<public_id>/unpublish", endpoint="unpublish", defaults={"published": False})
@company_required("apps")
@refusal_page(_state_refused)
def set_published(public_id, published):
    """Publish the app in the directory, or take it out (installations stay)."""
    app = apps.set_published(get_app_or_404(public_id), published, actor=current_user)
    db.session.commit()
    if published:
        flash(f"{app.name} is in the app directory.", "success")
    else:
        flash(f"{app.name} is out of the app directory; companies that installed it keep it.", "success")
    return redirect(url_for(".edit", public_id=app.public_id), 303)


def _rotate_confirmation(app, error=None, status=200):
    edit_url = url_for(".edit", public_id=app.public_id)
    return app_confirmation(app, "rotate", url_for(".rotate", public_id=app.public_id), edit_url, error, status)


@bp.route("/<public_id>/rotate", methods=["GET", "POST"])
@company_required("apps")
@refusal_page(lambda exc, public_id: _rotate_confirmation(get_app_or_404(public_id), exc.message, exc.status))
def rotate(public_id):
    """GET: the confirmation step; POST (confirmed): a new app secret, in force at once."""
    app = get_app_or_404(public_id)
    if request.method == "GET":
        return _rotate_confirmation(app)
    require_confirmation("rotate", "Confirm to rotate the app secret.")
    apps.rotate_webhook_secret(app, actor=current_user)
    db.session.commit()
    flash("The app secret is rotated: reveal the new one below and give it to your app.", "success")
    return redirect(url_for(".edit", public_id=app.public_id), 303)
