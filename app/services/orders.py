"""The order state machine: the one place an order's status changes.

`TRANSITIONS` maps (from status, action, actor role) to the next status; `ACTIONS` says what
each action is (`OrderAction`: its button, its timeline verb, the outbound event it records,
whether it needs a note, its guard, its input check and its effect). `transition_order`
locks the order row (SELECT … FOR UPDATE on PostgreSQL; SQLite transactions are serial),
checks the table and the action's guard, validates the input, applies the action's effect
(escrow release, refunds, deliveries …), then writes the timeline row (`order_events`),
notifications and emails to the other side, and one outbound webhook event — all in the
caller's transaction, which commits or rolls back as one. A refused action raises
`TransitionRefused` before anything is written; bad input raises `OrderInputError`.

Roles: the buyer; the seller (any member of the order's company); a platform admin; and
"system" (sweeps and Stripe webhooks).
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any, Literal

from flask import current_app
from sqlalchemy import func, select, update
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from app.clock import iso_z, now
from app.errors import ServiceError
from app.extensions import db
from app.models import (
    CompanyMember,
    Gig,
    Order,
    OrderAnswer,
    OrderDelivery,
    OrderDispute,
    OrderEvent,
    OrderFile,
    OutboxEvent,
    Payment,
    Refund,
    User,
)
from app.models.company import MANAGER_ROLES
from app.money import format_money
from app.payments import get_gateway
from app.services import storage
from app.services.escrow import (
    RefundError,
    pending_refund,
    prepare_refund,
    record_external_refund,
    record_refund_made,
    refund_order,
    refund_remaining,
    refundable_cents,
    release_escrow,
)
from app.services.mail import app_url, send_template
from app.services.notifications import notify_user
from app.services.outbound.outbox import record_event

ROLES = ("buyer", "seller", "admin", "system")
OPEN = ("awaiting_requirements", "in_progress", "delivered", "revision_requested")
PREVIOUS = "previous"  # back to the status the order had before the cancellation request
AUTO_COMPLETE_AFTER = timedelta(days=3)
MAX_FILES, MAX_FILE_BYTES = 5, 10 * 1024 * 1024
MAX_NOTE_CHARS = 5000
ANSWER_LIMITS = {"short_text": 300, "long_text": 5000, "single_choice": 300}

TRANSITIONS = {
    ("awaiting_requirements", "submit_requirements", "buyer"): "in_progress",
    ("in_progress", "deliver", "seller"): "delivered",
    ("revision_requested", "deliver", "seller"): "delivered",
    ("delivered", "request_revision", "buyer"): "revision_requested",
    ("delivered", "accept", "buyer"): "completed",
    ("delivered", "auto_complete", "system"): "completed",
    **{(status, "request_cancel", role): "cancel_requested" for status in OPEN for role in ("buyer", "seller")},
    **{("cancel_requested", "accept_cancel", role): "cancelled" for role in ("buyer", "seller")},
    **{("cancel_requested", "decline_cancel", role): PREVIOUS for role in ("buyer", "seller")},
    **{("cancel_requested", "withdraw_cancel", role): PREVIOUS for role in ("buyer", "seller")},
    **{(status, "cancel", "admin"): "cancelled" for status in OPEN + ("cancel_requested", "disputed")},
    **{
        (status, "open_dispute", role): "disputed"
        for status in ("in_progress", "delivered", "revision_requested")
        for role in ("buyer", "seller")
    },
    # A chargeback can arrive at any time until the order is closed, even after completion.
    **{(status, "open_dispute", "system"): "disputed" for status in OPEN + ("cancel_requested", "completed")},
    ("disputed", "resolve_refund", "admin"): "refunded",
    ("disputed", "resolve_partial", "admin"): "completed",
    ("disputed", "resolve_release", "admin"): "completed",
    ("disputed", "resolve_release", "system"): "completed",  # the bank decided a chargeback for the seller
    **{
        (status, "record_refund", "system"): "refunded"
        for status in OPEN + ("cancel_requested", "disputed", "completed")
    },
}
LATE_STATUSES = ("in_progress", "revision_requested")


class TransitionRefused(ServiceError):
    """An action this actor may not take (403) or not now (409); nothing was written."""

    def __init__(self, status: int, message: str):
        super().__init__(status, "transition_refused", message)


class OrderInputError(ServiceError):
    """Input the actor can fix: `errors` maps field names to messages; nothing was written (422)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(422, "invalid_order_input", "; ".join(f"{k}: {v}" for k, v in errors.items()), errors=errors)


@dataclass(frozen=True)
class Actor:
    role: str
    user: User | None = None

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @property
    def name(self) -> str:
        return "Tradepost" if self.user is None else self.user.display_name


SYSTEM = Actor("system")


@dataclass
class Params:
    """What an action was given: a note, form fields, uploaded files, an amount."""

    note: str = ""
    form: Mapping[str, Any] = field(default_factory=dict)
    files: list[Any] = field(default_factory=list)
    amount_cents: int | None = None
    stripe_dispute_id: str | None = None
    made_refund: Any = None  # a Stripe refund already made for this action's prepared refund


Guard = Callable[[Order, str], str | None]
Prepare = Callable[[Order, Actor, Params], Params]
Effect = Callable[[Order, Actor, Params], dict[str, Any]]


# -- who is asking ---------------------------------------------------------------------------------


def actor_for(order: Order, user: User | None) -> Actor | None:
    """The user's role on this order (buyer, seller, admin), or None for everyone else."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if order.buyer_id == user.id:
        return Actor("buyer", user)
    if db.session.scalar(
        select(CompanyMember.role).where(CompanyMember.company_id == order.company_id, CompanyMember.user_id == user.id)
    ):
        return Actor("seller", user)
    if user.is_admin:
        return Actor("admin", user)
    return None


def role_can_ever(action: str, role: str) -> bool:
    """Whether the table lets `role` take `action` from any status."""
    return any(a == action and r == role for (_s, a, r) in TRANSITIONS)


def cancel_requester(order: Order) -> str | None:
    """The role ('buyer'/'seller') that asked to cancel, while the order is cancel_requested."""
    if order.status != "cancel_requested":
        return None
    return db.session.scalar(
        select(OrderEvent.actor_role)
        .where(OrderEvent.order_id == order.id, OrderEvent.action == "request_cancel")
        .order_by(OrderEvent.id.desc())
        .limit(1)
    )


# -- guards: why the table's transition is refused for this particular order, or None ------------


def _revisions_left(order: Order, role: str) -> str | None:
    if order.revisions_allowed is not None and order.revisions_used >= order.revisions_allowed:
        return "All the revisions included in this package have been used."
    return None


def _other_party_answers(order: Order, role: str) -> str | None:
    if cancel_requester(order) == role:
        return "The other party has to answer your cancellation request."
    return None


def _requester_withdraws(order: Order, role: str) -> str | None:
    if cancel_requester(order) != role:
        return "Only the party who asked to cancel can withdraw the request."
    return None


def _review_time_over(order: Order, role: str) -> str | None:
    if order.delivered_at is None or order.delivered_at > now() - AUTO_COMPLETE_AFTER:
        return "The buyer still has time to review the delivery."
    return None


# -- input ---------------------------------------------------------------------------------------------


def _clean_note(text: str | None, required: bool, field_name: str = "note", label: str = "a note") -> str:
    text = (text or "").strip()
    if required and not text:
        raise OrderInputError({field_name: f"Add {label}."})
    if len(text) > MAX_NOTE_CHARS:
        raise OrderInputError({field_name: f"Keep it under {MAX_NOTE_CHARS:,} characters."})
    return text


def _prepare_note_optional(order: Order, actor: Actor, params: Params) -> Params:
    params.note = _clean_note(params.note, required=False)
    return params


def _prepare_note_required(order: Order, actor: Actor, params: Params) -> Params:
    params.note = _clean_note(params.note, required=True, label="a reason")
    return params


def _read_uploads(files: Sequence[FileStorage | None] | None, field_name: str = "files") -> list[tuple[str, bytes]]:
    """[(filename, bytes)] of the non-empty uploads; OrderInputError past the count or size limits."""
    blobs: list[tuple[str, bytes]] = []
    for upload in files or []:
        filename = getattr(upload, "filename", "")
        if upload is None or not filename:
            continue
        data = upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise OrderInputError({field_name: f"{filename}: files can be at most 10 MB."})
        if data:
            blobs.append((filename, data))
    if len(blobs) > MAX_FILES:
        raise OrderInputError({field_name: f"Attach at most {MAX_FILES} files."})
    return blobs


def validate_answers(gig: Gig, form: Mapping[str, Any]) -> list[tuple[Any, str, str]]:
    """[(question or None, prompt, answer)] for the gig's questions; OrderInputError naming each bad field."""
    errors, answers = {}, []
    for question in gig.questions:
        name = f"q_{question.id}"
        value = (form.get(name) or "").strip()
        limit = ANSWER_LIMITS[question.kind]
        if question.required and not value:
            errors[name] = "This question needs an answer."
        elif len(value) > limit:
            errors[name] = f"Keep the answer under {limit:,} characters."
        elif value and question.kind == "single_choice" and value not in (question.choices or []):
            errors[name] = "Choose one of the options."
        answers.append((question, question.prompt, value))
    notes = (form.get("notes") or "").strip()
    if len(notes) > MAX_NOTE_CHARS:
        errors["notes"] = f"Keep the notes under {MAX_NOTE_CHARS:,} characters."
    if errors:
        raise OrderInputError(errors)
    if notes:
        answers.append((None, "Anything else the seller should know", notes))
    return answers


def _prepare_requirements(order: Order, actor: Actor, params: Params) -> Params:
    gig = db.session.get_one(Gig, order.gig_id)
    params.form = {"answers": validate_answers(gig, params.form)}
    params.files = _read_uploads(params.files)
    params.note = ""
    return params


def _prepare_delivery(order: Order, actor: Actor, params: Params) -> Params:
    params.note = _clean_note(params.note, required=True, field_name="note", label="a message for the buyer")
    params.files = _read_uploads(params.files)
    return params


def _prepare_partial(order: Order, actor: Actor, params: Params) -> Params:
    params.note = _clean_note(params.note, required=True, label="a reason")
    refundable = refundable_on(order)
    amount = params.amount_cents
    if not isinstance(amount, int) or not 0 < amount < refundable:
        raise OrderInputError(
            {
                "amount": f"Refund between {format_money(1, order.currency)} and "
                f"{format_money(refundable - 1, order.currency)} "
                "(use a full refund for everything)."
            }
        )
    return params


def _of_order(order: Order) -> dict[str, int]:
    """The columns that tie a row (file, answer, event, dispute) to its order and the order's company."""
    return {"company_id": order.company_id, "order_id": order.id}


def _store_files(
    order: Order, purpose: str, blobs: list[tuple[str, bytes]], actor: Actor, delivery: OrderDelivery | None = None
) -> None:
    for filename, data in blobs:
        suffix = PurePath(filename).suffix.lower().lstrip(".")
        extension = suffix if re.fullmatch(r"[a-z0-9]{2,5}", suffix) else "bin"
        key = storage.save_file(storage.content_key(f"orders/{order.id}", data, extension), data)
        db.session.add(
            OrderFile(
                **_of_order(order),
                purpose=purpose,
                delivery_id=delivery.id if delivery else None,
                filename=(secure_filename(filename) or f"file.{extension}")[:200],
                storage_key=key,
                size_bytes=len(data),
                uploaded_by_user_id=actor.user_id,
            )
        )


# -- effects: what an action does besides the status change; returns the event's data -----------------


def _no_effect(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    return {}


def _submit_requirements(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    for position, (question, prompt, answer) in enumerate(params.form["answers"]):
        db.session.add(
            OrderAnswer(
                **_of_order(order),
                position=position,
                question_id=question.id if question else None,
                prompt=prompt,
                answer=answer,
            )
        )
    _store_files(order, "requirements", params.files, actor)
    # The delivery clock starts once the seller knows what to do.
    order.due_at = now() + timedelta(days=order.delivery_days)
    return {"due_at": iso_z(order.due_at)}


def _deliver(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    number = (
        db.session.execute(
            select(func.count()).select_from(OrderDelivery).where(OrderDelivery.order_id == order.id)
        ).scalar_one()
        + 1
    )
    delivery = OrderDelivery(
        **_of_order(order),
        number=number,
        message=params.note,
        created_by_user_id=actor.user_id,
    )
    db.session.add(delivery)
    db.session.flush()
    _store_files(order, "delivery", params.files, actor, delivery)
    order.delivered_at = now()
    return {"delivery_id": delivery.id, "auto_complete_at": iso_z(order.delivered_at + AUTO_COMPLETE_AFTER)}


def _request_revision(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    order.revisions_used += 1
    return {"revision": order.revisions_used}


def _complete(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    release_escrow(order)
    if order.completed_at is None:
        order.completed_at = now()
        db.session.execute(update(Gig).where(Gig.id == order.gig_id).values(orders_completed=Gig.orders_completed + 1))
    clears_at = order.completed_at + timedelta(days=current_app.config["CLEARANCE_DAYS"])
    return {
        "seller_amount_cents": order.seller_amount_cents,
        "currency": order.currency,
        "clears_at": iso_z(clears_at),
    }


def _request_cancel(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    order.previous_status = order.status
    return {"requested_by": actor.role}


def _refund_reason(action: str, note: str) -> str:
    """What the refund row and the ledger say the buyer was refunded for."""
    if action in ("accept_cancel", "cancel"):
        return f"Cancelled: {note or 'Cancelled by agreement'}"[:300]
    return f"Dispute resolved: {note or 'full refund'}"[:300]


def _refund_everything(order: Order, actor: Actor, action: str, params: Params) -> int:
    refund = refund_remaining(
        order, reason=_refund_reason(action, params.note), actor=actor.user, made=params.made_refund
    )
    return refund.amount_cents if refund else 0


def _cancel(order: Order, actor: Actor, params: Params, action: str = "cancel") -> dict[str, Any]:
    reason = params.note or "Cancelled by agreement"
    refunded = _refund_everything(order, actor, action, params)
    order.cancelled_at = now()
    _close_dispute(order, actor, "cancelled", refunded)
    return {"reason": reason[:300], "amount_refunded_cents": refunded, "currency": order.currency}


def _accept_cancel(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    return _cancel(order, actor, params, action="accept_cancel")


def _open_dispute(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    db.session.add(
        OrderDispute(
            **_of_order(order),
            opened_by_role=actor.role,
            opened_by_user_id=actor.user_id,
            reason=params.note,
            stripe_dispute_id=params.stripe_dispute_id,
        )
    )
    _tell_admins_of_dispute(order, params.note)
    return {"reason": params.note[:300]}


def _tell_admins_of_dispute(order: Order, reason: str) -> None:
    """Every active admin hears that an order went into dispute (the queue to resolve)."""
    admins = db.session.scalars(
        select(User).where(User.is_admin.is_(True), User.active.is_(True)).order_by(User.id)
    ).all()
    for admin in admins:
        notify_user(
            admin, "dispute.opened", f"Order #{order.id} is in dispute", body=reason[:500], link="/orders/disputed"
        )


def _close_dispute(order: Order, actor: Actor, resolution: str, refunded_cents: int | None) -> None:
    dispute = db.session.scalar(
        select(OrderDispute).where(OrderDispute.order_id == order.id, OrderDispute.status == "open")
    )
    if dispute is not None:
        dispute.status, dispute.resolution, dispute.refunded_cents = "resolved", resolution, refunded_cents or 0
        dispute.resolved_by_user_id, dispute.resolved_at = actor.user_id, now()


def _resolve_refund(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    refunded = _refund_everything(order, actor, "resolve_refund", params)
    _close_dispute(order, actor, "refund", refunded)
    return {"amount_cents": refunded, "currency": order.currency}


def _resolve_partial(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    refund_order(
        order,
        params.amount_cents,
        reason=_refund_reason("resolve_partial", params.note),
        actor=actor.user,
        made=params.made_refund,
    )
    _close_dispute(order, actor, "partial_refund", params.amount_cents)
    return {"amount_refunded_cents": params.amount_cents, **_complete(order, actor, params)}


def _resolve_release(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    _close_dispute(order, actor, "release", 0)
    return _complete(order, actor, params)


def _record_refund(order: Order, actor: Actor, params: Params) -> dict[str, Any]:
    record_external_refund(order, params.amount_cents)
    _close_dispute(order, actor, "refund", params.amount_cents)
    return {"amount_cents": params.amount_cents, "currency": order.currency}


# -- the actions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderAction:
    """One thing that can be done to an order; TRANSITIONS says by whom and from which status.

    `verb` completes "<who> …" on the timeline, in notifications and emails. `kind` says how
    people take it: a plain button (with a note when `needs_note`), a form of its own, or
    never (automatic: sweeps and Stripe webhooks). `refunds`: it refunds the buyer through
    Stripe, so `prepare_order_refund` runs and commits first.
    """

    label: str
    verb: str
    event_type: str | None
    _: KW_ONLY
    needs_note: bool = False
    guard: Guard | None = None
    prepare: Prepare = _prepare_note_optional
    effect: Effect = _no_effect
    kind: Literal["button", "form", "automatic"] = "button"
    refunds: bool = False
    # One line under the button saying who gets what and how the order ends; `{amount}` is
    # what is still refundable, formatted with its currency.
    explains: str = ""


# In display order: the order workspace lists the actions a person may take in this order.
ACTIONS: dict[str, OrderAction] = {
    "submit_requirements": OrderAction(
        "Submit requirements",
        "submitted the requirements",
        "order.requirements_submitted",
        prepare=_prepare_requirements,
        effect=_submit_requirements,
        kind="form",
    ),
    "deliver": OrderAction(
        "Deliver work",
        "delivered the work",
        "order.delivered",
        needs_note=True,
        prepare=_prepare_delivery,
        effect=_deliver,
        kind="form",
    ),
    "request_revision": OrderAction(
        "Request a revision",
        "asked for a revision",
        "order.revision_requested",
        needs_note=True,
        guard=_revisions_left,
        prepare=_prepare_note_required,
        effect=_request_revision,
    ),
    "accept": OrderAction("Accept delivery", "accepted the delivery", "order.completed", effect=_complete),
    "auto_complete": OrderAction(
        "Complete",
        "completed the order automatically",
        "order.completed",
        guard=_review_time_over,
        effect=_complete,
        kind="automatic",
    ),
    "request_cancel": OrderAction(
        "Ask to cancel",
        "asked to cancel the order",
        None,
        needs_note=True,
        prepare=_prepare_note_required,
        effect=_request_cancel,
    ),
    "accept_cancel": OrderAction(
        "Agree to cancel",
        "agreed to cancel; the buyer is refunded",
        "order.cancelled",
        explains="The order ends as cancelled and the buyer gets back {amount}; the seller is paid nothing.",
        guard=_other_party_answers,
        effect=_accept_cancel,
        refunds=True,
    ),
    "decline_cancel": OrderAction(
        "Keep the order going", "declined the cancellation", None, guard=_other_party_answers
    ),
    "withdraw_cancel": OrderAction(
        "Withdraw cancellation request", "withdrew the cancellation request", None, guard=_requester_withdraws
    ),
    "cancel": OrderAction(
        "Cancel and refund",
        "cancelled the order and refunded the buyer",
        "order.cancelled",
        explains="Stops the order without deciding who was right: the buyer gets back {amount}, the seller is paid "
        "nothing, and the order ends as cancelled.",
        needs_note=True,
        prepare=_prepare_note_required,
        effect=_cancel,
        refunds=True,
    ),
    "open_dispute": OrderAction(
        "Open a dispute",
        "opened a dispute",
        "order.disputed",
        needs_note=True,
        prepare=_prepare_note_required,
        effect=_open_dispute,
    ),
    "resolve_refund": OrderAction(
        "Refund in full",
        "resolved the dispute with a full refund",
        "order.refunded",
        explains="Decides the dispute for the buyer: they get back {amount}, the seller is paid nothing, and the "
        "order ends as refunded with the dispute closed in the buyer's favour.",
        needs_note=True,
        effect=_resolve_refund,
        refunds=True,
    ),
    "resolve_partial": OrderAction(
        "Refund part",
        "resolved the dispute with a partial refund",
        "order.completed",
        explains="Splits it: the buyer gets back the amount you enter, the seller's share of the rest clears as "
        "usual, and the order ends as completed.",
        needs_note=True,
        prepare=_prepare_partial,
        effect=_resolve_partial,
        refunds=True,
    ),
    "resolve_release": OrderAction(
        "Release to seller",
        "resolved the dispute in the seller's favour",
        "order.completed",
        explains="Decides the dispute for the seller: the buyer gets nothing back, the order ends as completed "
        "and the seller's share clears as usual.",
        needs_note=True,
        effect=_resolve_release,
    ),
    "record_refund": OrderAction(
        "Record refund", "recorded a refund made in Stripe", "order.refunded", effect=_record_refund, kind="automatic"
    ),
}
REFUND_ACTIONS = tuple(name for name, action in ACTIONS.items() if action.refunds)
FORM_ACTIONS = tuple(name for name, action in ACTIONS.items() if action.kind == "form")
AUTOMATIC_ACTIONS = tuple(name for name, action in ACTIONS.items() if action.kind == "automatic")


def refusal(order: Order, action: str, role: str) -> TransitionRefused | None:
    """None if `role` may take `action` on the order now, else a TransitionRefused to raise."""
    if action not in ACTIONS or not role_can_ever(action, role):
        return TransitionRefused(403, "You can't do that on this order.")
    if (order.status, action, role) not in TRANSITIONS:
        return TransitionRefused(409, f"That can't be done while the order is {order.status.replace('_', ' ')}.")
    guard = ACTIONS[action].guard
    reason = guard(order, role) if guard is not None else None
    return TransitionRefused(409, reason) if reason else None


def allowed_actions(order: Order, actor: Actor | None) -> list[str]:
    """The actions `actor` may take right now, in display order (exactly what the server accepts)."""
    if actor is None:
        return []
    return [action for action in ACTIONS if refusal(order, action, actor.role) is None]


# -- the transition ----------------------------------------------------------------------------------


def lock_order(order_id: int) -> Order:
    """The order row, locked for the rest of the transaction and re-read from the database."""
    return db.session.execute(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True, skip_tenant_scope=True)
    ).scalar_one()


def transition_order(order: Order, action: str, actor: Actor, params: Params | None = None) -> Order:
    """Apply `action` by `actor` to the order; returns the locked, updated order.

    Guarantees: the status changes only along TRANSITIONS; a refusal (TransitionRefused) or
    bad input (OrderInputError) writes nothing; money moves (escrow release, Stripe refunds)
    happen in the same transaction as the status change, the timeline event, notifications,
    emails and the outbound webhook event. Actions that refund the buyer (REFUND_ACTIONS) need
    their refund prepared and committed first (`prepare_order_refund`): the Stripe call made
    here uses its stored key, and when Stripe can't be reached PaymentsUnavailable leaves
    everything but that pending refund unwritten. Flushes, never commits.
    """
    params = params or Params()
    order = lock_order(order.id)
    refused = refusal(order, action, actor.role)
    if refused:
        raise refused
    spec = ACTIONS[action]
    prepared = spec.prepare(order, actor, params)
    from_status = order.status
    target = TRANSITIONS[(from_status, action, actor.role)]
    to_status = order.previous_status if target == PREVIOUS else target
    if to_status is None:  # every cancellation request records the status it interrupted
        raise RuntimeError(f"order {order.id} is {from_status} without the status it came from")
    try:
        data = spec.effect(order, actor, prepared) or {}
    except RefundError as exc:
        raise TransitionRefused(409, exc.message) from exc
    order.status = to_status
    if target == PREVIOUS:
        order.previous_status = None
    event = OrderEvent(
        **_of_order(order),
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor_role=actor.role,
        actor_user_id=actor.user_id,
        note=prepared.note,
        data=data,
    )
    db.session.add(event)
    db.session.flush()
    _announce(order, action, actor, prepared.note)
    if spec.event_type:
        emit_order_event(order, spec.event_type, {"status": order.status, **data})
    db.session.flush()
    return order


def prepare_order_refund(order: Order, action: str, actor: Actor, params: Params | None = None) -> Refund | None:
    """Step one of an action that refunds the buyer: check `actor` may take it now, then write
    (or find again) the pending refund it will make, with its random Stripe idempotency key.

    The caller commits before `transition_order` asks Stripe, so a retry after a failure — or a
    second click while the first is under way — finishes this same refund and never makes a
    second one. Returns the Refund, or None when the action refunds nothing (no payment, or
    nothing left). Refusals and bad input raise as `transition_order` does, writing nothing.
    Flushes, never commits.
    """
    params = params or Params()
    if action not in REFUND_ACTIONS:
        raise ValueError(f"{action} refunds nothing")
    order = lock_order(order.id)
    refused = refusal(order, action, actor.role)
    if refused:
        raise refused
    prepared = ACTIONS[action].prepare(order, actor, params)
    amount = prepared.amount_cents if action == "resolve_partial" else refundable_on(order)
    if not amount:
        return None
    try:
        return prepare_refund(
            order,
            amount,
            reason=_refund_reason(action, prepared.note),
            action=action,
            note=prepared.note,
            actor=actor.user,
        )
    except RefundError as exc:
        raise TransitionRefused(409, exc.message) from exc


def emit_order_event(order: Order, event_type: str, data: dict[str, Any]) -> OutboxEvent:
    """Record the outbound webhook event for the seller, in the caller's transaction."""
    return record_event(order.company_id, event_type, {"order_id": order.id, **data})


# -- telling people ------------------------------------------------------------------------------------


def seller_recipients(order: Order) -> list[User]:
    """The seller company's owners and admins (who hear about their orders)."""
    return list(
        db.session.scalars(
            select(User)
            .join(CompanyMember, CompanyMember.user_id == User.id)
            .where(CompanyMember.company_id == order.company_id, CompanyMember.role.in_(MANAGER_ROLES))
            .order_by(User.id)
        ).all()
    )


def participants(order: Order) -> list[User]:
    """The buyer and the seller company's owners and admins."""
    return [order.buyer, *seller_recipients(order)]


def other_side(order: Order, actor: Actor) -> list[User]:
    """Who hears about what `actor` did: the other party, or both parties for admins and the system."""
    if actor.role == "buyer":
        return seller_recipients(order)
    if actor.role == "seller":
        return [order.buyer]
    return participants(order)


# The email each action sends (order_update, the generic one, for the rest).
ACTION_EMAILS = {"deliver": "order_delivered", "accept": "order_completed", "auto_complete": "order_completed"}


def _announce(order: Order, action: str, actor: Actor, note: str) -> None:
    # The seller's side is named as the order page names it: the shop, not the person.
    name = order.company.title if actor.role == "seller" else actor.name
    title = f"Order #{order.id}: {name} {ACTIONS[action].verb}"
    link = f"/orders/{order.id}"
    for user in other_side(order, actor):
        if user.id == actor.user_id:
            continue
        notify_user(user, f"order.{action}", title[:200], body=note[:500], link=link)
        send_template(
            user,
            ACTION_EMAILS.get(action, "order_update"),
            order=order,
            title=title,
            note=note,
            seller_name=order.company.title,
            link=app_url("orders.workspace", order_id=order.id),
        )


# -- sweeps ----------------------------------------------------------------------------------------------


def orders_due_for_auto_completion() -> Sequence[int]:
    """Ids of orders delivered more than AUTO_COMPLETE_AFTER ago and still waiting for the buyer."""
    return db.session.scalars(
        select(Order.id)
        .where(Order.status == "delivered", Order.delivered_at <= now() - AUTO_COMPLETE_AFTER)
        .order_by(Order.id)
        .execution_options(skip_tenant_scope=True)
    ).all()


def auto_complete_order(order_id: int) -> bool:
    """Complete one delivered order as the system, if it is (still) due; returns True if it was."""
    order = db.session.get(Order, order_id)
    if order is None or refusal(lock_order(order_id), "auto_complete", "system"):
        return False
    transition_order(order, "auto_complete", SYSTEM)
    return True


def orders_past_due() -> Sequence[int]:
    """Ids of orders the seller still owes work on past `due_at` that aren't flagged late yet."""
    return db.session.scalars(
        select(Order.id)
        .where(Order.status.in_(LATE_STATUSES), Order.due_at < now(), Order.is_late.is_(False))
        .order_by(Order.id)
        .execution_options(skip_tenant_scope=True)
    ).all()


def mark_order_late(order_id: int) -> bool:
    """Flag one order late (once): a timeline event and a notification to both parties."""
    order = lock_order(order_id)
    if order.is_late or order.status not in LATE_STATUSES or order.due_at >= now():
        return False
    order.is_late = True
    db.session.add(
        OrderEvent(
            **_of_order(order),
            action="marked_late",
            from_status=order.status,
            to_status=order.status,
            actor_role="system",
            note="",
            data={"due_at": order.due_at.isoformat()},
        )
    )
    for user in participants(order):
        notify_user(
            user, "order.late", f"Order #{order.id} is past its due date", body=order.title, link=f"/orders/{order.id}"
        )
    db.session.flush()
    return True


# -- reads --------------------------------------------------------------------------------------


def order_timeline(order_id: int) -> Sequence[OrderEvent]:
    """The order's timeline, oldest first."""
    return db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)).all()


def order_answers(order_id: int) -> Sequence[OrderAnswer]:
    """The buyer's answers to the gig's questions, in the questions' order."""
    return db.session.scalars(
        select(OrderAnswer).where(OrderAnswer.order_id == order_id).order_by(OrderAnswer.position)
    ).all()


def order_files(order_id: int, purpose: str) -> Sequence[OrderFile]:
    """The order's files for `purpose` ("requirements" or "delivery"), oldest first."""
    return db.session.scalars(
        select(OrderFile).where(OrderFile.order_id == order_id, OrderFile.purpose == purpose).order_by(OrderFile.id)
    ).all()


def order_deliveries(order_id: int) -> Sequence[OrderDelivery]:
    """The seller's deliveries, first first."""
    return db.session.scalars(
        select(OrderDelivery).where(OrderDelivery.order_id == order_id).order_by(OrderDelivery.number)
    ).all()


def open_dispute_of(order_id: int) -> OrderDispute | None:
    """The order's latest dispute (open or resolved), or None."""
    return db.session.scalar(
        select(OrderDispute).where(OrderDispute.order_id == order_id).order_by(OrderDispute.id.desc()).limit(1)
    )


def order_file(order_id: int, file_id: int) -> OrderFile | None:
    """The file `file_id` if it belongs to the order, else None."""
    return db.session.scalar(select(OrderFile).where(OrderFile.id == file_id, OrderFile.order_id == order_id))


@dataclass(frozen=True)
class RefundSummary:
    """What the buyer got back for an order: refunds Stripe confirmed, refunds still being
    made, and when the last one was confirmed."""

    refunded_cents: int
    pending_cents: int
    refunded_at: datetime | None


def refund_summary(order: Order) -> RefundSummary:
    """The order's refunds, summed by status (failed ones are not money the buyer got)."""
    refunds = db.session.scalars(select(Refund).where(Refund.order_id == order.id)).all()
    done = [refund for refund in refunds if refund.status == "succeeded"]
    return RefundSummary(
        refunded_cents=sum(refund.amount_cents for refund in done),
        pending_cents=sum(refund.amount_cents for refund in refunds if refund.status == "pending"),
        refunded_at=max((refund.created_at for refund in done), default=None),
    )


def refundable_on(order: Order) -> int:
    """Cents of the order's payment not yet refunded (0 without a payment)."""
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    return refundable_cents(payment) if payment else 0


# -- Stripe ----------------------------------------------------------------------------------------------------


def _order_for_charge(charge_id: str | None) -> Order | None:
    if not charge_id:
        return None
    payment = db.session.scalar(
        select(Payment)
        .where(Payment.stripe_charge_id == charge_id, Payment.order_id.is_not(None))
        .execution_options(skip_tenant_scope=True)
    )
    return lock_order(payment.order_id) if payment is not None and payment.order_id is not None else None


def record_stripe_dispute(dispute: Mapping[str, Any]) -> Order | None:
    """charge.dispute.created: the order paid by that charge becomes disputed (once per Stripe dispute).

    An order that is already disputed keeps its dispute and gains the Stripe id; closed orders
    (cancelled, refunded) are left alone. Returns the order, or None when the charge isn't an order's.
    """
    order = _order_for_charge(dispute.get("charge"))
    if order is None:
        return None
    if db.session.scalar(select(OrderDispute.id).where(OrderDispute.stripe_dispute_id == dispute["id"])):
        return order
    if order.status == "disputed":
        current = open_dispute_of(order.id)
        if current is not None and current.stripe_dispute_id is None:
            current.stripe_dispute_id = dispute["id"]
        db.session.flush()
        return order
    if refusal(order, "open_dispute", "system"):
        return order
    reason = f"The buyer's bank opened a chargeback ({str(dispute.get('reason') or 'general').replace('_', ' ')})."
    return transition_order(order, "open_dispute", SYSTEM, Params(note=reason, stripe_dispute_id=dispute["id"]))


CHARGEBACK_WON = "The bank decided the chargeback in the seller's favour."


def record_stripe_dispute_closed(dispute: Mapping[str, Any]) -> Order | None:
    """charge.dispute.closed: the bank's decision on a chargeback, applied once.

    Won (or closed with a warning only): the seller keeps the money — a still-disputed order
    is resolved in the seller's favour (completed, escrow released). Lost: the bank took the
    disputed amount back for the buyer — recorded as a refund made outside Tradepost (order
    refunded, seller's share out of escrow, fee returned pro rata). A dispute we never saw
    open, or already resolved by an admin, changes only what the money requires. Returns the
    order, or None when the charge isn't an order's."""
    order = _order_for_charge(dispute.get("charge"))
    if order is None:
        return None
    outcome = dispute.get("status")
    if outcome in ("won", "warning_closed"):
        ours = db.session.scalar(
            select(OrderDispute).where(
                OrderDispute.order_id == order.id,
                OrderDispute.status == "open",
                OrderDispute.stripe_dispute_id == dispute["id"],
            )
        )
        if ours is None or refusal(order, "resolve_release", "system"):
            return order
        return transition_order(order, "resolve_release", SYSTEM, Params(note=CHARGEBACK_WON))
    if outcome != "lost":
        return order
    payment = db.session.execute(
        select(Payment).where(Payment.order_id == order.id).execution_options(populate_existing=True)
    ).scalar_one()
    lost_total = min(payment.amount_cents, payment.refunded_cents + (dispute.get("amount") or 0))
    already = db.session.scalar(
        select(OrderEvent.id).where(
            OrderEvent.order_id == order.id,
            OrderEvent.action == "record_refund",
            OrderEvent.note == f"Chargeback {dispute['id']} lost.",
        )
    )
    if already is not None or lost_total <= payment.refunded_cents or refusal(order, "record_refund", "system"):
        return order
    return transition_order(
        order, "record_refund", SYSTEM, Params(note=f"Chargeback {dispute['id']} lost.", amount_cents=lost_total)
    )


def finish_refund_stripe_made(order: Order, payment: Payment) -> Refund | None:
    """A refund we prepared but never saw Stripe's answer to (Stripe was unreachable, or the
    answer was lost): if Stripe did make it — a refund on the payment carrying its key in
    `metadata.refund_key` — finish the action it belonged to as the person who asked for it, or,
    when the order has moved on since, record the money alone. Stripe is only asked what it did,
    never to refund. Returns the refund when it was finished."""
    refund = pending_refund(payment)
    if refund is None or not payment.stripe_payment_intent_id:
        return None
    made = next(
        (
            found
            for found in get_gateway().list_refunds(payment_intent=payment.stripe_payment_intent_id)
            if found.metadata is not None and found.metadata.to_dict().get("refund_key") == refund.idempotency_key
        ),
        None,
    )
    if made is None:
        return None
    requester = db.session.get(User, refund.created_by_user_id) if refund.created_by_user_id else None
    actor = actor_for(order, requester) if requester is not None else None
    if actor is not None and refund.action in REFUND_ACTIONS and refusal(order, refund.action, actor.role) is None:
        attempt = db.session.begin_nested()
        try:
            transition_order(
                order,
                refund.action,
                actor,
                Params(note=refund.note, amount_cents=refund.amount_cents, made_refund=made),
            )
        except (TransitionRefused, OrderInputError):
            attempt.rollback()
        else:
            attempt.commit()
            return refund
    record_refund_made(order, refund, made, actor=requester)
    return refund


def record_stripe_refund(charge: Mapping[str, Any]) -> Order | None:
    """charge.refunded: a charge refunded in full outside Tradepost moves its order to refunded.

    Refunds Tradepost made itself are already on the payment (`refunded_cents`, written in the
    transaction that holds the order lock), so they are recognised and ignored; one it prepared
    but never heard back about is finished first (`finish_refund_stripe_made`).
    """
    order = _order_for_charge(charge.get("id"))
    if order is None:
        return None
    payment = db.session.execute(
        select(Payment).where(Payment.order_id == order.id).execution_options(populate_existing=True)
    ).scalar_one()
    if finish_refund_stripe_made(order, payment) is not None:
        order = lock_order(order.id)
    if not charge.get("refunded"):
        return order
    if payment.refunded_cents >= (charge.get("amount_refunded") or 0):
        return order
    if refusal(order, "record_refund", "system"):
        return order
    return transition_order(order, "record_refund", SYSTEM, Params(amount_cents=charge["amount_refunded"]))
