"""The notification bell, the list of notifications, and marking them read."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user, login_required

from app.extensions import db, is_htmx
from app.identity_cache import cached_count, notifications_key
from app.services.messages import mark_notifications_read, notifications_of, unread_count, user_notification
from app.web import paginate, render, safe_next

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
NOTIFICATIONS_PER_PAGE = 50


@bp.app_template_global()
def unread_notification_count():
    """Unread notifications of the signed-in user (the bell's number); 0 when signed out.
    Counted once per change of their notifications in each process (app/identity_cache.py)."""
    if not current_user.is_authenticated:
        return 0
    return cached_count(notifications_key(current_user.id), lambda: unread_count(current_user))


# The pages notifications link to. Only these try to read notifications when opened, so no
# other request (a health check, an API call, a listing) pays for the UPDATE.
READ_ON_OPEN = frozenset(
    {"orders.workspace", "account.home", "buy.product", "sell.gigs.update", "sell.webhooks.detail"}
)


@bp.before_app_request
def read_notifications_of_this_page():
    """Opening the page a notification links to (an order, the account) reads it: the badge
    counts only what the user has not seen yet. Polls and fragments (htmx, not boosted) don't."""
    if request.endpoint not in READ_ON_OPEN or request.method != "GET":
        return
    if is_htmx() and not request.headers.get("HX-Boosted"):
        return
    # The (usually cached) unread count first: with nothing unread there is nothing to write.
    if not current_user.is_authenticated or not unread_notification_count():
        return
    if mark_notifications_read(current_user, link=request.path):
        db.session.commit()


@bp.route("")
@login_required
def index():
    """The list, newest first. Opening it reads what it shows (marked "new" this once), so
    the bell in this very page already counts only what is left."""
    pagination = paginate(notifications_of(current_user), NOTIFICATIONS_PER_PAGE)
    new_ids = {n.id for n in pagination.items if n.read_at is None}
    if new_ids:
        mark_notifications_read(current_user, ids=new_ids)
        db.session.commit()
    return render(
        "notifications/index.html",
        notifications=pagination.items,
        pagination=pagination,
        new_ids=new_ids,
        unread=unread_count(current_user),
    )


@bp.route("/bell")
@login_required
def bell():
    """The bell alone (htmx refreshes it)."""
    return render("notifications/_bell.html", "bell")


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id):
    if user_notification(current_user, notification_id) is None:
        abort(404)
    mark_notifications_read(current_user, notification_id)
    db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for(".index")), 303)


@bp.route("/read-all", methods=["POST"])
@login_required
def read_all():
    mark_notifications_read(current_user)
    db.session.commit()
    return redirect(url_for(".index"), 303)
