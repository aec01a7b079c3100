"""Finding and locking license rows and their machines, and what a license's state refuses:
shared by the public API, the seller's actions and the buyer's self-service."""

from datetime import datetime

from sqlalchemy import and_, select

from app.errors import ServiceError
from app.extensions import db
from app.models import License, LicenseActivation
from app.services.licensing.license_keys import hash_key


class LicenseStateError(ServiceError):
    """A seller or buyer action the license's current state does not allow (409)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(status, "license_state", message)


def find_license(key: object, lock: bool = False) -> License | None:
    """The license with `key` (row-locked when `lock`), or None."""
    key_hash = hash_key(key)
    if key_hash is None:
        return None
    query = select(License).where(License.key_hash == key_hash)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def find_license_and_activation(
    key: object, fingerprint: str, lock: bool = False
) -> tuple[License | None, LicenseActivation | None]:
    """The license with `key` and its activation on machine `fingerprint`, in ONE statement
    (the license row-locked when `lock`); (None, None) for an unknown key."""
    key_hash = hash_key(key)
    if key_hash is None:
        return None, None
    query = (
        select(License, LicenseActivation)
        .where(License.key_hash == key_hash)
        .outerjoin(
            LicenseActivation,
            and_(LicenseActivation.license_id == License.id, LicenseActivation.fingerprint == fingerprint),
        )
    )
    if lock:
        query = query.with_for_update(of=License).execution_options(populate_existing=True)
    row = db.session.execute(query).first()
    return (row[0], row[1]) if row is not None else (None, None)


def lock_license(license: License) -> License:
    """`license` re-read and row-locked for the rest of the transaction."""
    return db.session.scalars(
        select(License).where(License.id == license.id).with_for_update().execution_options(populate_existing=True)
    ).one()


def remove_activation(license: License, activation: LicenseActivation) -> None:
    """Free one machine's seat on `license` (locked by the caller). Flushed."""
    db.session.delete(activation)
    license.activation_count = max(license.activation_count - 1, 0)
    db.session.flush()


def refusal_code(license: License, at: datetime) -> str | None:
    """REVOKED, SUSPENDED or EXPIRED when the key does not work at `at`; None when it does."""
    if license.status == "revoked":
        return "REVOKED"
    if license.status == "suspended":
        return "SUSPENDED"
    if license.is_expired(at):
        return "EXPIRED"
    return None
