"""What the public API reads and writes beyond plain rows: a company's customers, access
checks, and license keys issued by API call (not by a purchase)."""

from datetime import timedelta

from sqlalchemy import Select, exists, or_, select

from app.clock import now
from app.crypto import encrypt
from app.errors import ServiceError
from app.extensions import db
from app.models import License, Membership, Payment, Product, User
from app.services.licensing.issuing import announce_license, policy_for
from app.services.licensing.license_keys import generate_key, hash_key, key_hint


def customers_query(company_id: int) -> Select:
    """Users who paid the company or hold a membership in one of its products."""
    paid = exists().where(Payment.buyer_id == User.id, Payment.company_id == company_id)
    member = exists().where(Membership.buyer_id == User.id, Membership.company_id == company_id)
    return select(User).where(or_(paid, member))


def find_customer(company_id: int, user_id: int) -> User | None:
    """The company's customer `user_id`, or None (a user who never bought from it is None)."""
    return db.session.scalar(customers_query(company_id).where(User.id == user_id))


def check_access(product: Product, user_id: int) -> tuple[bool, Membership | None]:
    """Whether `user_id` has access to `product` now, and the membership that decides it (the
    one granting access with the highest tier, else the newest)."""
    memberships = db.session.scalars(
        select(Membership)
        .where(Membership.product_id == product.id, Membership.buyer_id == user_id)
        .order_by(Membership.id.desc())
    ).all()
    granting = [membership for membership in memberships if membership.grants_access]
    if granting:
        return True, max(granting, key=lambda membership: membership.tier_rank)
    return False, (memberships[0] if memberships else None)


def issue_license(
    product: Product, *, buyer: User | None = None, max_activations: int | None = None, days: int | None = None
) -> tuple[License, str]:
    """A new active key for `product` (which needs an enabled license policy), held by
    `buyer` if given, with the policy's limits unless overridden; (license, plaintext key).
    Records `license.activated`."""
    policy = policy_for(product.id)
    if policy is None or not policy.enabled:
        raise ServiceError(409, "no_license_policy", "This product issues no license keys.", field="product")
    plaintext = generate_key(policy.key_prefix, policy.key_format)
    duration = days or policy.duration_days
    license = License(company_id=product.company_id, product_id=product.id, buyer_id=getattr(buyer, "id", None))
    key_hash = hash_key(plaintext)
    assert key_hash is not None  # a freshly generated key always normalises
    license.key_hash, license.key_encrypted, license.key_hint = key_hash, encrypt(plaintext), key_hint(plaintext)
    license.status, license.activation_count = "active", 0
    license.max_activations = max_activations or policy.max_activations
    license.expires_at = now() + timedelta(days=duration) if duration else None
    db.session.add(license)
    db.session.flush()
    announce_license(license, "license.activated")
    return license, plaintext


def require_product(company_id: int, product_id: int) -> Product:
    """The company's product `product_id`; 404 naming `product` otherwise (another company's too)."""
    product = db.session.scalar(select(Product).where(Product.id == product_id, Product.company_id == company_id))
    if product is None:
        raise ServiceError(404, "resource_missing", "No such product.", field="product")
    return product
