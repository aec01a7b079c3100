"""The buyer's side of licensing: their keys with their machines, and freeing a machine
themselves (a few times a month; past that the seller resets the key)."""

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.clock import now
from app.errors import NotFound
from app.extensions import db
from app.models import AuditEvent, License, LicenseActivation, Product, User
from app.services.audit import record_audit_event
from app.services.licensing.records import LicenseStateError, lock_license, remove_activation

SELF_SERVICE_RESETS = 3
SELF_SERVICE_WINDOW = timedelta(days=30)


def buyer_licenses(user: User) -> list[License]:
    """The user's keys with their products and machines (three queries, whatever the count)."""
    return list(
        db.session.scalars(
            select(License)
            .where(License.buyer_id == user.id)
            .options(joinedload(License.product).joinedload(Product.company), joinedload(License.activations))
            .order_by(License.created_at.desc())
        )
        .unique()
        .all()
    )


def self_service_resets_used(license: License, at: datetime | None = None) -> int:
    """How many machines the buyer freed on this key in the last SELF_SERVICE_WINDOW."""
    since = (at or now()) - SELF_SERVICE_WINDOW
    return (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "license.self_deactivated",
                AuditEvent.subject_type == "license",
                AuditEvent.subject_id == str(license.id),
                AuditEvent.created_at >= since,
            )
        )
        or 0
    )


def deactivate_own_activation(user: User, activation_id: int) -> License:
    """The buyer frees one of their machines: at most SELF_SERVICE_RESETS per key in
    SELF_SERVICE_WINDOW (LicenseStateError 429 past that). NotFound (404) for machines of
    other people's keys. Audited."""
    activation = db.session.get(LicenseActivation, activation_id)
    if activation is None or activation.license.buyer_id != user.id:
        raise NotFound("There is no such machine on your keys.")
    license = lock_license(activation.license)
    if self_service_resets_used(license) >= SELF_SERVICE_RESETS:
        raise LicenseStateError(
            f"You can free {SELF_SERVICE_RESETS} machines per key every 30 days; ask the seller to reset the key.",
            status=429,
        )
    fingerprint = activation.fingerprint
    remove_activation(license, activation)
    record_audit_event(
        "license.self_deactivated",
        actor=user,
        company=license.product.company,
        subject=license,
        key_hint=license.key_hint,
        fingerprint=fingerprint,
    )
    return license
