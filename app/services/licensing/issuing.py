"""Issuing keys on purchase and keeping them in step with their memberships: a subscription's
key stops working when the membership's access ends (services/subscriptions.py: the paid
period or trial, the grace period after a failed renewal, or the moment it ends) and works
again when it renews."""

from datetime import timedelta

from sqlalchemy import select

from app.clock import now
from app.crypto import encrypt
from app.extensions import db
from app.models import License, LicensePolicy, Membership
from app.services.licensing.license_keys import generate_key, hash_key, key_hint
from app.services.outbound.outbox import record_event
from app.services.subscriptions import refresh_access


def policy_for(product_id: int) -> LicensePolicy | None:
    """The product's license policy, or None when it issues no keys."""
    return db.session.scalar(select(LicensePolicy).where(LicensePolicy.product_id == product_id))


def issue_license_for_membership(membership: Membership) -> License | None:
    """The membership's license key, issued once when its product has an enabled policy.

    Idempotent: a membership never gets a second key (unique membership_id). Returns the
    License, or None for products that issue no keys. Records `license.activated`.
    """
    existing = db.session.scalar(select(License).where(License.membership_id == membership.id))
    if existing is not None:
        return existing
    policy = policy_for(membership.product_id)
    if policy is None or not policy.enabled:
        return None
    key = generate_key(policy.key_prefix, policy.key_format)
    issued = now()
    license = License(
        company_id=membership.company_id,
        product_id=membership.product_id,
        membership_id=membership.id,
        buyer_id=membership.buyer_id,
        key_hash=hash_key(key),
        key_encrypted=encrypt(key),
        key_hint=key_hint(key),
        status="active",
        max_activations=policy.max_activations,
        activation_count=0,
        expires_at=issued + timedelta(days=policy.duration_days) if policy.duration_days else None,
        access_ends_at=refresh_access(membership),
        created_at=issued,
    )
    db.session.add(license)
    db.session.flush()
    announce_license(license, "license.activated")
    return license


def announce_license(license: License, event_type: str) -> None:
    """Record the outbound `license.*` event for the seller, in the caller's transaction."""
    record_event(
        license.company_id,
        event_type,
        {
            "license_id": license.id,
            "product_id": license.product_id,
            "key_last4": license.key_hint[-4:],
            "status": license.display_status(),
        },
    )


def sync_license_with_membership(membership: Membership) -> License | None:
    """Keep the key of `membership` in step with it; issues the key if the membership has none
    yet. Returns the License or None."""
    license = db.session.scalar(select(License).where(License.membership_id == membership.id))
    if license is None:
        return issue_license_for_membership(membership)
    license.access_ends_at = refresh_access(membership)
    db.session.flush()
    return license
