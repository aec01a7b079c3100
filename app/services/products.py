"""Digital products: a seller's catalogue of one-time and subscription products."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from app.errors import ServiceError
from app.extensions import db
from app.inputs import parse_whole_number
from app.markdown import render_markdown
from app.models import Company, Product
from app.models.product import BILLING
from app.services import storage
from app.services.companies import slugify
from app.services.gigs import inspect_image
from app.services.plans import checked_price, sync_first_plan


class ProductError(ServiceError):
    """Product form input that cannot be saved; `errors` maps field name → message (422)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(422, "invalid_product", "; ".join(errors.values()), errors=errors)


def validate_product_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Cleaned product fields from a form, or ProductError with one message per bad field."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    data["title"] = (form.get("title") or "").strip()
    if not 3 <= len(data["title"]) <= 120:
        errors["title"] = "Give the product a title of 3 to 120 characters."
    data["description_md"] = (form.get("description") or "").strip()
    if len(data["description_md"]) > 20000:
        errors["description"] = "Keep the description under 20,000 characters."
    data["price_cents"] = checked_price(form.get("price"), errors)
    data["billing"] = form.get("billing", "one_time")
    if data["billing"] not in BILLING:
        errors["billing"] = "Choose one-time, monthly or yearly."
    trial = parse_whole_number((form.get("trial_days") or "").strip() or "0", 0, 90)
    if trial is None:
        errors["trial_days"] = "Trial days must be between 0 and 90."
    else:
        data["trial_days"] = trial if data["billing"] != "one_time" else 0
    data["active"] = form.get("active") in ("on", "1", "true", "y")
    if errors:
        raise ProductError(errors)
    return data


def _unique_slug(title: str, product_id: int | None = None) -> str:
    """A slug for `title` that no other product (of any seller) uses. Reads only: call it
    before the new row is in the session, or autoflush would INSERT it without a slug."""
    base = slugify(title) if any(c.isascii() and c.isalnum() for c in title) else "product"
    slug, n = base, 2
    while True:
        taken = db.session.execute(
            select(Product.id).where(Product.slug == slug).execution_options(skip_tenant_scope=True)
        ).scalar()
        if taken is None or taken == product_id:
            return slug
        slug, n = f"{base}-{n}", n + 1


def check_product_image(upload: tuple[str, bytes] | None) -> dict[str, Any] | None:
    """The product picture from an upload ((filename, bytes), or None / empty bytes for no new
    picture), judged by its bytes like gig images: JPEG, PNG or WebP, at most 5 MB. Raises
    ProductError naming the `image` field otherwise."""
    if upload is None or not upload[1]:
        return None
    filename, content = upload
    try:
        content_type, extension, width, height = inspect_image(content)
    except ValueError as exc:
        raise ProductError({"image": f"{filename or 'Upload'}: {exc}"}) from None
    return {"content": content, "content_type": content_type, "extension": extension, "width": width, "height": height}


def save_product(
    company: Company,
    form: Mapping[str, str],
    product: Product | None = None,
    image: tuple[str, bytes] | None = None,
    remove_image: bool = False,
) -> Product:
    """Create or update a product of `company` from form data; nothing is written on error.

    `image` ((filename, bytes)) replaces the product's picture, stored the way gig images are
    (content-addressed under products/<id>/); `remove_image` takes it off the product. The
    slug is chosen before the row joins the session, so no query autoflushes a half-built
    product. Its price, billing and trial are its first plan's (created here for a new
    product). Flushes; the caller commits."""
    errors: dict[Any, Any] = {}  # field → message, from both checks
    try:
        data = validate_product_form(form)
    except ProductError as exc:
        errors.update(exc.errors or {})
    try:
        picture = check_product_image(image)
    except ProductError as exc:
        errors.update(exc.errors or {})
    if errors:
        raise ProductError(errors)
    slug = _unique_slug(data["title"], product.id if product is not None else None)
    if product is None:
        product = Product(company_id=company.id)
    for name, value in data.items():
        setattr(product, name, value)
    product.description_html = render_markdown(product.description_md)
    product.slug = slug
    db.session.add(product)
    db.session.flush()
    sync_first_plan(product)
    if picture is not None:
        key = storage.content_key(f"products/{product.id}", picture["content"], picture["extension"])
        storage.save_file(key, picture["content"])
        product.image_key, product.image_content_type = key, picture["content_type"]
        product.image_width, product.image_height = picture["width"], picture["height"]
    elif remove_image:
        product.image_key = product.image_content_type = product.image_width = product.image_height = None
    db.session.flush()
    return product
