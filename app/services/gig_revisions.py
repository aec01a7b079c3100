"""Changes to live gigs: a pending revision reviewed by an admin while the approved version
stays live.

Saving a live (published or paused) gig never touches the gig: the cleaned content goes into
the gig's one pending GigRevision (created, or updated while the seller keeps editing). The
gig's URL, listing, reviews, packages and orders keep working on the approved version. An
admin approves (the revision's content is written to the gig in the same transaction, the
gig row and the revision row locked) or rejects with a reason (the gig is unchanged); the
seller may withdraw a pending revision. Orders keep the terms they were bought with (they
copy them), and a package buyers have ordered is never deleted (the foreign keys need it).

Also the review queue's reads: what waits, the previous rejection, and a field-by-field diff.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, url_for
from sqlalchemy import Select, func, select

from app.clock import now
from app.extensions import db
from app.models import Category, Checkout, Company, Gig, GigImage, GigRevision, Order, User
from app.models.company import MANAGER_ROLES
from app.models.gig import TIERS
from app.money import format_money, marketplace_currency
from app.pagecache import bump_catalog_version
from app.services.audit import record_audit_event
from app.services.gigs import (
    TIER_NAMES,
    GigForbidden,
    GigInputError,
    GigStateError,
    actor_role,
    check_gig_input,
    check_reason,
    gig_content,
    is_live,
    store_uploads,
    write_content,
)
from app.services.notifications import notify_user

REVIEW_SUBMITTED = "Your changes were sent for review; the live version stays up until they're approved."


# -- the seller's side ----------------------------------------------------------------------------


def pending_revision(gig: Gig, *, lock: bool = False) -> GigRevision | None:
    """The gig's pending revision, if any (locked for the transaction on PostgreSQL with `lock`)."""
    query = select(GigRevision).where(GigRevision.gig_id == gig.id, GigRevision.status == "pending")
    if lock:
        query = query.with_for_update(of=GigRevision).execution_options(populate_existing=True)
    return db.session.scalars(query).first()


def last_decided_edit(gig: Gig) -> GigRevision | None:
    """The gig's most recently decided or withdrawn edit revision (what the editor reports)."""
    return db.session.scalars(
        select(GigRevision)
        .where(GigRevision.gig_id == gig.id, GigRevision.kind == "edit", GigRevision.status != "pending")
        .order_by(GigRevision.decided_at.desc(), GigRevision.id.desc())
        .limit(1)
    ).first()


def last_rejection(gig: Gig, before: GigRevision | None = None) -> GigRevision | None:
    """The gig's latest rejected revision or submission (other than `before`, and older than it)."""
    query = select(GigRevision).where(GigRevision.gig_id == gig.id, GigRevision.status == "rejected")
    if before is not None:
        query = query.where(GigRevision.id < before.id)
    return db.session.scalars(query.order_by(GigRevision.decided_at.desc(), GigRevision.id.desc()).limit(1)).first()


def _lock_gig(gig: Gig) -> Gig:
    return db.session.scalars(
        select(Gig).where(Gig.id == gig.id).with_for_update(of=Gig).execution_options(populate_existing=True)
    ).one()


def _lock_revision(revision: GigRevision) -> GigRevision:
    return db.session.scalars(
        select(GigRevision)
        .where(GigRevision.id == revision.id)
        .with_for_update(of=GigRevision)
        .execution_options(populate_existing=True)
    ).one()


@dataclass
class _Kept:
    """An image staying in the gallery, as `check_gig_input` counts it."""

    storage_key: str


def _packages_in_use(gig: Gig, content: Mapping[str, Any]) -> list[str]:
    """Tiers `content` drops whose package buyers have checked out or ordered (those rows stay)."""
    dropped = {p.id: p.tier for p in gig.packages if p.tier not in content["packages"]}
    if not dropped:
        return []
    used: set[int] = set()
    for model in (Checkout, Order):
        query = select(model.package_id).where(model.package_id.in_(dropped)).execution_options(skip_tenant_scope=True)
        used.update(package_id for package_id in db.session.scalars(query) if package_id is not None)
    return [dropped[package_id] for package_id in sorted(used)]


def _refuse_dropping_ordered_packages(gig: Gig, content: Mapping[str, Any]) -> None:
    in_use = _packages_in_use(gig, content)
    if in_use:
        raise GigInputError(
            {
                ("packages", tier, "title"): f"Buyers have ordered the {TIER_NAMES[tier]} package, so it stays "
                "offered; change it instead of removing it."
                for tier in in_use
            }
        )


def save_gig_revision(
    company: Company,
    actor: User,
    gig: Gig,
    data: Mapping[str, Any],
    *,
    uploads: Iterable[tuple[str, bytes]] = (),
    remove_image_keys: Iterable[str] = (),
) -> GigRevision | None:
    """Send the editor's input for a live gig to review: the gig's pending revision, created
    or updated. The gig itself is not changed. None (and any pending revision withdrawn) when
    the input equals the live version.

    Owners and admins only (GigForbidden); validates like `save_gig` (GigInputError, nothing
    written). Locks the gig row, so two saves make one pending revision. Flushed.
    """
    if gig.company_id != company.id:
        raise GigForbidden("This gig belongs to another seller.")
    if company.role_of(actor) not in MANAGER_ROLES:
        raise GigForbidden("Only owners and admins can change a live gig.")
    if not is_live(gig):
        raise GigStateError("This gig is not live: save it directly.")
    gig = _lock_gig(gig)
    pending = pending_revision(gig, lock=True)
    base_images = (pending.content if pending else gig_content(gig))["images"]
    removing = set(remove_image_keys)
    kept = [image for image in base_images if image["storage_key"] not in removing]
    clean = check_gig_input(data, uploads, [_Kept(image["storage_key"]) for image in kept])
    content = {key: value for key, value in clean.items() if key != "images"}
    _refuse_dropping_ordered_packages(gig, content)
    content["images"] = kept + store_uploads(gig, clean["images"])
    if not content["images"]:
        raise GigInputError({("images",): "A live gig needs at least one gallery image."})

    if content == gig_content(gig):
        if pending is not None:
            _close(pending, "withdrawn", actor)
            record_audit_event("gig.revision_withdraw", actor=actor, company=gig.company, subject=gig)
        db.session.flush()
        return None
    if pending is None:
        pending = GigRevision(
            company_id=gig.company_id, gig_id=gig.id, kind="edit", status="pending", submitted_at=now()
        )
        db.session.add(pending)
    pending.content = content
    pending.submitted_by_id = actor.id
    db.session.flush()
    record_audit_event("gig.revision_submit", actor=actor, company=gig.company, subject=gig, revision_id=pending.id)
    db.session.flush()
    return pending


def withdraw_gig_revision(revision: GigRevision, actor: User) -> GigRevision:
    """The seller takes back a pending revision; the live gig is unchanged. Owners and admins
    of the gig's company only (GigForbidden); only while pending (GigStateError). Flushed."""
    if revision.gig.company.role_of(actor) not in MANAGER_ROLES:
        raise GigForbidden("Only owners and admins can withdraw changes.")
    revision = _lock_revision(revision)
    if revision.status != "pending":
        raise GigStateError(f"These changes were already {revision.status}.")
    _close(revision, "withdrawn", actor)
    record_audit_event(
        "gig.revision_withdraw",
        actor=actor,
        company=revision.gig.company,
        subject=revision.gig,
        revision_id=revision.id,
    )
    db.session.flush()
    return revision


def _close(revision: GigRevision, status: str, actor: User, reason: str | None = None) -> None:
    revision.status = status
    revision.decided_at = now()
    revision.decided_by_id = actor.id
    revision.rejection_reason = reason


# -- the admin's side -----------------------------------------------------------------------------


def _decidable(revision: GigRevision, actor: User) -> GigRevision:
    """The revision, locked after its gig, if `actor` may decide it now."""
    role = actor_role(revision.gig, actor)
    if role in ("seller", "member"):
        raise GigForbidden("You cannot review your own gig.")
    if role != "admin":
        raise GigForbidden("You are not allowed to do that.")
    _lock_gig(revision.gig)
    revision = _lock_revision(revision)
    if revision.kind != "edit":
        raise GigStateError("Only changes to live gigs are decided here.")
    if revision.status != "pending":
        raise GigStateError(
            "The seller withdrew these changes."
            if revision.status == "withdrawn"
            else f"These changes were already {revision.status}."
        )
    return revision


def apply_content(gig: Gig, content: Mapping[str, Any]) -> None:
    """Write a revision's content to the gig, gallery included (rows kept by storage key)."""
    write_content(gig, content)
    wanted = [image["storage_key"] for image in content["images"]]
    existing = {image.storage_key: image for image in gig.images}
    for image in list(gig.images):
        if image.storage_key not in wanted:
            gig.images.remove(image)
    db.session.flush()
    for position, values in enumerate(content["images"]):
        image = existing.get(values["storage_key"])
        if image is None:
            image = GigImage(company_id=gig.company_id, **values)
            gig.images.append(image)
        image.position = position
    gig.images.sort(key=lambda image: image.position)


def approve_gig_revision(revision: GigRevision, actor: User) -> GigRevision:
    """Apply a pending revision to its live gig, atomically (gig and revision rows locked).

    Platform admins from outside the gig's company only (GigForbidden); refused once decided
    or withdrawn, or when buyers have since ordered a package it drops (GigStateError).
    Audited; the seller's managers are told. Flushed.
    """
    revision = _decidable(revision, actor)
    gig = revision.gig
    in_use = _packages_in_use(gig, revision.content)
    if in_use:
        names = ", ".join(TIER_NAMES[tier] for tier in in_use)
        raise GigStateError(f"Buyers have since ordered the {names} package these changes remove: request changes.")
    apply_content(gig, revision.content)
    _close(revision, "approved", actor)
    record_audit_event("gig.revision_approve", actor=actor, company=gig.company, subject=gig, revision_id=revision.id)
    if gig.status == "published":
        bump_catalog_version()
    _notify(gig, f"Your changes to “{gig.title}” are live", "Buyers now see the new version.")
    db.session.flush()
    return revision


def reject_gig_revision(revision: GigRevision, actor: User, reason: str | None) -> GigRevision:
    """Turn down a pending revision with a reason the seller sees; the live gig is unchanged.
    Same refusals as `approve_gig_revision`, plus GigInputError for a missing reason. Flushed."""
    reason = check_reason(reason)
    revision = _decidable(revision, actor)
    _close(revision, "rejected", actor, reason)
    gig = revision.gig
    record_audit_event(
        "gig.revision_reject", actor=actor, company=gig.company, subject=gig, revision_id=revision.id, reason=reason
    )
    _notify(gig, f"Your changes to “{gig.title}” were not approved", f"{reason} The live version is unchanged.")
    db.session.flush()
    return revision


def _notify(gig: Gig, title: str, body: str) -> None:
    link = url_for("sell.gigs.update", gig_id=gig.id) if has_request_context() else None
    for manager in gig.company.managers():
        notify_user(manager, "gig.revision", title, body, link=link)


# -- the review queue's reads ---------------------------------------------------------------------


def pending_revisions() -> Select[tuple[GigRevision]]:
    """The SELECT of revisions waiting for review, oldest first (admin side: no tenant)."""
    return select(GigRevision).where(GigRevision.status == "pending").order_by(GigRevision.submitted_at, GigRevision.id)


def review_counts() -> dict[str, int]:
    """How many new gigs and how many changes to live gigs wait for review."""
    gigs = db.session.scalar(select(func.count()).select_from(Gig).where(Gig.status == "review")) or 0
    edits = db.session.scalar(select(func.count()).select_from(GigRevision).where(GigRevision.status == "pending")) or 0
    return {"gigs": gigs, "edits": edits, "total": gigs + edits}


def recent_revision_decisions(limit: int = 10) -> Sequence[GigRevision]:
    """Edits approved, rejected or withdrawn lately, newest first."""
    return db.session.scalars(
        select(GigRevision)
        .where(GigRevision.kind == "edit", GigRevision.status != "pending")
        .order_by(GigRevision.decided_at.desc(), GigRevision.id.desc())
        .limit(limit)
    ).all()


@dataclass(frozen=True)
class Change:
    """One field that differs: its label, and the before and after as text."""

    label: str
    before: str
    after: str


def _package_text(values: Mapping[str, Any] | None, field: str) -> str:
    if values is None:
        return "Not offered"
    value = values[field]
    if field == "price_cents":
        return format_money(value, marketplace_currency())
    if field == "delivery_days":
        return f"{value} days"
    if field == "revisions":
        return "Unlimited" if value is None else str(value)
    return str(value)


def _extra_text(extra: Mapping[str, Any]) -> str:
    text = f"{extra['title']} — {format_money(extra['price_cents'], marketplace_currency())}"
    if extra.get("extra_days"):
        text += f", +{extra['extra_days']} days"
    if extra.get("max_quantity", 1) > 1:
        text += f", up to ×{extra['max_quantity']}"
    return text


def _question_text(question: Mapping[str, Any]) -> str:
    kind = str(question["kind"]).replace("_", " ")
    text = f"{question['prompt']} ({kind}{', required' if question.get('required') else ''})"
    if question.get("choices"):
        text += ": " + " / ".join(question["choices"])
    return text


def _rows(label: str, before: Sequence[str], after: Sequence[str]) -> list[Change]:
    changes = []
    for index in range(max(len(before), len(after))):
        old = before[index] if index < len(before) else "—"
        new = after[index] if index < len(after) else "—"
        if old != new:
            changes.append(Change(f"{label} {index + 1}", old, new))
    return changes


def content_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """What differs between two gig contents, field by field, in the editor's order."""
    changes: list[Change] = []

    def field(label: str, old: object, new: object) -> None:
        if old != new:
            changes.append(Change(label, str(old), str(new)))

    field("Title", before["title"], after["title"])
    if before["category_id"] != after["category_id"]:
        query = select(Category.id, Category.name).where(Category.id.in_([before["category_id"], after["category_id"]]))
        names: dict[int, str] = {row.id: row.name for row in db.session.execute(query)}
        field("Category", names.get(before["category_id"], "—"), names.get(after["category_id"], "—"))
    field("Description", before["description_md"], after["description_md"])
    field("Tags", ", ".join(before["tags"]) or "—", ", ".join(after["tags"]) or "—")
    for tier in TIERS:
        old, new = before["packages"].get(tier), after["packages"].get(tier)
        if old is None and new is None:
            continue
        for key, label in (
            ("title", "name"),
            ("description", "includes"),
            ("price_cents", "price"),
            ("delivery_days", "delivery"),
            ("revisions", "revisions"),
        ):
            old_text, new_text = _package_text(old, key), _package_text(new, key)
            if old_text != new_text:
                changes.append(Change(f"{TIER_NAMES[tier]} package · {label}", old_text, new_text))
            if old is None or new is None:
                break
    changes += _rows("Extra", [_extra_text(e) for e in before["extras"]], [_extra_text(e) for e in after["extras"]])
    changes += _rows(
        "Question", [_question_text(q) for q in before["questions"]], [_question_text(q) for q in after["questions"]]
    )
    changes += _rows(
        "FAQ",
        [f"{item['question']} — {item['answer']}" for item in before["faq"]],
        [f"{item['question']} — {item['answer']}" for item in after["faq"]],
    )
    old_keys = [image["storage_key"] for image in before["images"]]
    new_keys = [image["storage_key"] for image in after["images"]]
    if old_keys != new_keys:
        added = len(set(new_keys) - set(old_keys))
        removed = len(set(old_keys) - set(new_keys))
        summary = (
            f"{len(new_keys)} images ({added} new, {removed} removed{', reordered' if not added + removed else ''})"
        )
        changes.append(Change("Gallery", f"{len(old_keys)} images", summary))
    return changes
