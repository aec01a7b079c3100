"""The seller's gigs: the list, the editor (new and edit, with its htmx rows and package
blocks), submitting for review, pausing, resuming, deleting, and removing images.

The editor of a live gig edits its pending revision (services/gig_revisions.py): saving
sends the changes to review while the approved version stays live, and the seller can keep
editing or withdraw them.

Members may create gigs and edit those that are not live (draft, rejected, in review); owners
and admins also submit, pause, resume and delete. Who may do what is checked by
services/gigs.py, whose refusals come back onto the editor's fields.
"""

import secrets

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.access import company_required
from app.extensions import db, is_htmx
from app.forms.sell import GigForm, attach_errors
from app.inputs import body_limit, parse_id
from app.models import Category, Gig, GigRevision
from app.models.gig import MAX_IMAGES
from app.services.gig_revisions import (
    REVIEW_SUBMITTED,
    last_decided_edit,
    pending_revision,
    save_gig_revision,
    withdraw_gig_revision,
)
from app.services.gigs import (
    MAX_IMAGE_BYTES,
    GigForbidden,
    GigInputError,
    GigStateError,
    check_gig_input,
    company_gigs,
    delete_gig,
    gig_content,
    is_live,
    remove_gig_image,
    save_gig,
    transition_gig,
)
from app.web import error_page, refusal_page, render

bp = Blueprint("gigs", __name__, url_prefix="/gigs")
# The editor's body: a full gallery of images plus the form, with room to spare.
MAX_EDITOR_BYTES = (MAX_IMAGES + 2) * MAX_IMAGE_BYTES
ROW_KINDS = ("extras", "questions", "faq")
OPTIONAL_TIERS = ("standard", "premium")


@bp.route("")
@company_required("gigs")
def index():
    return render(
        "sell/gigs.html", company=g.company, gigs=company_gigs(g.company), manager=g.company.is_manager(current_user)
    )


def get_gig_or_404(gig_id):
    """The current seller's gig, else 404 (another seller's gig does not exist for them)."""
    return db.session.scalar(select(Gig).where(Gig.id == gig_id, Gig.company_id == g.company.id)) or abort(404)


# -- the editor ---------------------------------------------------------------------------------


def _new_form(**kwargs):
    form = GigForm(**kwargs)
    categories = db.session.scalars(select(Category).order_by(Category.position, Category.name)).all()
    form.category_id.choices = [("", "Choose a category")] + [(str(c.id), c.name) for c in categories]
    return form


def _revision_context(gig):
    """What the editor shows of a live gig's revisions: the pending one (edited on this page),
    else the last decision on one (a rejection's reason), and the gallery being edited."""
    if gig is None or not is_live(gig):
        return {"live": False, "pending": None, "last_decided": None, "gallery": gig.images if gig else []}
    pending = pending_revision(gig)
    content = pending.content if pending else gig_content(gig)
    return {
        "live": True,
        "pending": pending,
        "last_decided": None if pending else last_decided_edit(gig),
        "gallery": content["images"],
    }


def _render_editor(form, gig, general_errors=None, status=200):
    return render(
        "sell/editor.html",
        form=form,
        gig=gig,
        general_errors=general_errors or {},
        max_images=MAX_IMAGES,
        manager=g.company.is_manager(current_user),
        http_status=status,
        **_revision_context(gig),
    )


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
    return [
        (upload.filename, upload.stream.read(MAX_IMAGE_BYTES + 1))
        for upload in form.images.data or []
        if getattr(upload, "filename", "")
    ]


def _editor(gig):
    form = _new_form()
    if request.method == "GET":
        if gig is not None:
            pending = pending_revision(gig) if is_live(gig) else None
            form.fill_from(pending.content if pending else gig_content(gig))
        else:
            form.basic.offered.data = "y"
        return _render_editor(form, gig)
    if _apply_row_buttons(form):
        return _render_editor(form, gig)
    data, uploads = form.to_input(), _uploads(form)
    if gig is not None and is_live(gig):
        return _save_revision(form, gig, data, uploads)
    remove_ids = {parse_id(v) for v in request.form.getlist("remove_image")} - {None}
    then_submit = request.form.get("then") == "submit"
    if not form.validate():
        # Parse errors are on the form; the service's checks add what else is wrong.
        kept = [image for image in (gig.images if gig else []) if image.id not in remove_ids]
        check_gig_input(data, uploads, kept)
        raise GigInputError({})
    saved = save_gig(g.company, current_user, data, gig=gig, uploads=uploads, remove_image_ids=remove_ids)
    if then_submit:
        transition_gig(saved, "submit", current_user)
    db.session.commit()
    flash("Saved and sent for review." if then_submit else "Gig saved.", "success")
    return redirect(url_for(".update", gig_id=saved.id), 303)


def _save_revision(form, gig, data, uploads):
    """A live gig's editor saved: its pending revision, the live version untouched."""
    remove_keys = [key for key in request.form.getlist("remove_image_key") if key]
    if not form.validate():
        check_gig_input(data, uploads)
        raise GigInputError({})
    revision = save_gig_revision(g.company, current_user, gig, data, uploads=uploads, remove_image_keys=remove_keys)
    db.session.commit()
    if revision is None:
        flash("Nothing to review: what you saved is the live version.", "info")
    else:
        flash(REVIEW_SUBMITTED, "success")
    return redirect(url_for(".update", gig_id=gig.id), 303)


@bp.route("/new", methods=["GET", "POST"])
@body_limit(MAX_EDITOR_BYTES)
@company_required("gigs")
@refusal_page(_editor_refused)
def create():
    return _editor(None)


@bp.route("/<int:gig_id>/edit", methods=["GET", "POST"])
@body_limit(MAX_EDITOR_BYTES)
@company_required("gigs")
@refusal_page(_editor_refused)
def update(gig_id):
    return _editor(get_gig_or_404(gig_id))


def _blank_part(name, names):
    """The `name` part of a blank editor form, for the htmx views that add one; 404 unless it is one of `names`."""
    if name not in names:
        abort(404)
    return _new_form(formdata=None)[name]


@bp.route("/rows/<kind>")
@company_required("gigs")
def row(kind):
    """htmx: one empty extra/question/FAQ row, with an index no other row uses."""
    rows = _blank_part(kind, ROW_KINDS)
    rows.last_index = secrets.randbelow(9_000_000) + 1_000_000
    return render("sell/fragment.html", kind=kind, entry=rows.append_entry())


@bp.route("/packages/<tier>")
@company_required("gigs")
def package(tier):
    """htmx: the Standard/Premium package block, offered (?offered=1) or as an "add" button."""
    subform = _blank_part(tier, OPTIONAL_TIERS)
    subform.offered.data = "y" if request.args.get("offered") == "1" else ""
    return render("sell/fragment.html", kind="package", tier=tier, subform=subform)


@bp.route("/removed-row")
@company_required("gigs")
def removed_row():
    """htmx: the empty answer a removed row is swapped for."""
    return "", 200


# -- status changes -----------------------------------------------------------------------------


# The status changes a seller makes from the gig list or the editor (POST /<gig_id>/<action>,
# endpoint `action`), each with what it flashes.
STATUS_CHANGES = {
    "submit": "“{title}” was sent for review.",
    "pause": "“{title}” is paused: buyers can't order it until you resume.",
    "resume": "“{title}” is live again.",
}


def _status_change(action, done_message):
    """The POST view of one status change: back to the editor when the form says so, else home."""

    def change(gig_id):
        gig = get_gig_or_404(gig_id)
        transition_gig(gig, action, current_user)
        db.session.commit()
        flash(done_message.format(title=gig.title), "success")
        back_to_editor = request.form.get("back") == "edit"
        return redirect(url_for(".update", gig_id=gig.id) if back_to_editor else url_for("sell.home"), 303)

    return change


for _action, _message in STATUS_CHANGES.items():
    bp.add_url_rule(
        f"/<int:gig_id>/{_action}",
        _action,
        company_required("gigs")(_status_change(_action, _message)),
        methods=["POST"],
    )


@bp.route("/<int:gig_id>/delete", methods=["POST"])
@company_required("gigs")
def delete(gig_id):
    gig = get_gig_or_404(gig_id)
    title = gig.title
    delete_gig(gig, current_user)
    db.session.commit()
    flash(f"“{title}” was deleted.", "info")
    return redirect(url_for("sell.home"), 303)


@bp.route("/<int:gig_id>/revisions/<int:revision_id>/withdraw", methods=["POST"])
@company_required("gigs")
def withdraw_revision(gig_id, revision_id):
    """Take back the changes waiting for review; the live version stays as it is."""
    gig = get_gig_or_404(gig_id)
    revision = db.session.scalar(
        select(GigRevision).where(GigRevision.id == revision_id, GigRevision.gig_id == gig.id)
    ) or abort(404)
    withdraw_gig_revision(revision, current_user)
    db.session.commit()
    flash("Your changes were withdrawn; the live version is unchanged.", "info")
    return redirect(url_for(".update", gig_id=gig.id), 303)


@bp.route("/<int:gig_id>/images/<int:image_id>/delete", methods=["POST"])
@company_required("gigs")
def delete_image(gig_id, image_id):
    gig = get_gig_or_404(gig_id)
    if remove_gig_image(gig, current_user, image_id) is None:
        abort(404)
    db.session.commit()
    if is_htmx():
        return "", 200
    flash("Image removed.", "info")
    return redirect(url_for(".update", gig_id=gig.id), 303)
