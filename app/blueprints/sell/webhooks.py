"""The seller's outbound webhooks (owners and admins): endpoints, their signing secrets, delivery
logs, resending, recovering failed messages and test events."""

from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, flash, g, redirect, request, url_for
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy import select

from app.access import company_required
from app.clock import now
from app.errors import InputError
from app.extensions import db
from app.models import WebhookEndpoint, WebhookMessage
from app.models.outbound import MESSAGE_STATUSES
from app.services.outbound import catalogue, dispatch, endpoints, outbox, signing
from app.services.outbound.queueing import enqueue_delivery, try_enqueue_deliveries
from app.web import commit_and_redirect, company_form, confirm_page, refusal_page, render, require_confirmation

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
FILTER_EVENT_TYPES = (*catalogue.EVENT_TYPES, catalogue.TEST_EVENT_TYPE)
QUEUE_DOWN_TEST_EVENT = (
    "The test event was not sent: our delivery queue is unavailable right now, "
    "and nothing was saved. Please try again in a few minutes."
)
QUEUE_DOWN_LATER = "as soon as our delivery queue is back (it is unavailable right now)"
EVENT_GROUPS = {}
for _type in catalogue.EVENT_TYPES:
    EVENT_GROUPS.setdefault(_type.split(".")[0], []).append(_type)


def get_endpoint_or_404(endpoint_id):
    """The current company's own endpoint, or 404 (other companies' endpoints, and those its
    installed apps own, do not exist here)."""
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.company_id == g.company.id,
            WebhookEndpoint.app_installation_id.is_(None),
        )
    )
    return endpoint or abort(404)


def get_message_or_404(endpoint, message_id):
    message = db.session.scalar(
        select(WebhookMessage).where(
            WebhookMessage.id == message_id,
            WebhookMessage.endpoint_id == endpoint.id,
            WebhookMessage.company_id == g.company.id,
        )
    )
    return message or abort(404)


def form_input():
    return {
        "url": request.form.get("url", ""),
        "description": request.form.get("description", ""),
        "event_types": request.form.getlist("event_types"),
        "enabled": request.form.get("enabled") == "on",
    }


def render_form(endpoint, values, errors=None, status=200):
    return render(
        "seller_webhooks/form.html",
        endpoint=endpoint,
        values=values,
        catalogue=catalogue.EVENT_CATALOGUE,
        event_groups=EVENT_GROUPS,
        errors=errors or {},
        http_status=status,
    )


def form_refused(exc, endpoint_id=None):
    """The form again as typed, each field's error next to it."""
    endpoint = get_endpoint_or_404(endpoint_id) if endpoint_id is not None else None
    return render_form(endpoint, form_input(), exc.errors, exc.status)


def render_detail(endpoint, secret=None, recover_error=None, since_value="", status=200, block="deliveries"):
    event_type = request.args.get("event_type", "")
    status_filter = request.args.get("status", "")
    messages = endpoints.list_messages(
        endpoint,
        event_type=event_type if event_type in FILTER_EVENT_TYPES else None,
        status=status_filter if status_filter in MESSAGE_STATUSES else None,
    )
    body, status, headers = render(
        "seller_webhooks/detail.html",
        block,
        endpoint=endpoint,
        messages=messages,
        polling=any(m.status == "pending" for m in messages),
        event_type=event_type,
        status=status_filter,
        statuses=MESSAGE_STATUSES,
        event_types=FILTER_EVENT_TYPES,
        now_utc=now(),
        secret=secret,
        recover_error=recover_error,
        since_value=since_value,
        http_status=status,
    )
    if secret:
        headers["Cache-Control"] = "no-store"
    return body, status, headers


@bp.route("/")
@company_required("webhooks")
def index():
    return render(
        "seller_webhooks/index.html",
        endpoints=endpoints.list_endpoints(g.company),
        counts=endpoints.message_counts(g.company),
    )


@bp.route("/new")
@company_required("webhooks")
def new():
    return render_form(None, {"url": "", "description": "", "event_types": [], "enabled": True})


@company_form(bp, "/", "webhooks", form_refused)
def create():
    endpoint = endpoints.create_endpoint(g.company, actor=current_user, **form_input())
    return commit_and_redirect(
        "Endpoint added. Reveal its signing secret below and store it with your receiver.",
        ".detail",
        endpoint_id=endpoint.id,
    )


@bp.route("/<int:endpoint_id>")
@company_required("webhooks")
def detail(endpoint_id):
    return render_detail(get_endpoint_or_404(endpoint_id))


@bp.route("/<int:endpoint_id>/secret")
@company_required("webhooks")
def secret(endpoint_id):
    endpoint = get_endpoint_or_404(endpoint_id)
    return render_detail(endpoint, secret=signing.endpoint_secret(endpoint), block="secret")


@bp.route("/<int:endpoint_id>/edit")
@company_required("webhooks")
def edit(endpoint_id):
    endpoint = get_endpoint_or_404(endpoint_id)
    return render_form(
        endpoint,
        {
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": endpoint.event_types,
            "enabled": endpoint.enabled,
        },
    )


@company_form(bp, "/<int:endpoint_id>", "webhooks", form_refused)
def update(endpoint_id):
    endpoint = get_endpoint_or_404(endpoint_id)
    endpoints.update_endpoint(endpoint, **form_input())
    return commit_and_redirect("Endpoint saved.", ".detail", endpoint_id=endpoint.id)


# The steps that ask before acting on an endpoint, by the action (also the word to confirm):
# title, message (with the endpoint's url) and button.
CONFIRMATIONS = {
    "delete": (
        "Delete this endpoint?",
        "{url} will receive no more events, and its delivery log goes with it. "
        "To stop deliveries for a while instead, disable it.",
        "Delete endpoint",
    ),
    "rotate": (
        "Rotate the signing secret?",
        "Deliveries to {url} will be signed with a new secret. The current one keeps "
        "signing alongside it for 24 hours: update your receiver within that time.",
        "Rotate secret",
    ),
}


def _confirmation(endpoint, action, error=None, status=200):
    title, message, button = CONFIRMATIONS[action]
    return confirm_page(
        title=title,
        message=message.format(url=endpoint.url),
        action=url_for(f".{action}", endpoint_id=endpoint.id),
        word=action,
        button=button,
        cancel=url_for(".detail", endpoint_id=endpoint.id),
        error=error,
        status=status,
    )


def _unconfirmed(action):
    """The refusal page of `action`'s POST: its confirmation step again, with the error."""
    return lambda exc, endpoint_id: _confirmation(get_endpoint_or_404(endpoint_id), action, exc.message, exc.status)


def _confirmation_step(action):
    """The GET view of `action`'s confirmation step (the button on it posts to the action)."""

    def confirm(endpoint_id):
        return _confirmation(get_endpoint_or_404(endpoint_id), action)

    return confirm


for _action in CONFIRMATIONS:
    bp.add_url_rule(
        f"/<int:endpoint_id>/{_action}", f"confirm_{_action}", company_required("webhooks")(_confirmation_step(_action))
    )


@company_form(bp, "/<int:endpoint_id>/delete", "webhooks", _unconfirmed("delete"))
def delete(endpoint_id):
    endpoint = get_endpoint_or_404(endpoint_id)
    require_confirmation("delete", "Confirm that this endpoint is to be deleted.")
    endpoints.delete_endpoint(endpoint, actor=current_user)
    return commit_and_redirect("Endpoint deleted.", ".index")


@company_form(bp, "/<int:endpoint_id>/rotate", "webhooks", _unconfirmed("rotate"))
def rotate(endpoint_id):
    endpoint = get_endpoint_or_404(endpoint_id)
    require_confirmation("rotate", "Confirm that the signing secret is to be rotated.")
    endpoint = endpoints.rotate_endpoint_secret(endpoint, actor=current_user)
    return commit_and_redirect(
        "Secret rotated. The previous secret keeps signing alongside the new one for 24 hours.",
        ".secret",
        endpoint_id=endpoint.id,
    )


@bp.route("/<int:endpoint_id>/test", methods=["POST"])
@company_required("webhooks")
def send_test(endpoint_id):
    endpoint = get_endpoint_or_404(endpoint_id)
    if not endpoint.enabled:
        abort(409, "Enable the endpoint before sending a test event.")
    endpoint_id = endpoint.id
    message_id = outbox.send_test_event(endpoint).id
    db.session.commit()
    try:
        enqueue_delivery(message_id)
    except RedisError:
        # A test is only useful now: rather than leave it for the sweep, take it back and say so.
        current_app.logger.warning("test event %s not queued: Redis unavailable", message_id)
        withdrawn = outbox.withdraw_test_event(message_id)
        db.session.commit()
        if withdrawn:
            abort(503, QUEUE_DOWN_TEST_EVENT)
    flash("Test event queued.", "success")
    return redirect(url_for(".detail", endpoint_id=endpoint_id), 303)


def parse_since(text):
    """The UTC moment a datetime-local field holds; InputError naming `since` otherwise."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
    except ValueError:
        raise InputError("since", "Enter a date and time, e.g. 2026-11-20 09:00.") from None


def recover_refused(exc, endpoint_id):
    return render_detail(
        get_endpoint_or_404(endpoint_id),
        recover_error=exc.message,
        since_value=request.form.get("since", "").strip(),
        status=exc.status,
        block="recover",
    )


@bp.route("/<int:endpoint_id>/recover", methods=["POST"])
@company_required("webhooks")
@refusal_page(recover_refused)
def recover(endpoint_id):
    endpoint = get_endpoint_or_404(endpoint_id)
    since = parse_since(request.form.get("since", ""))
    if not endpoint.enabled:
        abort(409, "Enable the endpoint before recovering messages.")
    endpoint_id = endpoint.id
    message_ids = [message.id for message in dispatch.recover_failed_messages(endpoint, since)]
    db.session.commit()
    counted = f"{len(message_ids)} failed message{'s' if len(message_ids) != 1 else ''}"
    if try_enqueue_deliveries(message_ids):
        flash(f"{counted} queued again.", "success")
    else:
        flash(f"{counted} will be sent {QUEUE_DOWN_LATER}.", "warning")
    return redirect(url_for(".detail", endpoint_id=endpoint_id), 303)


@bp.route("/<int:endpoint_id>/messages/<int:message_id>")
@company_required("webhooks")
def message(endpoint_id, message_id):
    endpoint = get_endpoint_or_404(endpoint_id)
    found = get_message_or_404(endpoint, message_id)
    return render(
        "seller_webhooks/message.html",
        "attempts",
        endpoint=endpoint,
        message=found,
        payload=signing.pretty_payload(found.event),
    )


@bp.route("/<int:endpoint_id>/messages/<int:message_id>/resend", methods=["POST"])
@company_required("webhooks")
def resend(endpoint_id, message_id):
    endpoint = get_endpoint_or_404(endpoint_id)
    found = get_message_or_404(endpoint, message_id)
    if not endpoint.enabled:
        abort(409, "Enable the endpoint before resending.")
    if not dispatch.resend_message(found):
        abort(409, "This message is being delivered right now.")
    endpoint_id, message_id, public_id = endpoint.id, found.id, found.public_id
    db.session.commit()
    if try_enqueue_deliveries([message_id]):
        flash(f"Message {public_id} queued again.", "success")
    else:
        flash(f"Message {public_id} will be sent {QUEUE_DOWN_LATER}.", "warning")
    return redirect(url_for(".message", endpoint_id=endpoint_id, message_id=message_id), 303)
