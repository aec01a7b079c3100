"""The public license API's operations: validate, activate, deactivate, and signed license
files for offline use; and the JSON shapes of licenses and activations in its answers.

Refusals raise LicenseApiError (HTTP status, result code, message for the developer).
"""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, exists, func, insert, or_, select, text, true, update
from sqlalchemy.orm.util import identity_key

from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.models import License, LicenseActivation
from app.models.types import UTCDateTime
from app.services.licensing.license_keys import hash_key
from app.services.licensing.records import (
    ACTIVATION_COLUMNS,
    ACTIVATIONS,
    BY_KEY_HASH,
    LICENSE_AND_ACTIVATION,
    LICENSE_COLUMNS,
    LICENSES,
    WITH_ACTIVATION,
    ActivationRow,
    LicenseRow,
    activation_row,
    find_license_and_activation,
    license_row,
    read_license_and_activation,
    refusal_code,
    remove_activation,
    split_row,
)
from app.services.licensing.signing import canonical_json, signature_of

VALIDATION_TOUCH_INTERVAL = timedelta(seconds=60)
FILE_TTL_DEFAULT = timedelta(days=30)
FILE_TTL_MIN = timedelta(hours=1)
FILE_TTL_MAX = timedelta(days=90)
LICENSE_FILE_FORMAT = "tradepost-license-file/1"

CODES = ("VALID", "NOT_FOUND", "SUSPENDED", "REVOKED", "EXPIRED", "NO_ACTIVATION", "PRODUCT_MISMATCH")
MESSAGES = {
    "VALID": "The license key is valid.",
    "NOT_FOUND": "No license has that key.",
    "SUSPENDED": "This license is suspended by the seller.",
    "REVOKED": "This license was revoked.",
    "EXPIRED": "This license has expired.",
    "NO_ACTIVATION": "This license is not activated on this machine.",
    "PRODUCT_MISMATCH": "This license key belongs to another product.",
    "TOO_MANY_ACTIVATIONS": "This license is active on the maximum number of machines.",
    "HARDWARE_MISMATCH": "Hardware mismatch",
}


class LicenseApiError(ServiceError):
    """A refusal of the public API: HTTP status, result code and a message for the developer."""

    def __init__(self, status: int, code: str, message: str | None = None):
        super().__init__(status, code, message or MESSAGES.get(code, code))


# ---- serialisation ------------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    """`moment` as UTC ISO 8601 to the second ("2026-11-22T17:00:00Z"), None for None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def license_json(license: License | LicenseRow, at: datetime | None = None) -> dict[str, Any]:
    """The license as the API shows it (never the key itself)."""
    return {
        "id": license.id,
        "product_id": license.product_id,
        "status": license.display_status(at),
        "key_hint": license.key_hint,
        "expires_at": iso(license.effective_expires_at),
        "max_activations": license.max_activations,
        "activations": license.activation_count,
    }


def activation_json(activation: LicenseActivation | ActivationRow | None) -> dict[str, Any] | None:
    """One machine's activation as the API shows it."""
    if activation is None:
        return None
    return {
        "id": activation.id,
        "fingerprint": activation.fingerprint,
        "name": activation.name,
        "created_at": iso(activation.created_at),
    }


# ---- operations ---------------------------------------------------------------------------


@dataclass
class Validation:
    code: str
    license: LicenseRow | None = None
    activation: ActivationRow | None = None

    @property
    def valid(self) -> bool:
        return self.code == "VALID"


def _touch(license: LicenseRow, at: datetime, connection: Connection) -> None:
    # At most one small UPDATE a minute per key, so sellers see "last checked"; the WHERE keeps
    # concurrent requests from writing it twice.
    seen = license.last_validated_at
    if seen is not None and seen >= at - VALIDATION_TOUCH_INTERVAL:
        return
    connection.execute(
        update(LICENSES)
        .where(
            LICENSES.c.id == license.id,
            or_(LICENSES.c.last_validated_at.is_(None), LICENSES.c.last_validated_at < at - VALIDATION_TOUCH_INTERVAL),
        )
        .values(last_validated_at=at)
    )


_AT = bindparam("at", type_=UTCDateTime())
_STALE = bindparam("stale", type_=UTCDateTime())
_PRODUCT = bindparam("product", type_=LICENSES.c.product_id.type)

# PostgreSQL: the read of the key and its machine, with the "last checked" touch in the same
# statement (a data-modifying CTE runs whether or not the SELECT names it). When the touch is
# not due (checked less than a minute ago, or another product's key) its UPDATE matches no
# row and writes nothing: no row lock, no WAL, and the statement stays a read. One round trip.
_VALIDATE = LICENSE_AND_ACTIVATION.add_cte(
    update(LICENSES)
    .where(
        BY_KEY_HASH,
        or_(LICENSES.c.last_validated_at.is_(None), LICENSES.c.last_validated_at < _STALE),
        LICENSES.c.product_id == func.coalesce(_PRODUCT, LICENSES.c.product_id),
    )
    .values(last_validated_at=_AT)
    .returning(LICENSES.c.id)
    .cte("touched")
)


def validate_license(
    key: object, fingerprint: str | None = None, product_id: int | None = None, connection: Connection | None = None
) -> Validation:
    """Check a key (and, with a fingerprint, that this machine is activated). Never activates.

    Returns a Validation whose code is one of CODES. One statement on PostgreSQL (the read
    and the once-a-minute touch), the read then the touch when due on SQLite; on `connection`
    (the view's: autocommit, one statement needs no transaction), else the session's.
    """
    key_hash = hash_key(key)
    if key_hash is None:
        return Validation("NOT_FOUND")
    connection = connection or db.session.connection()
    at = now()
    if connection.dialect.name == "postgresql":
        params = {
            "lookup_hash": key_hash,
            "machine": fingerprint or "",
            "at": at,
            "stale": at - VALIDATION_TOUCH_INTERVAL,
            "product": product_id,
        }
        license, activation = split_row(connection.execute(_VALIDATE, params).first())
        touched = True
    else:
        license, activation = read_license_and_activation(key_hash, fingerprint, connection)
        touched = False
    if license is None:
        return Validation("NOT_FOUND")
    if product_id is not None and product_id != license.product_id:
        return Validation("PRODUCT_MISMATCH")
    if not touched:
        _touch(license, at, connection)
    code = refusal_code(license, at)
    if code:
        return Validation(code, license)
    if fingerprint is None:
        return Validation("VALID", license)
    return Validation("VALID" if activation else "NO_ACTIVATION", license, activation)


def _usable(license: License | None) -> License:
    """`license` if it works now; LicenseApiError 404 NOT_FOUND, or 403 with the code saying
    why not."""
    if license is None:
        raise LicenseApiError(404, "NOT_FOUND")
    code = refusal_code(license, now())
    if code:
        raise LicenseApiError(403, code)
    return license


# ---- activation: one statement on PostgreSQL ------------------------------------------------

_FINGERPRINT = bindparam("machine", type_=ACTIVATIONS.c.fingerprint.type)
_NAME = bindparam("machine_name", type_=ACTIVATIONS.c.name.type)

# The key with hash :lookup_hash may take a seat for machine :machine: it works at :at, has a
# seat free and is not yet active on the machine.
_SEAT_FREE_WHERE = (
    BY_KEY_HASH,
    LICENSES.c.status == "active",
    or_(LICENSES.c.expires_at.is_(None), LICENSES.c.expires_at > _AT),
    or_(LICENSES.c.access_ends_at.is_(None), LICENSES.c.access_ends_at > _AT),
    LICENSES.c.activation_count < LICENSES.c.max_activations,
    ~exists().where(ACTIVATIONS.c.license_id == LICENSES.c.id, ACTIVATIONS.c.fingerprint == _FINGERPRINT),
)

# SQLite: take a seat, the key's count up by one if it may (transactions are serial there).
_TAKE_SEAT = (
    update(LICENSES)
    .where(*_SEAT_FREE_WHERE)
    .values(activation_count=LICENSES.c.activation_count + 1, updated_at=_AT)
    .returning(*LICENSE_COLUMNS)
)
_NEW_ACTIVATION = tuple(ACTIVATIONS.c[column.name.removeprefix("activation_")] for column in ACTIVATION_COLUMNS)


# PostgreSQL: the key if it may take a seat, its row locked (`FOR UPDATE`). A concurrent
# request holding the lock makes this one wait, and PostgreSQL then checks the WHERE again
# against the committed row, so two requests never take the last seat twice.
_SEAT_FREE = select(LICENSES.c.id, LICENSES.c.company_id).where(*_SEAT_FREE_WHERE).with_for_update(of=LICENSES)


def _activate_in_one_statement() -> Select[Any]:
    """PostgreSQL: the key with a seat free locked, the machine's row inserted (ON CONFLICT
    DO NOTHING: a concurrent request for the same machine may have inserted it first), the
    key's count raised for the row inserted (so a conflict takes no seat) and, for the answers
    that take no seat, the key and the machine as they were when the statement began: all in
    ONE statement, a transaction of its own. Columns: the key, its activation, the seat (the
    key afterwards), the new row.

    The INSERT is text: SQLAlchemy does not cache the compiled form of its PostgreSQL
    `insert()`, and compiling this statement anew would cost more than the round trip saved."""
    free = _SEAT_FREE.cte("free")
    added = (
        text(
            "INSERT INTO license_activations (company_id, license_id, fingerprint, name, created_at) "
            "SELECT company_id, id, :machine, :machine_name, :at FROM free "
            "ON CONFLICT (license_id, fingerprint) DO NOTHING "
            "RETURNING id, fingerprint, name, created_at, license_id"
        )
        .bindparams(_FINGERPRINT, _NAME, _AT)
        .columns(*_NEW_ACTIVATION, ACTIVATIONS.c.license_id)
        .cte("added")
    )
    seat = (
        update(LICENSES)
        .where(LICENSES.c.id == added.c.license_id)
        .values(activation_count=LICENSES.c.activation_count + 1, updated_at=_AT)
        .returning(*LICENSE_COLUMNS)
        .cte("seat")
    )
    new_row = [added.c[column.name] for column in _NEW_ACTIVATION]
    return (
        select(*LICENSE_COLUMNS, *ACTIVATION_COLUMNS, *seat.c, *new_row)
        .add_cte(free)
        .select_from(WITH_ACTIVATION.outerjoin(seat, true()).outerjoin(added, true()))
        .where(BY_KEY_HASH)
    )


_ACTIVATE = _activate_in_one_statement()
_SEAT_AT, _ADDED_AT = len(LICENSE_COLUMNS) + len(ACTIVATION_COLUMNS), 2 * len(LICENSE_COLUMNS) + len(ACTIVATION_COLUMNS)


def activate_license(
    key: object, fingerprint: str, name: str | None = None, connection: Connection | None = None
) -> tuple[License | LicenseRow, LicenseActivation | ActivationRow, bool]:
    """Activate the machine `fingerprint` on a usable key, race-free.

    Returns (license, activation, created). Raises LicenseApiError: 404 NOT_FOUND, 403
    SUSPENDED/REVOKED/EXPIRED, 409 TOO_MANY_ACTIVATIONS. One statement on PostgreSQL, on
    `connection` when given (the view's, in autocommit: the statement is its own transaction),
    else the session's. SQLite (transactions serial) runs a conditional UPDATE that takes the
    seat, then the INSERT, in the session's transaction. When a concurrent request changed
    the key in between, the locked path below decides instead, in the session's transaction.
    """
    key_hash = hash_key(key)
    if key_hash is None:
        raise LicenseApiError(404, "NOT_FOUND")
    at = now()
    params = {"lookup_hash": key_hash, "machine": fingerprint, "machine_name": name, "at": at}
    if connection is None or connection.dialect.name != "postgresql":
        connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        row = connection.execute(_ACTIVATE, params).first()
        if row is None:
            raise LicenseApiError(404, "NOT_FOUND")
        if row[_SEAT_AT] is None:
            # No seat taken: refused, already active, full, or a concurrent request changed
            # the key or inserted the machine first (the locked path decides).
            return _without_seat(
                license_row(row), activation_row(row, len(LICENSE_COLUMNS)), at, key, fingerprint, name
            )
        seat, added = LicenseRow(*row[_SEAT_AT:_ADDED_AT]), ActivationRow(*row[_ADDED_AT:])
        _expire_loaded(seat.id)
        return seat, added, True
    taken = connection.execute(_TAKE_SEAT, params).first()
    if taken is None:
        license, activation = read_license_and_activation(key_hash, fingerprint)
        if license is None:
            raise LicenseApiError(404, "NOT_FOUND")
        return _without_seat(license, activation, at, key, fingerprint, name)
    _expire_loaded(taken.id)
    new = connection.execute(
        insert(ACTIVATIONS)
        .values(company_id=taken.company_id, license_id=taken.id, fingerprint=fingerprint, name=name, created_at=at)
        .returning(*_NEW_ACTIVATION)
    ).one()
    return LicenseRow(*taken), ActivationRow(*new), True


def _without_seat(
    license: LicenseRow, activation: ActivationRow | None, at: datetime, key: object, fingerprint: str, name: str | None
) -> tuple[License | LicenseRow, LicenseActivation | ActivationRow, bool]:
    """The answer when no seat was taken, from the key and machine as the statement read them:
    a refusal of the key, the machine already active, or no seat free. When they show a seat
    that was free then, a concurrent request took it: the locked path decides."""
    code = refusal_code(license, at)
    if code:
        raise LicenseApiError(403, code)
    if activation is not None:
        return license, activation, False
    if license.activation_count >= license.max_activations:
        raise LicenseApiError(409, "TOO_MANY_ACTIVATIONS")
    return _activate_locked(key, fingerprint, name)


def _expire_loaded(license_id: int) -> None:
    """Forget what an ORM License already loaded in this session says about its machines (the
    seat was taken by a Core statement)."""
    loaded = db.session.identity_map.get(identity_key(License, license_id))
    if loaded is not None:
        db.session.expire(loaded, ["activation_count", "updated_at", "activations"])


def _activate_locked(key: object, fingerprint: str, name: str | None) -> tuple[License, LicenseActivation, bool]:
    """The activation decided on the key's row read and locked with the machine's activation
    (`SELECT … FOR UPDATE`): the path taken after a concurrent request changed the key."""
    found, activation = find_license_and_activation(key, fingerprint, lock=True)
    license = _usable(found)
    if activation is not None:
        return license, activation, False
    if license.activation_count >= license.max_activations:
        raise LicenseApiError(409, "TOO_MANY_ACTIVATIONS")
    activation = LicenseActivation(
        company_id=license.company_id, license_id=license.id, fingerprint=fingerprint, name=name
    )
    db.session.add(activation)
    license.activation_count += 1
    db.session.flush()
    return license, activation, True


def deactivate_license(key: object, fingerprint: str) -> License:
    """Free the machine `fingerprint`'s seat. Raises LicenseApiError 404 for an unknown key or
    a machine that is not activated. Works on any key state (uninstalling is always allowed)."""
    license, activation = find_license_and_activation(key, fingerprint, lock=True)
    if license is None or activation is None:
        raise LicenseApiError(404, "NOT_FOUND", "No activation of that key on that machine.")
    remove_activation(license, activation)
    return license


def checkout_license_file(key: object, fingerprint: str, ttl_seconds: int | None = None) -> dict[str, str]:
    """A signed license file for offline use by an activated machine.

    The file is {"format", "alg", "data", "signature"}: `data` is base64 of a JSON document
    (license, activation, issued_at, expires_at) and `signature` is Ed25519 over those bytes.
    It expires after `ttl_seconds` (default 30 days, 1 hour to 90 days) or when the key does,
    whichever is first. Raises LicenseApiError like activation, and 403 NO_ACTIVATION.
    """
    ttl = FILE_TTL_DEFAULT if ttl_seconds is None else timedelta(seconds=ttl_seconds)
    found, activation = find_license_and_activation(key, fingerprint)
    license = _usable(found)
    if activation is None:
        raise LicenseApiError(403, "NO_ACTIVATION")
    issued = now()
    expires = issued + ttl
    if license.effective_expires_at is not None:
        expires = min(expires, license.effective_expires_at)
    document = canonical_json(
        {
            "license": license_json(license, issued),
            "activation": activation_json(activation),
            "fingerprint": fingerprint,
            "issued_at": iso(issued),
            "expires_at": iso(expires),
        }
    )
    return {
        "format": LICENSE_FILE_FORMAT,
        "alg": "ed25519",
        "data": base64.b64encode(document).decode(),
        "signature": signature_of(document),
    }
