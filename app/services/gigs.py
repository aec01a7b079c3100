"""Gigs: validated writes in one go, gallery images, and the one status state machine.

`save_gig` validates every field, package, extra, question, FAQ entry and upload first and
raises `GigInputError` (all messages at once, nothing written) before it touches the session.
Every status change goes through `transition_gig`, driven by `TRANSITIONS`: a table of
(from status, action, actor) → to status. Forms never carry a status. Publishing also needs a
KYC-verified company: checked here with a clear message, and by a database trigger (see
app/db_triggers.py) as the last line of defence.
"""

import io
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from flask import has_request_context, url_for
from PIL import Image, UnidentifiedImageError
from sqlalchemy import Select, select
from sqlalchemy.orm import lazyload, load_only, selectinload

from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.inputs import MAX_INT
from app.markdown import render_markdown
from app.models import Category, Company, Gig, GigExtra, GigImage, GigPackage, GigQuestion, GigRevision, User
from app.models.company import MANAGER_ROLES
from app.models.gig import MAX_IMAGES, MAX_PRICE_CENTS, MIN_PRICE_CENTS, QUESTION_KINDS, TIERS
from app.money import format_money, marketplace_currency
from app.pagecache import bump_catalog_version
from app.services import storage
from app.services.audit import record_audit_event
from app.services.companies import slugify
from app.services.notifications import notify_user
from app.services.outbound.outbox import record_event

MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
MAX_IMAGE_PIXELS = 40_000_000
MIN_EXTRA_CENTS, MAX_EXTRA_CENTS = 100, 1_000_000
MAX_DELIVERY_DAYS = 90
MAX_REVISIONS = 10
MAX_EXTRAS, MAX_QUESTIONS, MAX_FAQ, MAX_TAGS, MAX_CHOICES = 10, 10, 10, 5, 10
TIER_NAMES = {"basic": "Basic", "standard": "Standard", "premium": "Premium"}

# The whole status flow. Actors: "seller" = an owner/admin of the gig's company,
# "admin" = a platform admin who is not a member of that company.
TRANSITIONS = {
    **{(status, "submit", "seller"): "review" for status in ("draft", "rejected")},
    ("review", "approve", "admin"): "published",
    ("review", "reject", "admin"): "rejected",
    ("published", "pause", "seller"): "paused",
    ("paused", "resume", "seller"): "published",
}
# Gigs that have been approved: changes to them wait in a GigRevision while they stay as they are.
LIVE_STATUSES = ("published", "paused")

# A field's place in the gig form, e.g. ("packages", "basic", "price"), and its error messages.
FieldPath = tuple[str | int, ...]
Errors = dict[FieldPath, str]

_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9 +#.-]{0,29}$")


class GigInputError(ServiceError):
    """Bad input: `errors` maps a field path (tuple) to a message a person can act on (422)."""

    def __init__(self, errors: Errors):
        super().__init__(422, "invalid_gig", "; ".join(errors.values()), errors=errors)


class GigStateError(ServiceError):
    """The action is not possible in the gig's current state (HTTP 409)."""

    def __init__(self, message: str):
        super().__init__(409, "gig_state", message)


class KycNotVerified(GigStateError):
    """The seller company has not finished identity verification."""


class GigForbidden(ServiceError):
    """The actor may not do this to this gig (HTTP 403)."""

    def __init__(self, message: str):
        super().__init__(403, "forbidden", message)


def inspect_image(data: bytes) -> tuple[str, str, int, int]:
    """(content_type, extension, width, height) of a JPEG/PNG/WebP judged by its bytes.

    Raises ValueError with a message for anything else, for files over 5 MB and for images
    too large to decode safely.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError("Images must be 5 MB or smaller.")
    if not data:
        raise ValueError("That file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ValueError("That image has too many pixels.")
                image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError, SyntaxError):
        raise ValueError("Upload a JPEG, PNG or WebP image.") from None
    if kind not in IMAGE_FORMATS:
        raise ValueError("Upload a JPEG, PNG or WebP image.")
    content_type, extension = IMAGE_FORMATS[kind]
    return content_type, extension, width, height


# -- validation ---------------------------------------------------------------------------------


def _text(
    errors: Errors,
    path: FieldPath,
    value: str | None,
    label: str,
    *,
    required: bool = True,
    min_length: int = 1,
    max_length: int = 200,
) -> str:
    value = (value or "").strip()
    if not value:
        if required:
            errors[path] = f"Enter {label}."
        return value
    if len(value) < min_length:
        errors[path] = f"Use at least {min_length} characters."
    elif len(value) > max_length:
        errors[path] = f"Use at most {max_length} characters."
    return value


def _number(
    errors: Errors, path: FieldPath, value: object, low: int, high: int, out_of_range: str, missing: str | None = None
) -> Any:
    if value is None:
        errors[path] = missing or out_of_range
    elif isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[path] = out_of_range
    return value


def _check_package(errors: Errors, tier: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    path = ("packages", tier)
    package = {
        "title": _text(errors, path + ("title",), raw.get("title"), "a package name", max_length=80),
        "description": _text(
            errors, path + ("description",), raw.get("description"), "what the package includes", max_length=500
        ),
        "price_cents": _number(
            errors,
            path + ("price",),
            raw.get("price_cents"),
            MIN_PRICE_CENTS,
            MAX_PRICE_CENTS,
            f"Price must be between {format_money(MIN_PRICE_CENTS, marketplace_currency())} and "
            f"{format_money(MAX_PRICE_CENTS, marketplace_currency())}.",
            "Enter a price.",
        ),
        "delivery_days": _number(
            errors,
            path + ("delivery_days",),
            raw.get("delivery_days"),
            1,
            MAX_DELIVERY_DAYS,
            f"Delivery must take 1 to {MAX_DELIVERY_DAYS} days.",
            "Enter the delivery time in days.",
        ),
        "revisions": raw.get("revisions"),
    }
    revisions = package["revisions"]
    if revisions is not None and (
        isinstance(revisions, bool) or not isinstance(revisions, int) or not 0 <= revisions <= MAX_REVISIONS
    ):
        errors[path + ("revisions",)] = f"Choose 0 to {MAX_REVISIONS} revisions, or unlimited."
    return package


def _check_extra(errors: Errors, index: int, raw: Mapping[str, Any]) -> dict[str, Any]:
    path = ("extras", index)
    return {
        "title": _text(errors, path + ("title",), raw.get("title"), "a name for the extra", max_length=80),
        "price_cents": _number(
            errors,
            path + ("price",),
            raw.get("price_cents"),
            MIN_EXTRA_CENTS,
            MAX_EXTRA_CENTS,
            f"Extras cost between {format_money(MIN_EXTRA_CENTS, marketplace_currency())} and "
            f"{format_money(MAX_EXTRA_CENTS, marketplace_currency())}.",
            "Enter a price.",
        ),
        "extra_days": _number(
            errors,
            path + ("extra_days",),
            raw.get("extra_days", 0),
            0,
            MAX_DELIVERY_DAYS,
            f"Extra days must be 0 to {MAX_DELIVERY_DAYS}.",
        ),
        "max_quantity": _number(
            errors,
            path + ("max_quantity",),
            raw.get("max_quantity", 1),
            1,
            10,
            "A buyer can order 1 to 10 of an extra.",
        ),
    }


def _check_question(errors: Errors, index: int, raw: Mapping[str, Any]) -> dict[str, Any]:
    path = ("questions", index)
    kind = raw.get("kind") or "short_text"
    if kind not in QUESTION_KINDS:
        errors[path + ("kind",)] = "Choose short text, long text or single choice."
    choices = []
    for line in raw.get("choices") or []:
        line = line.strip()
        if line and line not in choices:
            choices.append(line)
    if kind == "single_choice":
        if len(choices) < 2:
            errors[path + ("choices",)] = "Give at least two choices, one per line."
        elif len(choices) > MAX_CHOICES or any(len(choice) > 100 for choice in choices):
            errors[path + ("choices",)] = f"Give at most {MAX_CHOICES} choices of up to 100 characters."
    return {
        "prompt": _text(errors, path + ("prompt",), raw.get("prompt"), "the question", max_length=300),
        "kind": kind,
        "choices": choices if kind == "single_choice" else [],
        "required": bool(raw.get("required")),
    }


def _check_tags(errors: Errors, raw: Iterable[str] | None) -> list[str]:
    tags = []
    for tag in raw or []:
        tag = " ".join(tag.lower().split())
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        errors[("tags",)] = f"Use at most {MAX_TAGS} tags."
    elif any(not _TAG_RE.match(tag) for tag in tags):
        errors[("tags",)] = "Tags are up to 30 letters, digits, spaces or - + # . each."
    return tags


class StoredImage(Protocol):
    """An image staying in a gallery: a GigImage, or one of a revision's."""

    storage_key: str


def check_gig_input(
    data: Mapping[str, Any], uploads: Iterable[tuple[str, bytes]] = (), kept_images: Sequence[StoredImage] = ()
) -> dict[str, Any]:
    """The cleaned gig input, or GigInputError listing every problem. Pure: writes nothing.

    `data` holds title, category_id, description_md, tags (list), packages ({tier: dict or
    None}), extras, questions and faq (lists of dicts); prices in cents, revisions None for
    unlimited. `uploads` are (filename, bytes) pairs; `kept_images` the GigImages staying.
    """
    errors: Errors = {}
    clean: dict[str, Any] = {
        "title": _text(errors, ("title",), data.get("title"), "a title", min_length=10, max_length=120),
        "description_md": _text(
            errors, ("description_md",), data.get("description_md"), "a description", min_length=50, max_length=10_000
        ),
        "tags": _check_tags(errors, data.get("tags")),
    }
    category_id = data.get("category_id")
    if (
        isinstance(category_id, bool)
        or not isinstance(category_id, int)
        or not 1 <= category_id <= MAX_INT
        or db.session.get(Category, category_id) is None
    ):
        errors[("category_id",)] = "Choose a category."
    clean["category_id"] = category_id

    packages = data.get("packages") or {}
    if not packages.get("basic"):
        errors[("packages", "basic", "title")] = "Every gig needs a Basic package."
    clean["packages"] = {tier: _check_package(errors, tier, packages[tier]) for tier in TIERS if packages.get(tier)}

    extras, questions, faq = data.get("extras") or [], data.get("questions") or [], data.get("faq") or []
    if len(extras) > MAX_EXTRAS:
        errors[("extras",)] = f"Offer at most {MAX_EXTRAS} extras."
    if len(questions) > MAX_QUESTIONS:
        errors[("questions",)] = f"Ask at most {MAX_QUESTIONS} questions."
    if len(faq) > MAX_FAQ:
        errors[("faq",)] = f"Add at most {MAX_FAQ} FAQ entries."
    clean["extras"] = [_check_extra(errors, i, raw) for i, raw in enumerate(extras)]
    clean["questions"] = [_check_question(errors, i, raw) for i, raw in enumerate(questions)]
    clean["faq"] = [
        {
            "question": _text(errors, ("faq", i, "question"), raw.get("question"), "the question", max_length=200),
            "answer": _text(errors, ("faq", i, "answer"), raw.get("answer"), "the answer", max_length=1000),
        }
        for i, raw in enumerate(faq)
    ]

    clean["images"] = []
    digests = {storage.key_digest(image.storage_key) for image in kept_images}
    for filename, content in uploads:
        try:
            content_type, extension, width, height = inspect_image(content)
        except ValueError as exc:
            errors[("images",)] = f"{filename or 'Upload'}: {exc}"
            continue
        digest = storage.content_digest(content)
        if digest in digests:
            continue
        digests.add(digest)
        clean["images"].append(
            {
                "content": content,
                "content_type": content_type,
                "extension": extension,
                "width": width,
                "height": height,
                "size_bytes": len(content),
            }
        )
    if len(kept_images) + len(clean["images"]) > MAX_IMAGES:
        errors[("images",)] = f"A gallery holds at most {MAX_IMAGES} images."
    if errors:
        raise GigInputError(errors)
    return clean


# -- writes ---------------------------------------------------------------------------------------


def unique_gig_slug(title: str, gig_id: int | None = None) -> str:
    """A slug for `title` that no other gig (of any seller) uses."""
    base = slugify(title)[:120] or "gig"
    slug, n = base, 2
    while True:
        query = select(Gig.id).where(Gig.slug == slug).execution_options(skip_tenant_scope=True)
        found = db.session.scalar(query)
        if found is None or found == gig_id:
            return slug
        slug, n = f"{base}-{n}", n + 1


def _sync_rows(
    existing: list[Any], wanted: Sequence[Mapping[str, Any]], make: Callable[..., Any], company_id: int
) -> None:
    """Update rows in place by position, append new ones, drop the surplus (keeps ids stable)."""
    for position, values in enumerate(wanted):
        if position < len(existing):
            row = existing[position]
        else:
            row = make(company_id=company_id)
            existing.append(row)
        row.position = position
        for name, value in values.items():
            setattr(row, name, value)
    del existing[len(wanted) :]


def is_live(gig: Gig) -> bool:
    """True for a gig that has been approved (published or paused): edits to it are revisions."""
    return gig.status in LIVE_STATUSES and gig.published_at is not None


def gig_content(gig: Gig) -> dict[str, Any]:
    """The gig's editable content in the shape `check_gig_input` returns, with the gallery as
    image descriptors: what a GigRevision stores and what revisions are compared with."""
    return {
        "title": gig.title,
        "category_id": gig.category_id,
        "description_md": gig.description_md,
        "tags": gig.tag_list,
        "packages": {
            p.tier: {
                "title": p.title,
                "description": p.description,
                "price_cents": p.price_cents,
                "delivery_days": p.delivery_days,
                "revisions": p.revisions,
            }
            for p in gig.packages
        },
        "extras": [
            {"title": e.title, "price_cents": e.price_cents, "extra_days": e.extra_days, "max_quantity": e.max_quantity}
            for e in gig.extras
        ],
        "questions": [
            {"prompt": q.prompt, "kind": q.kind, "choices": list(q.choices or []), "required": q.required}
            for q in gig.questions
        ],
        "faq": [{"question": item.get("question"), "answer": item.get("answer")} for item in gig.faq or []],
        "images": [image_descriptor(image) for image in gig.images],
    }


def image_descriptor(image: GigImage) -> dict[str, Any]:
    """What a revision keeps of a gallery image (enough to re-create its row)."""
    return {
        "storage_key": image.storage_key,
        "content_type": image.content_type,
        "width": image.width,
        "height": image.height,
        "size_bytes": image.size_bytes,
    }


def write_content(gig: Gig, content: Mapping[str, Any]) -> None:
    """Set the gig's text, category, packages, extras, questions and FAQ from cleaned content
    (not the gallery, not the status); rows are updated in place so their ids stay."""
    company_id = gig.company_id
    gig.title = content["title"]
    gig.category_id = content["category_id"]
    gig.description_md = content["description_md"]
    gig.description_html = render_markdown(content["description_md"])
    gig.tags = ",".join(content["tags"])
    gig.faq = [dict(item) for item in content["faq"]]

    for position, tier in enumerate(TIERS):
        values = content["packages"].get(tier)
        package = gig.package(tier)
        if values is None:
            if package is not None:
                gig.packages.remove(package)
            continue
        if package is None:
            package = GigPackage(company_id=company_id, tier=tier)
            gig.packages.append(package)
        package.position = position
        for name, value in values.items():
            setattr(package, name, value)
    _sync_rows(gig.extras, content["extras"], GigExtra, company_id)
    _sync_rows(gig.questions, content["questions"], GigQuestion, company_id)
    gig.basic_price_cents = content["packages"]["basic"]["price_cents"]
    gig.min_delivery_days = min(p["delivery_days"] for p in content["packages"].values())


def save_gig(
    company: Company,
    actor: User,
    data: Mapping[str, Any],
    *,
    gig: Gig | None = None,
    uploads: Iterable[tuple[str, bytes]] = (),
    remove_image_ids: Iterable[int] = (),
) -> Gig:
    """Create (`gig` None) or update a gig of `company` that is not live, all or nothing.

    Validates everything first (GigInputError, nothing written). Members may edit gigs that
    are not live. A live gig is never changed here: its edits are revisions
    (services/gig_revisions.py `save_gig_revision`), so this refuses one (GigStateError).
    Keeps `basic_price_cents` and `min_delivery_days` in step with the packages.
    Flushes; the caller commits.
    """
    role = company.role_of(actor)
    if role is None:
        raise GigForbidden("You are not a member of this seller.")
    if gig is not None and gig.company_id != company.id:
        raise GigForbidden("This gig belongs to another seller.")
    if gig is not None and is_live(gig):
        raise GigStateError("This gig is live: changes to it are sent for review as a revision.")
    removing = set(remove_image_ids)
    kept = [image for image in (gig.images if gig else []) if image.id not in removing]
    clean = check_gig_input(data, uploads, kept)

    if gig is None or gig.published_at is None:
        slug = unique_gig_slug(clean["title"], gig.id if gig else None)
    if gig is None:
        gig = Gig(company_id=company.id, status="draft", slug=slug)
        db.session.add(gig)
    elif gig.published_at is None:
        gig.slug = slug
    write_content(gig, clean)

    for image in list(gig.images):
        if image.id in removing:
            gig.images.remove(image)
    db.session.flush()
    for values in store_uploads(gig, clean["images"]):
        gig.images.append(GigImage(company_id=company.id, **values))
    _number_images(gig)
    return gig


def store_uploads(gig: Gig, images: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Save checked uploads (from `check_gig_input`) to storage under the gig; their descriptors."""
    stored = []
    for image in images:
        key = storage.content_key(f"gigs/{gig.id}", image["content"], image["extension"])
        storage.save_file(key, image["content"])
        stored.append(
            {
                "storage_key": key,
                "content_type": image["content_type"],
                "width": image["width"],
                "height": image["height"],
                "size_bytes": image["size_bytes"],
            }
        )
    return stored


def remove_gig_image(gig: Gig, actor: User, image_id: int) -> GigImage | None:
    """Drop one image from the gallery (same rules as editing); flushed."""
    image = next((image for image in gig.images if image.id == image_id), None)
    if image is None:
        return None
    if is_live(gig):
        raise GigStateError("This gig is live: untick the image in the editor and save, and the change goes to review.")
    gig.images.remove(image)
    _number_images(gig)
    return image


def _number_images(gig: Gig) -> None:
    """Number the gallery in its order. Flushed."""
    for position, image in enumerate(gig.images):
        image.position = position
    db.session.flush()


def delete_gig(gig: Gig, actor: User) -> None:
    """Delete a gig that never went live (draft or rejected); flushed."""
    if not gig.company.is_manager(actor):
        raise GigForbidden("Only owners and admins can delete gigs.")
    if gig.status not in ("draft", "rejected"):
        raise GigStateError("Only drafts and rejected gigs can be deleted; pause a live gig instead.")
    record_audit_event("gig.deleted", actor=actor, company=gig.company, subject=gig, title=gig.title)
    db.session.delete(gig)
    db.session.flush()


# -- the state machine --------------------------------------------------------------------------


def actor_role(gig: Gig, user: User) -> str | None:
    """ "seller" (owner/admin of the gig's company), "member", "admin" (platform admin from
    outside the company) or None."""
    role = gig.company.role_of(user)
    if role in MANAGER_ROLES:
        return "seller"
    if role is not None:
        return "member"
    if user.is_admin:
        return "admin"
    return None


def _lock(gig: Gig) -> Gig:
    """Re-read the gig row, locked for the rest of the transaction on PostgreSQL."""
    return db.session.scalars(
        select(Gig).where(Gig.id == gig.id).with_for_update(of=Gig).execution_options(populate_existing=True)
    ).one()


def _require_verified(gig: Gig, action: str) -> None:
    if gig.company.kyc_status != "verified":
        who = "The seller has" if action == "approve" else "You have"
        raise KycNotVerified(f"{who} not finished identity verification, so this gig cannot go live yet.")


def transition_gig(gig: Gig, action: str, actor: User, *, reason: str | None = None) -> Gig:
    """Apply `action` by `actor` to `gig` per TRANSITIONS; the only writer of Gig.status.

    Raises GigForbidden (actor may never do this), GigStateError (not from this status),
    KycNotVerified (publishing for an unverified company) or GigInputError (reject without
    a reason). Writes an audit row; tells the seller about admin decisions. Flushed.
    """
    role = actor_role(gig, actor)
    gig = _lock(gig)
    allowed_roles = {key[2] for key in TRANSITIONS if key[1] == action}
    if role not in allowed_roles:
        if action in ("approve", "reject") and role in ("seller", "member"):
            raise GigForbidden("You cannot review your own gig.")
        raise GigForbidden("You are not allowed to do that.")
    target = TRANSITIONS.get((gig.status, action, role))
    if target is None:
        raise GigStateError(f"A gig that is {gig.status} cannot be {_past(action)}.")
    if target == "published" or action == "submit":
        _require_verified(gig, action)
    if action == "submit" and not gig.images:
        raise GigStateError("Add at least one gallery image before submitting.")
    if action == "reject":
        reason = check_reason(reason)
        _keep_rejected_submission(gig, actor, reason)

    previous = gig.status
    gig.status = target
    if target == "review":
        gig.submitted_at = now()
        gig.rejection_reason = None
    elif target == "published":
        gig.published_at = gig.published_at if action == "resume" else now()
    elif target == "rejected":
        gig.rejection_reason = reason
    record_audit_event(
        f"gig.{action}",
        actor=actor,
        company=gig.company,
        subject=gig,
        previous=previous,
        status=target,
        **({"reason": reason} if reason else {}),
    )
    if "published" in (previous, target):
        bump_catalog_version()
    if action in ("approve", "reject"):
        _notify_sellers(gig, action, reason)
        record_event(
            gig.company_id,
            f"gig.{target}",
            {"gig_id": gig.id, "slug": gig.slug, "status": target, **({"reason": reason} if reason else {})},
        )
    db.session.flush()
    return gig


def check_reason(reason: str | None) -> str:
    """A rejection reason, stripped; GigInputError on the `reason` field when empty or too long."""
    reason = (reason or "").strip()
    if not reason:
        raise GigInputError({("reason",): "Tell the seller what to change."})
    if len(reason) > 1000:
        raise GigInputError({("reason",): "Keep the reason under 1000 characters."})
    return reason


def _keep_rejected_submission(gig: Gig, actor: User, reason: str) -> None:
    """Keep what was rejected, so the next review shows the reason and what changed since."""
    db.session.add(
        GigRevision(
            company_id=gig.company_id,
            gig_id=gig.id,
            kind="submission",
            status="rejected",
            content=gig_content(gig),
            submitted_at=gig.submitted_at or now(),
            decided_at=now(),
            decided_by_id=actor.id,
            rejection_reason=reason,
        )
    )


def _past(action: str) -> str:
    return {
        "submit": "submitted",
        "approve": "approved",
        "reject": "rejected",
        "pause": "paused",
        "resume": "resumed",
    }[action]


def _notify_sellers(gig: Gig, action: str, reason: str | None) -> None:
    link = url_for("sell.gigs.update", gig_id=gig.id) if has_request_context() else None
    if action == "approve":
        title, body = f"Your gig “{gig.title}” is live", "Buyers can now find and order it."
    else:
        title, body = f"Your gig “{gig.title}” needs changes", reason or ""
    for manager in gig.company.managers():
        notify_user(manager, f"gig.{_past(action)}", title, body, link=link)


# -- reads ----------------------------------------------------------------------------------------


# What a seller's gig table shows (sell/_gig_table.html) besides packages, images and category:
# descriptions, FAQ and tags stay in the database.
_TABLE_GIG_COLUMNS = (
    Gig.title,
    Gig.status,
    Gig.rejection_reason,
    Gig.basic_price_cents,
    Gig.min_delivery_days,
    Gig.updated_at,
    Gig.company_id,
    Gig.category_id,
)


def company_gigs(company: Company) -> Sequence[Gig]:
    """A seller's gigs in every status, most recently changed first, loaded for their table:
    the category, how many packages (their ids) and the images' keys come along; extras,
    questions, long text and the company (the one given, already loaded) do not (they load if
    something asks)."""
    return db.session.scalars(
        select(Gig)
        .where(Gig.company_id == company.id)
        .order_by(Gig.updated_at.desc(), Gig.id.desc())
        .options(
            load_only(*_TABLE_GIG_COLUMNS),
            lazyload(Gig.company),
            selectinload(Gig.packages).load_only(GigPackage.gig_id),
            selectinload(Gig.images).load_only(GigImage.gig_id, GigImage.storage_key),
            lazyload(Gig.extras),
            lazyload(Gig.questions),
        )
    ).all()


def review_queue() -> Select[tuple[Gig]]:
    """The SELECT of gigs waiting for review, oldest submission first (admin side: no tenant)."""
    return select(Gig).where(Gig.status == "review").order_by(Gig.submitted_at, Gig.id)


def recently_reviewed_gigs(limit: int = 10) -> Sequence[Gig]:
    """Gigs an admin approved or rejected lately, newest decision first."""
    return db.session.scalars(
        select(Gig).where(Gig.status.in_(("published", "rejected"))).order_by(Gig.updated_at.desc()).limit(limit)
    ).all()
