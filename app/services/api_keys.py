"""API keys of the public REST API: create (shown once), authenticate, revoke, roll.

A key is `tp_sk_<mode>_` followed by 40 random base-62 characters (~238 bits). Only the
sha256 of the whole key is stored; a request's key is found by looking its hash up (the
unique index does the comparison, so no secret is compared in Python). Every change is in the
audit log; secrets never are.
"""

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.inputs import has_unstorable_characters
from app.models import Company, User
from app.models.api_key import API_KEY_MODES, API_SCOPES, ApiKey
from app.services.api_cache import KeyGrant
from app.services.audit import record_audit_event

SECRET_LENGTH = 40
_ALPHABET = string.ascii_letters + string.digits
KEY_PATTERN = re.compile(rf"tp_sk_(live|test)_[A-Za-z0-9]{{{SECRET_LENGTH}}}")
MAX_NAME_LENGTH = 80
MAX_EXPIRY_DAYS = 3650
MAX_OVERLAP_HOURS = 168
# last_used_at is written at most this often per key: a busy key costs one UPDATE a minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyInvalid(ServiceError):
    """Input for a key that cannot be used (name, scopes, expiry, mode): 422 naming the field."""

    def __init__(self, field: str, message: str):
        super().__init__(422, "invalid_api_key_input", message, field=field)


class ApiKeyRefused(ServiceError):
    """A request whose key does not authenticate: 401 (or 403 for a missing scope)."""

    def __init__(self, code: str, message: str, status: int = 401):
        super().__init__(status, code, message)


def hash_api_key(plaintext: str) -> str:
    """The stored form of a key: sha256 hex of the whole key."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def clean_name(name: object) -> str:
    """The key's name, stripped: 1 to 80 printable characters."""
    if not isinstance(name, str) or not name.strip():
        raise ApiKeyInvalid("name", "Give the key a name.")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ApiKeyInvalid("name", f"The name must be at most {MAX_NAME_LENGTH} characters.")
    if has_unstorable_characters(name) or any(ord(char) < 32 for char in name):
        raise ApiKeyInvalid("name", "The name must not contain control characters.")
    return name


def clean_scopes(scopes: Iterable[object]) -> list[str]:
    """The scopes asked for, deduplicated in catalogue order; at least one, each known."""
    asked = list(scopes)
    unknown = [scope for scope in asked if scope not in API_SCOPES]
    if unknown:
        raise ApiKeyInvalid("scopes", f"Unknown scope {str(unknown[0])[:40]!r}; choose from {', '.join(API_SCOPES)}.")
    chosen = [scope for scope in API_SCOPES if scope in asked]
    if not chosen:
        raise ApiKeyInvalid("scopes", "Choose at least one scope.")
    return chosen


def expiry_in_days(days: int | None, at: datetime | None = None) -> datetime | None:
    """The expiry `days` from now (None: never); 1 to 3650 days."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ApiKeyInvalid("expires_days", f"Expiry must be 1 to {MAX_EXPIRY_DAYS} days, or never.")
    return (at or now()) + timedelta(days=days)


def _new_plaintext(mode: str) -> str:
    return f"tp_sk_{mode}_" + "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))


def derived_key(secret: str, label: str, mode: str = "test") -> str:
    """A key derived from `secret` (HMAC-SHA256 of `label`): the same on every run, so the
    demo seed can print its key again. Never used for keys people create."""
    digest = int.from_bytes(hmac.new(secret.encode(), label.encode(), hashlib.sha256).digest() * 2, "big")
    characters = []
    for _ in range(SECRET_LENGTH):
        digest, index = divmod(digest, len(_ALPHABET))
        characters.append(_ALPHABET[index])
    return f"tp_sk_{mode}_" + "".join(characters)


def create_key(
    company: Company,
    *,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    mode: str = "live",
    app_installation_id: int | None = None,
    actor: User | None = None,
    rolled_from: ApiKey | None = None,
    plaintext: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key of `company` and its plaintext, which exists only in this return value
    (`plaintext` given: that key, e.g. the demo key `derived_key` makes; default random).

    Flushed, audited (`api_key.created`), not committed."""
    if mode not in API_KEY_MODES:
        raise ApiKeyInvalid("mode", "Mode must be live or test.")
    if expires_at is not None and expires_at <= now():
        raise ApiKeyInvalid("expires_at", "The expiry must be in the future.")
    plaintext = plaintext or _new_plaintext(mode)
    if not KEY_PATTERN.fullmatch(plaintext) or not plaintext.startswith(f"tp_sk_{mode}_"):
        raise ApiKeyInvalid("key", "Not a key of this mode.")
    key = ApiKey(
        company_id=company.id,
        name=clean_name(name),
        mode=mode,
        key_hash=hash_api_key(plaintext),
        key_hint=plaintext[-4:],
        scopes=" ".join(clean_scopes(scopes)),
        expires_at=expires_at,
        created_by_id=getattr(actor, "id", None),
        rolled_from_id=rolled_from.id if rolled_from is not None else None,
        app_installation_id=app_installation_id,
    )
    db.session.add(key)
    db.session.flush()
    details = {"name": key.name, "mode": mode, "scopes": key.scope_list, "hint": key.key_hint}
    record_audit_event("api_key.created", actor=actor, company=company, subject=key, **details)
    return key, plaintext


def revoke_key(key: ApiKey, actor: User | None = None) -> ApiKey:
    """Revoke `key` for good: every later request with it is refused (401). Audited."""
    if key.revoked_at is not None:
        raise ServiceError(409, "already_revoked", "This key is already revoked.")
    key.revoked_at = now()
    record_audit_event("api_key.revoked", actor=actor, company=_company(key), subject=key, hint=key.key_hint)
    return key


def roll_key(key: ApiKey, *, overlap_hours: int, actor: User | None = None) -> tuple[ApiKey, str]:
    """Replace `key` with a new one of the same name, scopes and mode; the old one keeps
    working for `overlap_hours` (0 to 168) so clients can switch. Audited."""
    if not key.is_usable():
        raise ServiceError(409, "key_not_active", "Only active keys can be rolled.")
    if isinstance(overlap_hours, bool) or not isinstance(overlap_hours, int):
        raise ApiKeyInvalid("overlap_hours", "The overlap must be a whole number of hours.")
    if not 0 <= overlap_hours <= MAX_OVERLAP_HOURS:
        raise ApiKeyInvalid("overlap_hours", f"The overlap must be 0 to {MAX_OVERLAP_HOURS} hours.")
    company = _company(key)
    kept = {name: getattr(key, name) for name in ("name", "expires_at", "mode", "app_installation_id")}
    new_key, plaintext = create_key(company, scopes=key.scope_list, actor=actor, rolled_from=key, **kept)
    ends = now() + timedelta(hours=overlap_hours)
    key.expires_at = ends if key.expires_at is None else min(key.expires_at, ends)
    if overlap_hours == 0:
        key.revoked_at = now()
    record_audit_event(
        "api_key.rolled", actor=actor, company=company, subject=key, new_key_id=new_key.id, overlap_hours=overlap_hours
    )
    return new_key, plaintext


def _company(key: ApiKey) -> Company:
    return db.session.get_one(Company, key.company_id)


def authenticate(plaintext: str | None) -> ApiKey:
    """The usable key whose plaintext is `plaintext`, else ApiKeyRefused (401): missing,
    malformed, unknown, revoked or expired."""
    if not plaintext:
        raise ApiKeyRefused("missing_api_key", "Send your API key as 'Authorization: Bearer tp_sk_…'.")
    if not KEY_PATTERN.fullmatch(plaintext):
        raise ApiKeyRefused("malformed_api_key", "That is not a Tradepost API key (tp_sk_live_… or tp_sk_test_…).")
    key = db.session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_api_key(plaintext)).execution_options(skip_tenant_scope=True)
    )
    if key is None:
        raise ApiKeyRefused("invalid_api_key", "This API key is not valid.")
    if key.revoked_at is not None:
        raise ApiKeyRefused("revoked_api_key", "This API key was revoked.")
    if key.is_expired():
        raise ApiKeyRefused("expired_api_key", "This API key has expired.")
    return key


def require_scope(key: ApiKey | KeyGrant, scope: str) -> None:
    """ApiKeyRefused (403 missing_scope) unless `key` holds `scope`."""
    if scope not in key.scope_list:
        raise ApiKeyRefused("missing_scope", f"This API key lacks the {scope} scope.", status=403)


def touch_last_used(key: ApiKey | KeyGrant, at: datetime | None = None) -> bool:
    """Note that `key` was used, at most once a minute (one conditional UPDATE); True when written."""
    at = at or now()
    if key.last_used_at is not None and at - key.last_used_at < LAST_USED_RESOLUTION:
        return False
    db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id)
        .values(last_used_at=at)
        .execution_options(synchronize_session=False, skip_tenant_scope=True)
    )
    key.last_used_at = at
    return True


def list_keys(company: Company) -> list[ApiKey]:
    """The company's keys, newest first (revoked and expired ones too)."""
    return list(
        db.session.scalars(select(ApiKey).where(ApiKey.company_id == company.id).order_by(ApiKey.id.desc())).all()
    )


def find_key(company: Company, key_id: int) -> ApiKey | None:
    """The company's key `key_id`, or None (another company's key is None too)."""
    return db.session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.company_id == company.id))
