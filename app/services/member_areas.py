"""Member areas: the posts and files a seller puts behind a digital product.

Posts are Markdown, rendered and sanitised when saved. Files are stored by content under
``member/<product id>/`` in the upload storage (app/services/storage.py) and are served only
to members with access and to the seller's team (see whop_access.can_open_member_area).
Bad input raises MemberAreaError naming the field, and nothing is written.
"""

import mimetypes
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy import or_, select
from werkzeug.datastructures import FileStorage

from app.errors import ServiceError
from app.extensions import db
from app.inputs import parse_whole_number
from app.markdown import render_markdown
from app.models import MemberFile, MemberPost, Membership, Product, User
from app.models.product import MAX_TIER_RANK
from app.services.audit import record_audit_event
from app.services.storage import content_key, delete_file, path_for, save_file
from app.services.subscriptions import buyer_memberships

MAX_TITLE = 160
MAX_BODY = 20000
MAX_FILE_BYTES = 25 * 1024 * 1024
ALLOWED_EXTENSIONS = (
    "pdf",
    "zip",
    "epub",
    "txt",
    "md",
    "csv",
    "json",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "mp3",
    "mp4",
    "psd",
    "fig",
)
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


class MemberAreaError(ServiceError):
    """Bad member-area input: `errors` maps form fields to messages (422)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(422, "invalid_member_content", "; ".join(errors.values()), errors=errors)


def _of_product(product: Product) -> dict[str, int]:
    """The columns that put a row (post, file) in the product's member area and its company."""
    return {"company_id": product.company_id, "product_id": product.id}


def member_area(product: Product, tier_rank: int | None = None) -> tuple[Sequence[MemberPost], Sequence[MemberFile]]:
    """The product's posts (newest first) and files (A–Z); with `tier_rank`, only those a
    member of that tier may see (no minimum, or a minimum up to it). None: all (the seller)."""
    post_query = select(MemberPost).where(MemberPost.product_id == product.id)
    file_query = select(MemberFile).where(MemberFile.product_id == product.id)
    if tier_rank is not None:
        post_query = post_query.where(or_(MemberPost.min_tier_rank.is_(None), MemberPost.min_tier_rank <= tier_rank))
        file_query = file_query.where(or_(MemberFile.min_tier_rank.is_(None), MemberFile.min_tier_rank <= tier_rank))
    posts = db.session.scalars(
        post_query.order_by(MemberPost.created_at.desc(), MemberPost.id.desc()).execution_options(
            skip_tenant_scope=True
        )
    ).all()
    files = db.session.scalars(
        file_query.order_by(MemberFile.filename, MemberFile.id).execution_options(skip_tenant_scope=True)
    ).all()
    return posts, files


def member_tier(user: User, product: Product) -> int:
    """The highest tier rank among the user's memberships of `product` that grant access (0
    for plans without a rank and for memberships without a plan, such as Whop's)."""
    memberships = db.session.scalars(buyer_memberships(Membership, user.id, product.id)).all()
    return max((m.tier_rank for m in memberships if m.grants_access), default=0)


def _min_tier(form: Mapping[str, str]) -> tuple[int | None, dict[str, str]]:
    """The optional `min_tier_rank` field: empty = every member."""
    raw = (form.get("min_tier_rank") or "").strip()
    if not raw:
        return None, {}
    rank = parse_whole_number(raw, 1, MAX_TIER_RANK)
    if rank is None:
        return None, {"min_tier_rank": f"Minimum tier must be a whole number from 1 to {MAX_TIER_RANK}, or empty."}
    return rank, {}


def add_member_post(product: Product, author: User, form: Mapping[str, str]) -> MemberPost:
    """Publish a Markdown post to the product's members."""
    title = (form.get("title") or "").strip()
    body = (form.get("body") or "").strip()
    min_tier_rank, errors = _min_tier(form)
    if not title:
        errors["title"] = "Give the post a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep the title under {MAX_TITLE} characters."
    if not body:
        errors["body"] = "Write something for your members."
    elif len(body) > MAX_BODY:
        errors["body"] = f"Keep posts under {MAX_BODY:,} characters."
    if errors:
        raise MemberAreaError(errors)
    post = MemberPost(
        **_of_product(product),
        author_id=author.id,
        title=title,
        body_md=body,
        body_html=render_markdown(body),
        min_tier_rank=min_tier_rank,
    )
    db.session.add(post)
    db.session.flush()
    record_audit_event("member_area.post_added", actor=author, company=product.company, subject=post)
    return post


def get_member_post(product: Product, post_id: int) -> MemberPost | None:
    """The product's post `post_id`, or None (also for another product's post)."""
    return db.session.scalar(select(MemberPost).where(MemberPost.id == post_id, MemberPost.product_id == product.id))


def delete_member_post(product: Product, actor: User, post: MemberPost) -> None:
    """Remove a post from the product's member area."""
    db.session.delete(post)
    db.session.flush()
    record_audit_event(
        "member_area.post_removed", actor=actor, company=product.company, post_id=post.id, product_id=product.id
    )


def _clean_filename(raw: str | None) -> str:
    name = _UNSAFE_NAME.sub("", (raw or "").replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    return name[:MAX_TITLE]


def add_member_file(
    product: Product, uploader: User, upload: FileStorage | None, form: Mapping[str, str] | None = None
) -> MemberFile:
    """Store an uploaded file (werkzeug FileStorage) in the product's member area, for members
    of the form's `min_tier_rank` and up (empty: every member)."""
    min_tier_rank, errors = _min_tier(form or {})
    if errors:
        raise MemberAreaError(errors)
    filename = _clean_filename(upload.filename if upload else "")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if upload is None or not filename:
        raise MemberAreaError({"file": "Choose a file to upload."})
    if extension not in ALLOWED_EXTENSIONS:
        raise MemberAreaError({"file": "Upload one of: " + ", ".join(ALLOWED_EXTENSIONS) + "."})
    data = upload.stream.read(MAX_FILE_BYTES + 1)
    if not data:
        raise MemberAreaError({"file": "That file is empty."})
    if len(data) > MAX_FILE_BYTES:
        raise MemberAreaError({"file": f"Files can be up to {MAX_FILE_BYTES // (1024 * 1024)} MB."})
    key = save_file(content_key(f"member/{product.id}", data, extension), data)
    member_file = MemberFile(
        **_of_product(product),
        uploaded_by_id=uploader.id,
        filename=filename,
        storage_key=key,
        size_bytes=len(data),
        content_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
        min_tier_rank=min_tier_rank,
    )
    db.session.add(member_file)
    db.session.flush()
    record_audit_event(
        "member_area.file_added", actor=uploader, company=product.company, subject=member_file, filename=filename
    )
    return member_file


def get_member_file(product: Product, file_id: int) -> MemberFile | None:
    """The product's file `file_id`, or None (also for another product's file)."""
    return db.session.scalar(
        select(MemberFile)
        .where(MemberFile.id == file_id, MemberFile.product_id == product.id)
        .execution_options(skip_tenant_scope=True)
    )


def member_file_path(member_file: MemberFile) -> Path:
    """Where the file's bytes are on disk."""
    return path_for(member_file.storage_key)


def delete_member_file(product: Product, actor: User, member_file: MemberFile) -> None:
    """Remove a file; its bytes go too unless another entry stores the same content."""
    key = member_file.storage_key
    db.session.delete(member_file)
    db.session.flush()
    still_used = db.session.scalar(
        select(MemberFile.id).where(MemberFile.storage_key == key).execution_options(skip_tenant_scope=True).limit(1)
    )
    if still_used is None:
        delete_file(key)
    record_audit_event(
        "member_area.file_removed",
        actor=actor,
        company=product.company,
        file_id=member_file.id,
        filename=member_file.filename,
    )
