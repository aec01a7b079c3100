"""The Whop-compatible license check (`POST /api/v2/memberships/<key>/validate_license`):
software written against Whop's API validates our keys unchanged."""

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.clock import now
from app.extensions import db
from app.models import License, LicenseActivation, Membership
from app.services.licensing.license_keys import license_key
from app.services.licensing.public_api import LicenseApiError
from app.services.licensing.records import find_license, refusal_code


@dataclass
class WhopValidation:
    license: License
    membership: Membership | None
    hardware_id: str | None
    valid: bool
    reason: str | None = None


def validate_whop_license(key: object, hardware_id: str) -> WhopValidation:
    """The Whop-compatible check: binds the first hardware id to the key and refuses another
    (LicenseApiError 403 HARDWARE_MISMATCH). A key that is not usable binds nothing."""
    license = find_license(key, lock=True)
    if license is None:
        raise LicenseApiError(404, "NOT_FOUND")
    reason = refusal_code(license, now())
    valid = reason is None
    bound = db.session.scalars(
        select(LicenseActivation.fingerprint).where(LicenseActivation.license_id == license.id)
    ).all()
    if bound and hardware_id not in bound:
        raise LicenseApiError(403, "HARDWARE_MISMATCH")
    if not bound and valid:
        db.session.add(
            LicenseActivation(
                company_id=license.company_id, license_id=license.id, fingerprint=hardware_id, name="Whop hardware id"
            )
        )
        license.activation_count += 1
        db.session.flush()
        bound = [hardware_id]
    membership = db.session.get(Membership, license.membership_id) if license.membership_id else None
    return WhopValidation(license, membership, hardware_id if bound else None, valid, reason)


REASONS = {
    "REVOKED": "This license key was revoked.",
    "SUSPENDED": "This license key is suspended.",
    "EXPIRED": "This license key has expired.",
}


def whop_membership_json(result: WhopValidation) -> dict[str, Any]:
    """The membership object of Whop's validate_license answer, filled from our records.

    An unusable key (revoked, suspended, expired) adds ``reason`` (REVOKED / SUSPENDED /
    EXPIRED) and an ``error`` object; the view answers it with 403, as Whop refuses an
    unusable membership rather than answering success."""
    license, membership = result.license, result.membership
    if not result.valid:
        status = "expired" if license.display_status() == "expired" else "canceled"
    elif membership is None or membership.current_period_end is None:
        status = "completed"
    else:
        status = membership.status
    period_end = membership.current_period_end if membership else None
    ends = license.effective_expires_at
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    answer = {
        "id": f"mem_{license.membership_id}" if license.membership_id else f"lic_{license.id}",
        "product": f"prod_{license.product_id}",
        "user": f"user_{license.buyer_id}",
        "plan": None,
        "promo_code": None,
        "status": status,
        "valid": result.valid,
        "cancel_at_period_end": False,
        "payment_processor": "stripe",
        "stripe_subscription_id": membership.stripe_subscription_id if membership else None,
        "license_key": license_key(license),
        "metadata": {"hardware_id": result.hardware_id},
        "quantity": 1,
        "expires_at": int(ends.timestamp()) if ends else None,
        "renewal_period_start": None,
        "renewal_period_end": int(period_end.timestamp()) if period_end else None,
        "created_at": int(license.created_at.timestamp()),
        "manage_url": f"{base}/account/licenses",
    }
    if result.reason is not None:
        answer["reason"] = result.reason
        answer["error"] = {"code": result.reason, "message": REASONS[result.reason]}
    return answer
