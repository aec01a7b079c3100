"""The order workspace (buyer, seller and admins): its actions, files, messages and review;
the admins' list of disputed orders.

The seller's list of orders is sell/orders.py."""

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload, lazyload

from app.access import admin_required
from app.extensions import db, is_htmx
from app.inputs import body_limit
from app.models import Company, Gig, Order
from app.money import parse_amount_cents
from app.pagecache import KeptHtml, csrf_slot, kept, order_scope, parts_version
from app.payments import PaymentsUnavailable
from app.services import orders as order_service
from app.services import reviews as review_service
from app.services import storage
from app.services.messages import MAX_MESSAGE_CHARS, order_messages, post_order_message
from app.services.orders import (
    ACTIONS,
    AUTOMATIC_ACTIONS,
    REFUND_ACTIONS,
    Params,
    actor_for,
    allowed_actions,
    prepare_order_refund,
    transition_order,
)
from app.tenancy import set_tenant
from app.web import commit_and_redirect, paginate, refusal_page, render

bp = Blueprint("orders", __name__, url_prefix="/orders")

DONE_MESSAGES = {
    "submit_requirements": "Requirements sent — the seller can start now.",
    "deliver": "Delivered. The buyer has 3 days to accept or ask for a revision.",
    "request_revision": "Revision requested.",
    "accept": "Order completed. Thanks! You can leave a review below.",
    "request_cancel": "Cancellation requested. The other party can agree or decline.",
    "accept_cancel": "Order cancelled and the buyer refunded.",
    "decline_cancel": "Cancellation declined — the order continues.",
    "withdraw_cancel": "Cancellation request withdrawn.",
    "cancel": "Order cancelled and the buyer refunded.",
    "open_dispute": "Dispute opened. An admin will review it.",
    "resolve_refund": "Dispute resolved with a full refund.",
    "resolve_partial": "Dispute resolved with a partial refund; the rest goes to the seller.",
    "resolve_release": "Dispute resolved; the payment goes to the seller.",
}
ORDERS_PER_PAGE = 50
# The workspace shows the gig's title and, while requirements are due, its questions: its
# packages, extras and images (each a selectin query when a Gig loads) are left unloaded.
ORDER_PAGE_LOADING = (
    joinedload(Order.gig).options(
        lazyload(Gig.packages),
        lazyload(Gig.extras),
        lazyload(Gig.images),
        lazyload(Gig.questions),
        # The seller company's name, not its member list (loaded only if something asks).
        joinedload(Gig.company).lazyload(Company.members),
    ),
)
REFUND_UNAVAILABLE = "Payments are unavailable right now. Nothing was refunded — please try again."


def get_order_or_404(order_id):
    """(order, actor) for a participant or admin; 404 for everyone else (existence never leaks).

    Sellers act inside their company's tenant scope.
    """
    order = db.session.get(Order, order_id, options=ORDER_PAGE_LOADING)
    actor = actor_for(order, current_user) if order is not None else None
    if actor is None:
        abort(404)
    if actor.role == "seller":
        set_tenant(order.company_id)
    return order, actor


def workspace_context(order, actor, errors=None, form=None, refused=None):
    return dict(
        order=order,
        actor=actor,
        actions=allowed_actions(order, actor),
        ACTIONS=ACTIONS,
        button_actions=[a for a in allowed_actions(order, actor) if a not in order_service.FORM_ACTIONS],
        timeline=order_service.order_timeline(order.id),
        answers=order_service.order_answers(order.id),
        requirement_files=order_service.order_files(order.id, "requirements"),
        deliveries=order_service.order_deliveries(order.id),
        messages=order_messages(order.id),
        MAX_MESSAGE_CHARS=MAX_MESSAGE_CHARS,
        review=review_service.review_of(order.id),
        dispute=order_service.open_dispute_of(order.id),
        cancel_requester=order_service.cancel_requester(order),
        refundable=order_service.refundable_on(order),
        refunds=order_service.refund_summary(order),
        gig=order.gig,
        auto_complete_at=(order.delivered_at + order_service.AUTO_COMPLETE_AFTER if order.delivered_at else None),
        errors=errors or {},
        form=form or {},
        refused=refused,
    )


def render_workspace(order, actor, status=200, **extra):
    return render("orders/workspace.html", **workspace_context(order, actor, **extra), http_status=status)


def workspace_refused(exc, order_id, action=None):
    """The workspace again, input kept: field errors next to their fields (in the form of
    `action`), or what was refused and why."""
    order, actor = get_order_or_404(order_id)
    if isinstance(exc, PaymentsUnavailable):
        return render_workspace(
            order, actor, exc.status, refused=REFUND_UNAVAILABLE, errors={"action": action}, form=request.form
        )
    if exc.errors:
        return render_workspace(order, actor, exc.status, errors={"action": action, **exc.errors}, form=request.form)
    return render_workspace(order, actor, exc.status, refused=exc.message)


@bp.route("/<int:order_id>")
@login_required
def workspace(order_id):
    """The order's page for its buyer, its seller's members and admins. Kept per order and
    viewer under the order's version (pagecache.kept: any write to the order or its parts
    moves it), each form's CSRF token filled in per request; served only while the viewer's
    role on the order, checked again from their identity, is the one it was built for."""
    version = parts_version(order_scope(order_id))
    page = kept(version, ("order", order_id, current_user.id), lambda: _kept_workspace(order_id))
    if page is None or page.role != _role_now(page):
        order, actor = get_order_or_404(order_id)
        return render_workspace(order, actor)
    return render_template("_partials/kept_page.html", part=page), 200, {"Vary": "HX-Request"}


@dataclass(frozen=True)
class KeptWorkspace:
    title: Markup
    before: KeptHtml
    role: str
    buyer_id: int
    company_id: int
    after: Markup = Markup("")


def _role_now(page):
    """The viewer's role on the kept page's order, from their identity (no query)."""
    if page.buyer_id == current_user.id:
        return "buyer"
    if any(membership.company_id == page.company_id for membership in current_user.memberships):
        return "seller"
    return "admin" if current_user.is_admin else None


def _kept_workspace(order_id):
    order = db.session.get(Order, order_id, options=ORDER_PAGE_LOADING)
    actor = actor_for(order, current_user) if order is not None else None
    if actor is None:
        return None
    if actor.role == "seller":
        set_tenant(order.company_id)
    context = workspace_context(order, actor)
    return KeptWorkspace(
        title=Markup(render_block("orders/workspace.html", "title", **context)),
        before=KeptHtml(render_block("orders/workspace.html", "content", **context, csrf_token=csrf_slot)),
        role=actor.role,
        buyer_id=order.buyer_id,
        company_id=order.company_id,
    )


@bp.route("/<int:order_id>/actions/<action>", methods=["POST"])
@body_limit(order_service.MAX_FILES * order_service.MAX_FILE_BYTES + 1024 * 1024)
@login_required
@refusal_page(workspace_refused)
def act(order_id, action):
    """Take one state-machine action; refusals re-render the workspace with 403/409/422.

    An action that refunds the buyer first commits its pending refund (and Stripe key), then
    asks Stripe; Stripe unreachable answers 503 with only that pending refund written, which
    the next attempt finishes."""
    order, actor = get_order_or_404(order_id)
    if action not in ACTIONS or action in AUTOMATIC_ACTIONS:
        abort(404)
    params = Params(
        note=request.form.get("note", ""),
        form=request.form,
        files=request.files.getlist("files"),
        amount_cents=parse_amount_cents(request.form.get("amount"), order.currency),
    )
    if action in REFUND_ACTIONS:
        prepare_order_refund(order, action, actor, params)
        db.session.commit()
    transition_order(order, action, actor, params)
    db.session.commit()
    flash(DONE_MESSAGES.get(action, "Done."), "success")
    return redirect(url_for(".workspace", order_id=order_id), 303)


@bp.route("/<int:order_id>/files/<int:file_id>")
@login_required
def download(order_id, file_id):
    """A requirement or delivery file, to the order's participants and admins only."""
    order, _actor = get_order_or_404(order_id)
    found = order_service.order_file(order.id, file_id) or abort(404)
    path = storage.path_for(found.storage_key)
    if not path.is_file():
        abort(404)
    response = send_file(
        path, mimetype="application/octet-stream", as_attachment=True, download_name=found.filename, max_age=0
    )
    response.cache_control.private = True
    return response


@bp.route("/<int:order_id>/messages")
@login_required
def messages(order_id):
    """The conversation block (htmx polls it every few seconds)."""
    order, actor = get_order_or_404(order_id)
    return render("orders/workspace.html", "messages", **workspace_context(order, actor))


def _message_refused(exc, order_id):
    """The conversation again, and the form with the message as typed and why it was not sent
    under it (htmx: the list plus the form out of band; without htmx: the whole page)."""
    order, actor = get_order_or_404(order_id)
    context = workspace_context(order, actor, errors={"message": exc.message}, form=request.form)
    if is_htmx() and not request.headers.get("HX-Boosted"):
        body = render_block("orders/workspace.html", "messages", **context) + render_block(
            "orders/workspace.html", "message_form", oob=True, **context
        )
        return body, exc.status, {"Vary": "HX-Request"}
    return render("orders/workspace.html", **context, http_status=exc.status)


@bp.route("/<int:order_id>/messages", methods=["POST"])
@login_required
@refusal_page(_message_refused)
def post_message(order_id):
    """Send a message; htmx gets the refreshed list plus an emptied form (out of band)."""
    order, actor = get_order_or_404(order_id)
    recipients = [u for u in order_service.participants(order) if u.id != current_user.id]
    post_order_message(order, actor, request.form.get("body"), recipients)
    db.session.commit()
    if request.headers.get("HX-Request"):
        context = workspace_context(order, actor)
        body = render_block("orders/workspace.html", "messages", **context) + render_block(
            "orders/workspace.html", "message_form", oob=True, **context
        )
        return body, 200, {"Vary": "HX-Request"}
    return redirect(url_for(".workspace", order_id=order_id, _anchor="messages"), 303)


@bp.route("/<int:order_id>/review", methods=["POST"])
@login_required
@refusal_page(workspace_refused)
def review(order_id):
    order, _actor = get_order_or_404(order_id)
    review_service.leave_review(order, current_user, request.form.get("rating"), request.form.get("body"))
    return commit_and_redirect("Thanks for your review!", ".workspace", order_id=order_id, _anchor="review")


@bp.route("/<int:order_id>/review/reply", methods=["POST"])
@login_required
@refusal_page(workspace_refused)
def reply(order_id):
    order, _actor = get_order_or_404(order_id)
    found = review_service.review_of(order.id)
    if found is None:
        raise review_service.ReviewError(409, "There is no review to reply to yet.")
    review_service.reply_to_review(found, current_user, request.form.get("reply"))
    return commit_and_redirect("Reply posted.", ".workspace", order_id=order_id, _anchor="review")


@bp.route("/disputed")
@admin_required
def disputed():
    """Admins: every disputed order, oldest first — the queue to resolve."""
    pagination = paginate(
        select(Order).where(Order.status == "disputed").order_by(Order.updated_at, Order.id), ORDERS_PER_PAGE
    )
    return render("orders/disputed.html", orders=pagination.items, pagination=pagination)


@bp.app_template_global()
def gig_reviews(gig):
    """Reviews for the gig page's reviews section (templates/orders/_gig_reviews.html)."""
    return review_service.gig_reviews(gig.id)
