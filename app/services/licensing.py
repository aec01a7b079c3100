"""License keys: issuing them on purchase, the public validation API, signed answers, and the
seller's and buyer's management actions.

Keys look like `TP-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`: a seller-chosen prefix and 30
characters of Crockford base32 (`0-9A-Z` without I, L, O, U), 150 bits from `secrets`. Lookups
normalise what a person typed (case, dashes, spaces; O→0, I/L→1) and hash it with sha256; the
hash is unique in the database. The key itself is kept encrypted (app/crypto.py), so buyers and sellers can read it in their pages while a copy of the database alone
(a backup, a replica) reveals no usable key.

Hot path (validate, activate): one indexed SELECT of the license by hash, one of the activation
when a fingerprint is sent, and at most one small UPDATE or INSERT. Activation locks the
license row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite transactions are serial here), so
concurrent activations never pass the maximum; (license_id, fingerprint) is unique too.

Functions flush, never commit: the view or job owns the transaction.
"""
import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta, timezone

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import joinedload

from app.clock import now
from app.config import ConfigError
from app.crypto import DecryptionError, decrypt, encrypt
from app.extensions import db
from app.inputs import parse_whole_number
from app.models import AuditEvent, License, LicenseActivation, LicensePolicy, Membership, Product, User
from app.models.license import KEY_FORMATS, MAX_ACTIVATIONS_LIMIT, MAX_DURATION_DAYS
from app.services.audit import record_audit_event
from app.services.outbound import record_event

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KEY_CHARS = 30
GROUP = 5
_TYPO_FIXES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", "- _")

# A renewal webhook may land a little after the period ends: keys stay valid this long past it.
SUBSCRIPTION_GRACE = timedelta(days=1)
VALIDATION_TOUCH_INTERVAL = timedelta(seconds=60)
SELF_SERVICE_RESETS = 3
SELF_SERVICE_WINDOW = timedelta(days=30)
FILE_TTL_DEFAULT = timedelta(days=30)
FILE_TTL_MIN = timedelta(hours=1)
FILE_TTL_MAX = timedelta(days=90)
LICENSE_FILE_FORMAT = "tradepost-license-file/1"
SIGNING_KEY_FILE = "license_signing_key.pem"

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


class LicenseApiError(Exception):
    """A refusal of the public API: HTTP status, result code and a message for the developer."""

    def __init__(self, status, code, message=None):
        super().__init__(message or MESSAGES.get(code, code))
        self.status, self.code, self.message = status, code, message or MESSAGES.get(code, code)


class LicenseStateError(ValueError):
    """A seller or buyer action the license's current state does not allow (409)."""

    def __init__(self, message, status=409):
        super().__init__(message)
        self.message, self.status = message, status


class LicensePolicyError(ValueError):
    """Policy form input that cannot be saved; `errors` maps field name → message."""

    def __init__(self, errors):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


# ---- keys ---------------------------------------------------------------------------------

def generate_key(prefix="TP", key_format="grouped"):
    """A fresh key: prefix + 30 Crockford base32 characters (150 random bits)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(KEY_CHARS))
    if key_format == "compact":
        return f"{prefix}-{body}"
    return prefix + "".join(f"-{body[i:i + GROUP]}" for i in range(0, KEY_CHARS, GROUP))


def normalise_key(raw):
    """The canonical form of a typed key (or None when it cannot be one)."""
    if not isinstance(raw, str) or len(raw) > 128:
        return None
    text = raw.strip().upper().translate(_SEPARATORS).translate(_TYPO_FIXES)
    if not KEY_CHARS < len(text) <= KEY_CHARS + 6 or not text.isascii() or not text.isalnum():
        return None
    return text


def hash_key(raw):
    """sha256 hex of the normalised key; None for strings that cannot be keys."""
    normalised = normalise_key(raw)
    return hashlib.sha256(normalised.encode()).hexdigest() if normalised else None


def license_key(license):
    """The plain key of `license`, for its buyer's and seller's pages."""
    try:
        return decrypt(license.key_encrypted)
    except DecryptionError as exc:
        raise DecryptionError(f"license {license.id}: {exc}") from None


def masked_key(license):
    return f"••••-{license.key_hint}"


# ---- signing ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    public_pem: str
    public_raw_b64: str


_signing_keys = {}


def parse_signing_key(value):
    """The Ed25519 private key in `value` (PEM, or base64 of a 32-byte seed); ConfigError if not."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError("LICENSE_SIGNING_KEY must be an Ed25519 private key")
        return key
    try:
        seed = base64.b64decode(text, validate=True)
    except ValueError:
        raise ConfigError("LICENSE_SIGNING_KEY must be PEM or base64 of a 32-byte seed") from None
    if len(seed) != 32:
        raise ConfigError("LICENSE_SIGNING_KEY must be PEM or base64 of a 32-byte seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _instance_signing_key():
    """Development: one key generated on first use and kept under instance/ (never committed)."""
    path = os.path.join(current_app.instance_path, SIGNING_KEY_FILE)
    if not os.path.exists(path):
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
    with open(path, encoding="ascii") as handle:
        return parse_signing_key(handle.read())


def signing_key():
    """The process-wide Ed25519 key that signs API answers (loaded once per process)."""
    configured = current_app.config.get("LICENSE_SIGNING_KEY")
    env = current_app.config.get("ENV_NAME")
    source = configured or f"{env}:{current_app.instance_path}"
    cached = _signing_keys.get(source)
    if cached is not None:
        return cached
    if configured:
        private = parse_signing_key(configured)
    elif env == "development":
        private = _instance_signing_key()
    elif env == "test":
        private = Ed25519PrivateKey.generate()
    else:
        raise ConfigError("the license API needs LICENSE_SIGNING_KEY set in production")
    public = private.public_key()
    cached = _signing_keys[source] = SigningKey(
        private=private,
        public_pem=public.public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        public_raw_b64=base64.b64encode(public.public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)).decode(),
    )
    return cached


def sign_body(body):
    """The `Tradepost-Signature` header value for the exact response bytes `body`."""
    return "ed25519 " + base64.b64encode(signing_key().private.sign(body)).decode()


def canonical_json(payload):
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


# ---- serialisation ------------------------------------------------------------------------

def iso(moment):
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def license_json(license, at=None):
    return {"id": license.id, "product_id": license.product_id, "status": license.display_status(at),
            "key_hint": license.key_hint, "expires_at": iso(license.effective_expires_at),
            "max_activations": license.max_activations, "activations": license.activation_count}


def activation_json(activation):
    if activation is None:
        return None
    return {"id": activation.id, "fingerprint": activation.fingerprint, "name": activation.name,
            "created_at": iso(activation.created_at)}


# ---- issuing and keeping keys in step with memberships ------------------------------------

def policy_for(product_id):
    return db.session.scalar(select(LicensePolicy).where(LicensePolicy.product_id == product_id))


def _access_end(membership, license=None):
    """When a membership's key stops working because of the membership (None: never)."""
    if membership.grants_access:
        if membership.current_period_end is None:
            return None
        return membership.current_period_end + SUBSCRIPTION_GRACE
    moment = now()
    if license is not None and license.access_ends_at is not None and license.access_ends_at <= moment:
        return license.access_ends_at
    return min(membership.canceled_at or moment, moment)


def issue_license_for_membership(membership):
    """The membership's license key, issued once when its product has an enabled policy.

    Idempotent: a membership never gets a second key (unique membership_id). Returns the
    License, or None for products that issue no keys.
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
        company_id=membership.company_id, product_id=membership.product_id,
        membership_id=membership.id, buyer_id=membership.buyer_id, key_hash=hash_key(key),
        key_encrypted=encrypt(key), key_hint=key[-GROUP:],
        status="active", max_activations=policy.max_activations, activation_count=0,
        expires_at=issued + timedelta(days=policy.duration_days) if policy.duration_days else None,
        access_ends_at=_access_end(membership), created_at=issued,
    )
    db.session.add(license)
    db.session.flush()
    _announce_license(license, "license.activated")
    return license


def _announce_license(license, event_type):
    record_event(license.company_id, event_type, {
        "license_id": license.id, "product_id": license.product_id, "key_last4": license.key_hint[-4:],
        "status": license.status})


def sync_license_with_membership(membership):
    """Keep the key of `membership` in step with it: a subscription's key expires when the
    subscription ends (or its paid period runs out) and works again when it renews.

    Issues the key if the membership has none yet. Returns the License or None.
    """
    license = db.session.scalar(select(License).where(License.membership_id == membership.id))
    if license is None:
        return issue_license_for_membership(membership)
    license.access_ends_at = _access_end(membership, license)
    db.session.flush()
    return license


# ---- the public API -----------------------------------------------------------------------

@dataclass
class Validation:
    code: str
    license: License | None = None
    activation: LicenseActivation | None = None

    @property
    def valid(self):
        return self.code == "VALID"


def find_license(key, lock=False):
    """The license with `key` (row-locked when `lock`), or None."""
    key_hash = hash_key(key)
    if key_hash is None:
        return None
    query = select(License).where(License.key_hash == key_hash)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def _find_activation(license, fingerprint):
    return db.session.scalar(select(LicenseActivation).where(
        LicenseActivation.license_id == license.id, LicenseActivation.fingerprint == fingerprint))


def _state_code(license, at):
    if license.status == "revoked":
        return "REVOKED"
    if license.status == "suspended":
        return "SUSPENDED"
    if license.is_expired(at):
        return "EXPIRED"
    return None


def _touch(license, at):
    # At most one small UPDATE a minute per key, so sellers see "last checked"; the WHERE keeps
    # concurrent requests from writing it twice.
    seen = license.last_validated_at
    if seen is not None and seen >= at - VALIDATION_TOUCH_INTERVAL:
        return
    db.session.execute(
        update(License).where(License.id == license.id, or_(
            License.last_validated_at.is_(None),
            License.last_validated_at < at - VALIDATION_TOUCH_INTERVAL))
        .values(last_validated_at=at).execution_options(synchronize_session=False))


def validate_license(key, fingerprint=None, product_id=None):
    """Check a key (and, with a fingerprint, that this machine is activated). Never activates.

    Returns a Validation whose code is one of CODES.
    """
    key_hash = hash_key(key)
    if key_hash is None:
        return Validation("NOT_FOUND")
    # One round trip: the license and, when a fingerprint is sent, that machine's activation.
    query = select(License, LicenseActivation).where(License.key_hash == key_hash).outerjoin(
        LicenseActivation, and_(LicenseActivation.license_id == License.id,
                                LicenseActivation.fingerprint == (fingerprint or "")))
    row = db.session.execute(query).first()
    if row is None:
        return Validation("NOT_FOUND")
    license, activation = row
    if product_id is not None and product_id != license.product_id:
        return Validation("PRODUCT_MISMATCH")
    at = now()
    _touch(license, at)
    code = _state_code(license, at)
    if code:
        return Validation(code, license)
    if fingerprint is None:
        return Validation("VALID", license)
    return Validation("VALID" if activation else "NO_ACTIVATION", license, activation)


def _usable_license(key, lock=True):
    license = find_license(key, lock=lock)
    if license is None:
        raise LicenseApiError(404, "NOT_FOUND")
    code = _state_code(license, now())
    if code:
        raise LicenseApiError(403, code)
    return license


def activate_license(key, fingerprint, name=None):
    """Activate the machine `fingerprint` on a usable key, race-free.

    Returns (license, activation, created). Raises LicenseApiError: 404 NOT_FOUND, 403
    SUSPENDED/REVOKED/EXPIRED, 409 TOO_MANY_ACTIVATIONS. The license row stays locked until the
    caller's transaction ends, so concurrent activations are counted one after another.
    """
    license = _usable_license(key)
    activation = _find_activation(license, fingerprint)
    if activation is not None:
        return license, activation, False
    if license.activation_count >= license.max_activations:
        raise LicenseApiError(409, "TOO_MANY_ACTIVATIONS")
    activation = LicenseActivation(company_id=license.company_id, license_id=license.id,
                                   fingerprint=fingerprint, name=name)
    db.session.add(activation)
    license.activation_count += 1
    db.session.flush()
    return license, activation, True


def deactivate_license(key, fingerprint):
    """Free the machine `fingerprint`'s seat. Raises LicenseApiError 404 for an unknown key or
    a machine that is not activated. Works on any key state (uninstalling is always allowed)."""
    license = find_license(key, lock=True)
    activation = _find_activation(license, fingerprint) if license is not None else None
    if activation is None:
        raise LicenseApiError(404, "NOT_FOUND", "No activation of that key on that machine.")
    _remove_activation(license, activation)
    return license


def _remove_activation(license, activation):
    db.session.delete(activation)
    license.activation_count = max(license.activation_count - 1, 0)
    db.session.flush()


@dataclass
class WhopValidation:
    license: License
    membership: Membership | None
    hardware_id: str | None
    valid: bool


def validate_whop_license(key, hardware_id):
    """The Whop-compatible check: binds the first hardware id to the key and refuses another
    (LicenseApiError 403 HARDWARE_MISMATCH). A key that is not usable binds nothing."""
    license = find_license(key, lock=True)
    if license is None:
        raise LicenseApiError(404, "NOT_FOUND")
    valid = _state_code(license, now()) is None
    bound = db.session.scalars(select(LicenseActivation.fingerprint)
                               .where(LicenseActivation.license_id == license.id)).all()
    if bound and hardware_id not in bound:
        raise LicenseApiError(403, "HARDWARE_MISMATCH")
    if not bound and valid:
        db.session.add(LicenseActivation(company_id=license.company_id, license_id=license.id,
                                         fingerprint=hardware_id, name="Whop hardware id"))
        license.activation_count += 1
        db.session.flush()
        bound = [hardware_id]
    membership = db.session.get(Membership, license.membership_id) if license.membership_id else None
    return WhopValidation(license, membership, hardware_id if bound else None, valid)


def whop_membership_json(result):
    """The membership object of Whop's validate_license answer, filled from our records."""
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
    return {
        "id": f"mem_{license.membership_id}" if license.membership_id else f"lic_{license.id}",
        "product": f"prod_{license.product_id}", "user": f"user_{license.buyer_id}",
        "plan": None, "promo_code": None, "status": status, "valid": result.valid,
        "cancel_at_period_end": False, "payment_processor": "stripe",
        "stripe_subscription_id": membership.stripe_subscription_id if membership else None,
        "license_key": license_key(license), "metadata": {"hardware_id": result.hardware_id},
        "quantity": 1, "expires_at": int(ends.timestamp()) if ends else None,
        "renewal_period_start": None,
        "renewal_period_end": int(period_end.timestamp()) if period_end else None,
        "created_at": int(license.created_at.timestamp()), "manage_url": f"{base}/account/licenses",
    }


def checkout_license_file(key, fingerprint, ttl_seconds=None):
    """A signed license file for offline use by an activated machine.

    The file is {"format", "alg", "data", "signature"}: `data` is base64 of a JSON document
    (license, activation, issued_at, expires_at) and `signature` is Ed25519 over those bytes.
    It expires after `ttl_seconds` (default 30 days, 1 hour to 90 days) or when the key does,
    whichever is first. Raises LicenseApiError like activation, and 403 NO_ACTIVATION.
    """
    ttl = FILE_TTL_DEFAULT if ttl_seconds is None else timedelta(seconds=ttl_seconds)
    license = _usable_license(key, lock=False)
    activation = _find_activation(license, fingerprint)
    if activation is None:
        raise LicenseApiError(403, "NO_ACTIVATION")
    issued = now()
    expires = issued + ttl
    if license.effective_expires_at is not None:
        expires = min(expires, license.effective_expires_at)
    document = canonical_json({"license": license_json(license, issued), "activation": activation_json(activation),
                               "fingerprint": fingerprint, "issued_at": iso(issued), "expires_at": iso(expires)})
    return {"format": LICENSE_FILE_FORMAT, "alg": "ed25519",
            "data": base64.b64encode(document).decode(),
            "signature": base64.b64encode(signing_key().private.sign(document)).decode()}


# ---- seller: policies ---------------------------------------------------------------------

def validate_policy_form(form):
    """Cleaned policy fields, or LicensePolicyError with one message per bad field."""
    errors, data = {}, {"enabled": form.get("enabled") in ("on", "1", "true", "y")}
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


def save_license_policy(product, form, actor):
    """Create or update `product`'s policy; nothing is written on error.

    A new maximum applies to the product's existing keys too; enabling a policy issues keys to
    buyers who already hold the product. Audited as license.policy_saved.
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
        update(License).where(License.company_id == product.company_id, License.product_id == product.id)
        .values(max_activations=policy.max_activations).execution_options(synchronize_session=False))
    issued = 0
    if policy.enabled:
        holders = db.session.scalars(select(Membership).where(
            Membership.product_id == product.id, Membership.status.in_(("trialing", "active", "past_due")),
            ~select(License.id).where(License.membership_id == Membership.id).exists())).all()
        for membership in holders:
            issue_license_for_membership(membership)
        issued = len(holders)
    record_audit_event("license.policy_saved", actor=actor, company=product.company, subject=product,
                       issued=issued, **{k: v for k, v in data.items()})
    return policy, issued


# ---- seller: keys -------------------------------------------------------------------------

LIST_STATUSES = ("active", "expired", "suspended", "revoked")
PAGE_SIZE = 50


def list_licenses(product_id=None, status=None, q=None, limit=PAGE_SIZE):
    """The current tenant's keys, newest first, filtered by product, status and a search for a
    buyer email, a full key or its last five characters."""
    at = now()
    query = (select(License).options(joinedload(License.product), joinedload(License.buyer))
             .order_by(License.created_at.desc(), License.id.desc()).limit(limit))
    if product_id:
        query = query.where(License.product_id == product_id)
    if status == "expired":
        query = query.where(License.status == "active",
                            or_(License.expires_at <= at, License.access_ends_at <= at))
    elif status == "active":
        query = query.where(License.status == "active",
                            or_(License.expires_at.is_(None), License.expires_at > at),
                            or_(License.access_ends_at.is_(None), License.access_ends_at > at))
    elif status in LIST_STATUSES:
        query = query.where(License.status == status)
    q = (q or "").strip()
    if q:
        key_hash = hash_key(q)
        if key_hash:
            query = query.where(License.key_hash == key_hash)
        else:
            hint = q.upper().translate(_SEPARATORS).translate(_TYPO_FIXES)[-GROUP:]
            query = query.join(User, User.id == License.buyer_id).where(
                or_(User.email.ilike(f"%{q}%"), License.key_hint == hint))
    return db.session.scalars(query).unique().all()


def _audit(action, license, actor, **data):
    record_audit_event(action, actor=actor, company=license.product.company, subject=license,
                       key_hint=license.key_hint, **data)


def _lock(license):
    return db.session.scalars(select(License).where(License.id == license.id).with_for_update()
                              .execution_options(populate_existing=True)).one()


def suspend_license(license, actor):
    """active → suspended: validation answers SUSPENDED until reinstated. Audited."""
    license = _lock(license)
    if license.status != "active":
        raise LicenseStateError(f"Only active keys can be suspended; this one is {license.status}.")
    license.status = "suspended"
    _audit("license.suspended", license, actor)
    return license


def reinstate_license(license, actor):
    """suspended → active. Revoked keys stay revoked. Audited."""
    license = _lock(license)
    if license.status != "suspended":
        raise LicenseStateError(f"Only suspended keys can be reinstated; this one is {license.status}.")
    license.status = "active"
    _audit("license.reinstated", license, actor)
    return license


def revoke_license(license, actor):
    """Revoke for good (final). Audited."""
    license = _lock(license)
    if license.status == "revoked":
        raise LicenseStateError("This key is already revoked.")
    license.status = "revoked"
    _audit("license.revoked", license, actor)
    _announce_license(license, "license.deactivated")
    return license


def reset_license_activations(license, actor):
    """Remove every machine from the key and count the reset. Audited."""
    license = _lock(license)
    removed = license.activation_count
    db.session.execute(delete(LicenseActivation).where(LicenseActivation.license_id == license.id)
                       .execution_options(synchronize_session=False))
    db.session.expire(license, ["activations"])
    license.activation_count = 0
    license.reset_count += 1
    _audit("license.activations_reset", license, actor, removed=removed, reset_count=license.reset_count)
    return license


def extend_license(license, days, actor):
    """Push the key's own expiry `days` later (from now if it already passed). Audited."""
    license = _lock(license)
    if not 1 <= days <= MAX_DURATION_DAYS:
        raise LicenseStateError(f"Extend by 1 to {MAX_DURATION_DAYS} days.", status=422)
    if license.expires_at is None:
        raise LicenseStateError("This key has no expiry of its own to extend.")
    previous = license.expires_at
    license.expires_at = max(previous, now()) + timedelta(days=days)
    _audit("license.extended", license, actor, days=days, previous=iso(previous), expires_at=iso(license.expires_at))
    return license


# ---- buyer --------------------------------------------------------------------------------

def buyer_licenses(user):
    """The user's keys with their products and machines (three queries, whatever the count)."""
    return db.session.scalars(
        select(License).where(License.buyer_id == user.id)
        .options(joinedload(License.product).joinedload(Product.company),
                 joinedload(License.activations))
        .order_by(License.created_at.desc())).unique().all()


def self_service_resets_used(license, at=None):
    since = (at or now()) - SELF_SERVICE_WINDOW
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "license.self_deactivated", AuditEvent.subject_type == "license",
        AuditEvent.subject_id == str(license.id), AuditEvent.created_at >= since))


def deactivate_own_activation(user, activation_id):
    """The buyer frees one of their machines: at most SELF_SERVICE_RESETS per key in
    SELF_SERVICE_WINDOW (LicenseStateError 429 past that). 404 (LookupError) for machines of
    other people's keys. Audited."""
    activation = db.session.get(LicenseActivation, activation_id)
    if activation is None or activation.license.buyer_id != user.id:
        raise LookupError("no such activation")
    license = _lock(activation.license)
    if self_service_resets_used(license) >= SELF_SERVICE_RESETS:
        raise LicenseStateError(f"You can free {SELF_SERVICE_RESETS} machines per key every 30 days; "
                                "ask the seller to reset the key.", status=429)
    fingerprint = activation.fingerprint
    _remove_activation(license, activation)
    record_audit_event("license.self_deactivated", actor=user, company=license.product.company,
                       subject=license, key_hint=license.key_hint, fingerprint=fingerprint)
    return license


# ---- demo data ----------------------------------------------------------------------------

DEMO_PRODUCT = ("devon-cli-pro", "Devon CLI Pro", "A command-line toolkit for deploys. Needs a license key.")


def seed_demo_licenses(seller_email="devon@tradepost.test",
                       buyer_emails=("bob@tradepost.test", "carol@tradepost.test", "dan@tradepost.test")):
    """Demo: a licensed product of the seller, owned by each buyer, each key active on one
    machine. Idempotent; returns [("license", KEY, buyer email)] for `flask seed-demo` to print."""
    seller = db.session.scalar(select(User).where(User.email == seller_email))
    if seller is None or seller.seller_company is None:
        return []
    company = seller.seller_company
    slug, title, description = DEMO_PRODUCT
    product = db.session.scalar(select(Product).where(Product.slug == slug))
    if product is None:
        product = Product(company_id=company.id, title=title, slug=slug, description_md=description,
                          description_html=f"<p>{description}</p>", price_cents=4900, billing="one_time")
        db.session.add(product)
        db.session.flush()
    if policy_for(product.id) is None:
        db.session.add(LicensePolicy(company_id=company.id, product_id=product.id, max_activations=3,
                                     key_prefix="DEV", key_format="grouped"))
        db.session.flush()
    lines = []
    for buyer in db.session.scalars(select(User).where(User.email.in_(buyer_emails)).order_by(User.id)):
        membership = db.session.scalar(select(Membership).where(Membership.product_id == product.id,
                                                                Membership.buyer_id == buyer.id))
        if membership is None:
            membership = Membership(company_id=company.id, product_id=product.id, buyer_id=buyer.id,
                                    status="active")
            db.session.add(membership)
            db.session.flush()
        license = issue_license_for_membership(membership)
        if license.activation_count == 0 and license.reset_count == 0:
            name = buyer.display_name.split()[0]
            db.session.add(LicenseActivation(company_id=company.id, license_id=license.id,
                                             fingerprint=f"{name.lower()}-laptop-{license.id:04d}",
                                             name=f"{name}'s laptop"))
            license.activation_count = 1
            db.session.flush()
        lines.append(("license", license_key(license), buyer.email))
    return lines
