"""Finding and locking license rows and their machines, and what a license's state refuses:
shared by the public API, the seller's actions and the buyer's self-service."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, select

from app.errors import ServiceError
from app.extensions import db
from app.models import License, LicenseActivation
from app.models.license import LicenseTerms
from app.services.licensing.license_keys import hash_key

LICENSES, ACTIVATIONS = cast(Table, License.__table__), cast(Table, LicenseActivation.__table__)


class LicenseStateError(ServiceError):
    """A seller or buyer action the license's current state does not allow (409)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(status, "license_state", message)


# ---- the public API's hot path: plain rows, no ORM objects -----------------------------------
#
# Its statements are SQLAlchemy Core built once, and run on the connection the view passes (a
# pooled one in autocommit: the statement is its own transaction) or else the session's
# (`db.session.connection().execute`): Session.execute would run them the same way (a Core
# statement is not autoflushed), after looking for the bind in every table the statement names.


@dataclass(slots=True)
class LicenseRow(LicenseTerms):
    """The columns of a license the public API reads and answers with."""

    id: int
    company_id: int
    product_id: int
    status: str
    key_hint: str
    max_activations: int
    activation_count: int
    expires_at: datetime | None
    access_ends_at: datetime | None
    last_validated_at: datetime | None


@dataclass(slots=True)
class ActivationRow:
    """The columns of a machine's activation the public API answers with."""

    id: int
    fingerprint: str
    name: str | None
    created_at: datetime


LICENSE_COLUMNS = tuple(LICENSES.c[name] for name in LicenseRow.__dataclass_fields__)
ACTIVATION_COLUMNS = tuple(
    ACTIVATIONS.c[name].label(f"activation_{name}") for name in ActivationRow.__dataclass_fields__
)

# The license with key hash :lookup_hash and its activation on machine :machine, in one
# statement of SQLAlchemy Core (built once; only the parameters change between requests).
WITH_ACTIVATION = LICENSES.outerjoin(
    ACTIVATIONS,
    and_(
        ACTIVATIONS.c.license_id == LICENSES.c.id,
        ACTIVATIONS.c.fingerprint == bindparam("machine", type_=ACTIVATIONS.c.fingerprint.type),
    ),
)
BY_KEY_HASH = LICENSES.c.key_hash == bindparam("lookup_hash", type_=LICENSES.c.key_hash.type)
LICENSE_AND_ACTIVATION = select(*LICENSE_COLUMNS, *ACTIVATION_COLUMNS).select_from(WITH_ACTIVATION).where(BY_KEY_HASH)


def license_row(values: Any) -> LicenseRow:
    """A LicenseRow from the first columns of a result row (in LICENSE_COLUMNS order)."""
    return LicenseRow(*values[: len(LICENSE_COLUMNS)])


def activation_row(values: Any, start: int) -> ActivationRow | None:
    """The ActivationRow in a result row's columns from `start` on (None when its id is)."""
    if values[start] is None:
        return None
    return ActivationRow(*values[start : start + len(ACTIVATION_COLUMNS)])


def read_license_and_activation(
    key_hash: str, fingerprint: str | None, connection: Connection | None = None
) -> tuple[LicenseRow | None, ActivationRow | None]:
    """The license with `key_hash` and its activation on `fingerprint` (None: no machine), in
    one SELECT, as plain rows; (None, None) for an unknown key. On `connection`, else the
    session's."""
    params = {"lookup_hash": key_hash, "machine": fingerprint or ""}
    row = (connection or db.session.connection()).execute(LICENSE_AND_ACTIVATION, params).first()
    return split_row(row)


def split_row(row: Any) -> tuple[LicenseRow | None, ActivationRow | None]:
    """The license and activation of a LICENSE_AND_ACTIVATION row; (None, None) for no row."""
    if row is None:
        return None, None
    return license_row(row), activation_row(row, len(LICENSE_COLUMNS))


# ---- ORM reads and locks ------------------------------------------------------------------


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


def refusal_code(license: LicenseTerms, at: datetime) -> str | None:
    """REVOKED, SUSPENDED or EXPIRED when the key does not work at `at`; None when it does."""
    if license.status == "revoked":
        return "REVOKED"
    if license.status == "suspended":
        return "SUSPENDED"
    if license.is_expired(at):
        return "EXPIRED"
    return None
