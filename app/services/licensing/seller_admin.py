"""The seller's side of licensing: the product's license policy, and finding, suspending,
reinstating, revoking, resetting and extending keys. Every action is audited."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import joinedload

from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.inputs import parse_whole_number
from app.models import License, LicenseActivation, LicensePolicy, Membership, Product, User
from app.models.license import KEY_FORMATS, MAX_ACTIVATIONS_LIMIT, MAX_DURATION_DAYS
from app.services.audit import record_audit_event
from app.services.licensing.issuing import announce_license, issue_license_for_membership, policy_for
from app.services.licensing.license_keys import hash_key, key_hint
from app.services.licensing.public_api import iso
from app.services.licensing.records import LicenseStateError, lock_license

LIST_STATUSES = ("active", "expired", "suspended", "revoked")
PAGE_SIZE = 50


class LicensePolicyError(ServiceError):
    """Policy form input that cannot be saved; `errors` maps field name → message (422)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(422, "invalid_policy", "; ".join(errors.values()), errors=errors)


# ---- policies -----------------------------------------------------------------------------


def validate_policy_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Cleaned policy fields, or LicensePolicyError with one message per bad field."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"enabled": form.get("enabled") in ("on", "1", "true", "y")}
    max_activations = parse_whole_number(form.get("max_activations") or "", 1, MAX_ACTIVATIONS_LIMIT)
    if max_activations is None:
        errors["max_activations"] = f"Allow between 1 and {MAX_ACTIVATIONS_LIMIT} machines per key."
    else:
        data["max_activations"] = max_activations
    raw = (form.get("duration_days") or "").strip()
    duration = parse_whole_number(raw, 1, MAX_DURATION_DAYS)
    if raw in ("", "0"):
        data["duration_days"] = None
    elif duration is None:
        errors["duration_days"] = f"Leave empty for keys that never expire, or 1 to {MAX_DURATION_DAYS} days."
    else:
        data["duration_days"] = duration
    prefix = (form.get("key_prefix") or "").strip().upper()
    if not 2 <= len(prefix) <= 6 or not prefix.isascii() or not prefix.isalnum():
        errors["key_prefix"] = "Use 2 to 6 letters or digits, e.g. TP."
    data["key_prefix"] = prefix
    data["key_format"] = form.get("key_format", "grouped")
    if data["key_format"] not in KEY_FORMATS:
        errors["key_format"] = "Choose grouped or compact keys."
    if errors:
        raise LicensePolicyError(errors)
    return data


def save_license_policy(product: Product, form: Mapping[str, str], actor: User) -> tuple[LicensePolicy, int]:
    """Create or update `product`'s policy; nothing is written on error.

    A new maximum applies to the product's existing keys too; enabling a policy issues keys to
    buyers who already hold the product. Audited as license.policy_saved. Returns the policy
    and how many keys it issued.
    """
    data = validate_policy_form(form)
    policy = policy_for(product.id)
    if policy is None:
        policy = LicensePolicy(company_id=product.company_id, product_id=product.id)
        db.session.add(policy)
    for name, value in data.items():
        setattr(policy, name, value)
    db.session.flush()
    db.session.execute(
        update(License)
        .where(License.company_id == product.company_id, License.product_id == product.id)
        .values(max_activations=policy.max_activations)
        .execution_options(synchronize_session=False)
    )
    issued = 0
    if policy.enabled:
        holders = db.session.scalars(
            select(Membership).where(
                Membership.product_id == product.id,
                Membership.status.in_(("trialing", "active", "past_due")),
                ~select(License.id).where(License.membership_id == Membership.id).exists(),
            )
        ).all()
        for membership in holders:
            issue_license_for_membership(membership)
        issued = len(holders)
    record_audit_event(
        "license.policy_saved",
        actor=actor,
        company=product.company,
        subject=product,
        issued=issued,
        **data,
    )
    return policy, issued


# ---- keys ---------------------------------------------------------------------------------


def list_licenses(
    product_id: int | None = None, status: str | None = None, q: str | None = None, limit: int = PAGE_SIZE
) -> list[License]:
    """The current tenant's keys, newest first, filtered by product, status and a search for a
    buyer email, a full key or its last five characters."""
    at = now()
    query = (
        select(License)
        .options(joinedload(License.product), joinedload(License.buyer))
        .order_by(License.created_at.desc(), License.id.desc())
        .limit(limit)
    )
    if product_id:
        query = query.where(License.product_id == product_id)
    if status == "expired":
        query = query.where(License.status == "active", or_(License.expires_at <= at, License.access_ends_at <= at))
    elif status == "active":
        query = query.where(
            License.status == "active",
            or_(License.expires_at.is_(None), License.expires_at > at),
            or_(License.access_ends_at.is_(None), License.access_ends_at > at),
        )
    elif status in LIST_STATUSES:
        query = query.where(License.status == status)
    q = (q or "").strip()
    if q:
        key_hash = hash_key(q)
        if key_hash:
            query = query.where(License.key_hash == key_hash)
        else:
            query = query.join(User, User.id == License.buyer_id).where(
                or_(User.email.ilike(f"%{q}%"), License.key_hint == key_hint(q))
            )
    return list(db.session.scalars(query).unique().all())


def _audit(action: str, license: License, actor: User, **data: Any) -> None:
    record_audit_event(
        action, actor=actor, company=license.product.company, subject=license, key_hint=license.key_hint, **data
    )


def _move(license: License, actor: User, verb: str, expected: str, to_status: str) -> License:
    """`license` locked and moved from `expected` to `to_status`, audited as `license.<verb>`;
    LicenseStateError ("Only <expected> keys can be <verb>", with the status it is in) from any
    other status."""
    license = lock_license(license)
    if license.status != expected:
        raise LicenseStateError(f"Only {expected} keys can be {verb}; this one is {license.status}.")
    license.status = to_status
    _audit(f"license.{verb}", license, actor)
    return license


def suspend_license(license: License, actor: User) -> License:
    """active → suspended: validation answers SUSPENDED until reinstated. Audited."""
    return _move(license, actor, "suspended", expected="active", to_status="suspended")


def reinstate_license(license: License, actor: User) -> License:
    """suspended → active. Revoked keys stay revoked. Audited."""
    return _move(license, actor, "reinstated", expected="suspended", to_status="active")


def revoke_license(license: License, actor: User) -> License:
    """Revoke for good (final). Audited; records `license.deactivated`."""
    license = lock_license(license)
    if license.status == "revoked":
        raise LicenseStateError("This key is already revoked.")
    license.status = "revoked"
    _audit("license.revoked", license, actor)
    announce_license(license, "license.deactivated")
    return license


def reset_license_activations(license: License, actor: User) -> License:
    """Remove every machine from the key and count the reset. Audited."""
    license = lock_license(license)
    removed = license.activation_count
    db.session.execute(
        delete(LicenseActivation)
        .where(LicenseActivation.license_id == license.id)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(license, ["activations"])
    license.activation_count = 0
    license.reset_count += 1
    _audit("license.activations_reset", license, actor, removed=removed, reset_count=license.reset_count)
    return license


def extend_license(license: License, days: int, actor: User) -> License:
    """Push the key's own expiry `days` later (from now if it already passed). Audited."""
    license = lock_license(license)
    if not 1 <= days <= MAX_DURATION_DAYS:
        raise LicenseStateError(f"Extend by 1 to {MAX_DURATION_DAYS} days.", status=422)
    if license.expires_at is None:
        raise LicenseStateError("This key has no expiry of its own to extend.")
    previous = license.expires_at
    license.expires_at = max(previous, now()) + timedelta(days=days)
    _audit("license.extended", license, actor, days=days, previous=iso(previous), expires_at=iso(license.expires_at))
    return license
