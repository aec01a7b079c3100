"""Seller side: becoming a seller (Stripe Connect onboarding), seller home, the gig editor.

Roles: owners and admins of the seller company onboard, submit, pause, resume and delete;
members may create gigs and edit those that are not live (draft, rejected, in review).
"""
import secrets

from flask import Blueprint, abort, current_app, flash, g, redirect, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from app.access import seller_required
from app.extensions import db, is_htmx
from app.forms import show_refusal
from app.forms.sell import BecomeSellerForm, GigForm, attach_errors
from app.inputs import body_limit, parse_id
from app.models import Category, Gig, GigImage, Order
from app.models.gig import MAX_IMAGES
from app.payments import PaymentsUnavailable
from app.services import storage
from app.services.ledger import company_balances
from app.services.gigs import (MAX_IMAGE_BYTES, GigForbidden, GigInputError, GigStateError,
                               check_gig_input, delete_gig, remove_gig_image, save_gig, transition_gig)
from app.services.sellers import become_seller, refresh_company_kyc, start_seller_onboarding
from app.web import error_page, refusal_page, render

bp = Blueprint("sell", __name__, url_prefix="/sell")
ACTIVE_ORDER_STATUSES = ("awaiting_requirements", "in_progress", "delivered", "revision_requested",
                         "cancel_requested", "disputed")
MANAGERS = ("owner", "admin")
# The editor's body: a full gallery of images plus the form, with room to spare.
MAX_EDITOR_BYTES = (MAX_IMAGES + 2) * MAX_IMAGE_BYTES
ROW_KINDS = ("extras", "questions", "faq")
OPTIONAL_TIERS = ("standard", "premium")


# -- onboarding ---------------------------------------------------------------------------------

def _app_url(endpoint):
    return current_app.config["APP_BASE_URL"].rstrip("/") + url_for(endpoint)


ONBOARDING_UNAVAILABLE = ("Payments are unavailable right now, so verification with Stripe can't start. "
                          "Your seller account is saved — please try again in a minute.")


def _to_onboarding(company, country="US"):
    """303 to a fresh hosted onboarding page (the seller company is committed before)."""
    url = start_seller_onboarding(company, current_user, _app_url("sell.onboarding_refresh"),
                                  _app_url("sell.onboarding_return"), country)
    db.session.commit()
    return redirect(url, 303)


def _onboarding_refused(exc):
    """Stripe unreachable: 503 with a way to try again (the seller account is kept); any other
    refusal on the error page."""
    if not isinstance(exc, PaymentsUnavailable):
        return error_page(exc.status, exc.message)
    company = current_user.seller_company
    return render("sell/onboarding_unavailable.html", company=company, message=ONBOARDING_UNAVAILABLE,
                  http_status=exc.status)


def _become_refused(exc):
    if exc.field is None:
        return _onboarding_refused(exc)
    form = BecomeSellerForm()
    show_refusal(form, exc)
    return render("sell/become.html", form=form, http_status=exc.status)


@bp.route("/become", methods=["GET", "POST"])
@login_required
@refusal_page(_become_refused)
def become():
    if current_user.seller_company is not None:
        return redirect(url_for("sell.home"), 303)
    form = BecomeSellerForm()
    if request.method == "GET":
        form.title.data = form.title.data or current_user.display_name
    if not form.validate_on_submit():
        return render("sell/become.html", form=form, http_status=422 if form.errors else 200)
    company = become_seller(current_user, form.title.data)
    db.session.commit()
    return _to_onboarding(company, form.country.data)


@bp.route("/onboarding", methods=["POST"])
@seller_required(roles=MANAGERS)
@refusal_page(_onboarding_refused)
def onboarding_start():
    return _to_onboarding(g.company)


@bp.route("/onboarding/refresh")
@seller_required(roles=MANAGERS)
@refusal_page(_onboarding_refused)
def onboarding_refresh():
    return _to_onboarding(g.company)


@bp.route("/onboarding/return")
@seller_required
def onboarding_return():
    reachable = refresh_company_kyc(g.company)
    db.session.commit()
    return render("sell/onboarding_return.html", company=g.company, reachable=reachable)


# -- home ---------------------------------------------------------------------------------------

def _company_gigs():
    return db.session.scalars(select(Gig).where(Gig.company_id == g.company.id)
                              .order_by(Gig.updated_at.desc(), Gig.id.desc())).all()


@bp.route("/")
@seller_required
def home():
    recent_orders = db.session.scalars(select(Order).order_by(Order.created_at.desc()).limit(5)).all()
    active_orders = db.session.scalar(select(func.count()).select_from(Order)
                                      .where(Order.status.in_(ACTIVE_ORDER_STATUSES)))
    return render("sell/home.html", company=g.company, gigs=_company_gigs(),
                  role=g.company.role_of(current_user), recent_orders=recent_orders,
                  active_orders=active_orders, balances=company_balances(g.company.id))


@bp.route("/gigs")
@seller_required
def gigs():
    return render("sell/gigs.html", company=g.company, gigs=_company_gigs(),
                  role=g.company.role_of(current_user))


# -- the editor ---------------------------------------------------------------------------------

def get_gig_or_404(gig_id):
    """The current seller's gig, else 404 (another seller's gig does not exist for them)."""
    return db.session.scalar(select(Gig).where(Gig.id == gig_id, Gig.company_id == g.company.id)) \
        or abort(404)


def _new_form(**kwargs):
    form = GigForm(**kwargs)
    categories = db.session.scalars(select(Category).order_by(Category.position, Category.name)).all()
    form.category_id.choices = [("", "Choose a category")] + [(str(c.id), c.name) for c in categories]
    return form


def _render_editor(form, gig, general_errors=None, status=200):
    return render("sell/editor.html", form=form, gig=gig, general_errors=general_errors or {},
                  max_images=MAX_IMAGES, role=g.company.role_of(current_user), http_status=status)


def _editor_refused(exc, gig_id=None):
    """The editor again as submitted: each error on its field (what fits no field, and a
    refused "save and submit", above the form); a change this member may not make is a 403."""
    if isinstance(exc, GigForbidden):
        return error_page(403, exc.message)
    gig = get_gig_or_404(gig_id) if gig_id is not None else None
    form = _new_form()
    form.validate()
    if isinstance(exc, GigStateError):
        return _render_editor(form, gig, {("then",): exc.message}, exc.status)
    return _render_editor(form, gig, attach_errors(form, exc.errors), exc.status)


def _apply_row_buttons(form):
    """The no-JavaScript path of the add/remove buttons; True when one was pressed."""
    add, remove = request.form.get("add"), request.form.get("remove")
    if add in ROW_KINDS:
        form[add].append_entry()
    elif add in OPTIONAL_TIERS:
        form[add].offered.data = "y"
    elif remove in OPTIONAL_TIERS:
        form[remove].offered.data = ""
    elif remove and remove.split("-")[0] in ROW_KINDS:
        field = form[remove.split("-")[0]]
        field.entries = [entry for entry in field.entries if entry.name != remove]
    else:
        return False
    return True


def _uploads(form):
    """(filename, bytes) per chosen file, reading at most one byte past the size limit."""
    return [(upload.filename, upload.stream.read(MAX_IMAGE_BYTES + 1))
            for upload in form.images.data or [] if getattr(upload, "filename", "")]


def _editor(gig):
    form = _new_form()
    if request.method == "GET":
        if gig is not None:
            form.fill_from(gig)
        else:
            form.basic.offered.data = "y"
        return _render_editor(form, gig)
    if _apply_row_buttons(form):
        return _render_editor(form, gig)
    data, uploads = form.to_input(), _uploads(form)
    remove_ids = {parse_id(v) for v in request.form.getlist("remove_image")} - {None}
    then_submit = request.form.get("then") == "submit"
    was = gig.status if gig is not None else None
    if not form.validate():
        # Parse errors are on the form; the service's checks add what else is wrong.
        kept = [image for image in (gig.images if gig else []) if image.id not in remove_ids]
        check_gig_input(data, uploads, kept)
        raise GigInputError({})
    saved = save_gig(g.company, current_user, data, gig=gig, uploads=uploads, remove_image_ids=remove_ids)
    if then_submit:
        transition_gig(saved, "submit", current_user)
    db.session.commit()
    if then_submit:
        flash("Saved and sent for review.", "success")
    elif was in ("published", "paused"):
        flash("Saved. Your changes go live after a quick review.", "info")
    else:
        flash("Gig saved.", "success")
    return redirect(url_for("sell.edit_gig", gig_id=saved.id), 303)


@bp.route("/gigs/new", methods=["GET", "POST"])
@body_limit(MAX_EDITOR_BYTES)
@seller_required
@refusal_page(_editor_refused)
def new_gig():
    return _editor(None)


@bp.route("/gigs/<int:gig_id>/edit", methods=["GET", "POST"])
@body_limit(MAX_EDITOR_BYTES)
@seller_required
@refusal_page(_editor_refused)
def edit_gig(gig_id):
    return _editor(get_gig_or_404(gig_id))


@bp.route("/gigs/rows/<kind>")
@seller_required
def editor_row(kind):
    """htmx: one empty extra/question/FAQ row, with an index no other row uses."""
    if kind not in ROW_KINDS:
        abort(404)
    form = _new_form(formdata=None)
    form[kind].last_index = secrets.randbelow(9_000_000) + 1_000_000
    return render("sell/fragment.html", kind=kind, entry=form[kind].append_entry())


@bp.route("/gigs/packages/<tier>")
@seller_required
def editor_package(tier):
    """htmx: the Standard/Premium package block, offered (?offered=1) or as an "add" button."""
    if tier not in OPTIONAL_TIERS:
        abort(404)
    form = _new_form(formdata=None)
    form[tier].offered.data = "y" if request.args.get("offered") == "1" else ""
    return render("sell/fragment.html", kind="package", tier=tier, subform=form[tier])


@bp.route("/gigs/removed-row")
@seller_required
def editor_removed():
    """htmx: the empty answer a removed row is swapped for."""
    return "", 200


# -- status changes -----------------------------------------------------------------------------

def _change_status(gig_id, action, done_message):
    gig = get_gig_or_404(gig_id)
    transition_gig(gig, action, current_user)
    db.session.commit()
    flash(done_message.format(title=gig.title), "success")
    back_to_editor = request.form.get("back") == "edit"
    return redirect(url_for("sell.edit_gig", gig_id=gig.id) if back_to_editor else url_for("sell.home"), 303)


@bp.route("/gigs/<int:gig_id>/submit", methods=["POST"])
@seller_required
def submit_gig(gig_id):
    return _change_status(gig_id, "submit", "“{title}” was sent for review.")


@bp.route("/gigs/<int:gig_id>/pause", methods=["POST"])
@seller_required
def pause_gig(gig_id):
    return _change_status(gig_id, "pause", "“{title}” is paused: buyers can't order it until you resume.")


@bp.route("/gigs/<int:gig_id>/resume", methods=["POST"])
@seller_required
def resume_gig(gig_id):
    return _change_status(gig_id, "resume", "“{title}” is live again.")


@bp.route("/gigs/<int:gig_id>/delete", methods=["POST"])
@seller_required
def delete(gig_id):
    gig = get_gig_or_404(gig_id)
    title = gig.title
    delete_gig(gig, current_user)
    db.session.commit()
    flash(f"“{title}” was deleted.", "info")
    return redirect(url_for("sell.home"), 303)


# -- images ---------------------------------------------------------------------------------------

@bp.route("/gigs/<int:gig_id>/images/<int:image_id>/delete", methods=["POST"])
@seller_required
def delete_image(gig_id, image_id):
    gig = get_gig_or_404(gig_id)
    if remove_gig_image(gig, current_user, image_id) is None:
        abort(404)
    db.session.commit()
    if is_htmx():
        return "", 200
    flash("Image removed.", "info")
    return redirect(url_for("sell.edit_gig", gig_id=gig.id), 303)


@bp.route("/images/<path:key>")
def image(key):
    """A gallery image by storage key: public once its gig is published; before that only for
    the seller's members and platform admins (404 for everyone else). Keys name the content,
    so a published image may be cached for a long time."""
    found = db.session.scalar(select(GigImage).where(GigImage.storage_key == key)) or abort(404)
    gig = found.gig
    public = gig.status == "published"
    allowed = public or (current_user.is_authenticated
                         and (current_user.is_admin or gig.company.role_of(current_user) is not None))
    if not allowed:
        abort(404)
    path = storage.path_for(found.storage_key)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=found.content_type, conditional=True,
                         max_age=30 * 86400 if public else 0)
    response.cache_control.public = public
    response.cache_control.private = not public
    return response
