"""What keeps a busy /api/v1 request off the database: the API key's row by hash, and whole
catalogue pages (products with their plans) by company and query, both in Redis.

Keys: the usable key's grant (id, company, scopes, expiry) is kept KEY_TTL seconds under the
sha256 of what was sent (the same digest the key's rate-limit bucket uses). Any change to a
key row (revoke, roll, delete) writes a tombstone over it after the commit, for KEY_TTL: while
it stands, requests read the row from the database and do not cache it again, so a request
that read the row just before the commit cannot put the old grant back. A revoked key is
refused by the very next request.

Catalogue pages: stored as "<version>\\n<body>" under the company, path, query and API
version, for PAGE_TTL seconds. The company's catalogue version moves (INCR) after every commit
that inserted, changed or deleted one of its products or plans (mapper events, so every
writer is covered), and a page read with the version it was computed under is served only
while that version is current: an edit shows on the next GET. A page computed from a snapshot
taken before an edit carries the version read before it, which the edit's bump makes stale.
A version starts at a random number (`fresh_version`), never at 0 or 1, so a Redis that lost
its keys does not count up again through versions a page was kept under.

Each process also keeps the pages it served (`kept_pages`, per API key and page, with the
company and version they were computed under): the gate's round trip then compares versions
in Redis and sends no page back while the kept one is current (gate.GATE_SCRIPT).

Redis unavailable: reads miss (the database answers), a failed bump is logged (pages then
live at most PAGE_TTL).
"""

import hashlib
import json
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from redis import Redis
from sqlalchemy import event
from sqlalchemy.orm import Mapper, Session, object_session

from app.local_cache import LocalCache
from app.models import Plan, Product
from app.models.api_key import ApiKey
from app.services.after_commit import forget_on_rollback, take_notes

log = logging.getLogger(__name__)

KEY_TTL = 60
PAGE_TTL = 300
PAGES_KEPT = 64  # per process: ~40 KB each for a page of 100 products
TOMBSTONE = b"-"
_CATALOGUE_CHANGED = "api_catalogue_changed_company_ids"
_KEYS_CHANGED = "api_key_hashes_changed"


@dataclass
class KeyGrant:
    """What a request needs of its API key: who it is, for which company, with which scopes."""

    id: int
    company_id: int
    scopes: tuple[str, ...]
    expires_at: datetime | None
    last_used_at: datetime | None = None

    @property
    def scope_list(self) -> list[str]:
        return list(self.scopes)

    def is_expired(self, at: datetime) -> bool:
        return self.expires_at is not None and at >= self.expires_at

    @classmethod
    def of(cls, key: ApiKey) -> "KeyGrant":
        return cls(key.id, key.company_id, tuple(key.scope_list), key.expires_at, key.last_used_at)

    def dumps(self) -> bytes:
        """ "<company id> <JSON>": the company first, for the gate's script to read."""
        expires = self.expires_at.timestamp() if self.expires_at is not None else None
        return f"{self.company_id} ".encode() + json.dumps([self.id, list(self.scopes), expires]).encode()

    @classmethod
    def loads(cls, raw: bytes) -> "KeyGrant":
        company_id, _, rest = raw.partition(b" ")
        key_id, scopes, expires = json.loads(rest)
        expires_at = None if expires is None else datetime.fromtimestamp(expires, UTC)
        return cls(key_id, int(company_id), tuple(scopes), expires_at)


def digest(token: str) -> str:
    """sha256 hex of the key as sent: its stored `key_hash`, and the name of its cache entry."""
    return hashlib.sha256(token.encode()).hexdigest()


def key_entry(key_hash: str) -> str:
    return f"tp-api:grant:{key_hash}"


def cached_grant(raw: bytes | None) -> KeyGrant | None:
    """The grant in a cache entry as read (None: missing, a tombstone, or unreadable); a fresh
    object each time (a request notes its last use on it), parsed once per entry text."""
    if raw is None or raw == TOMBSTONE:
        return None
    parsed = _parsed_grant(raw)
    return None if parsed is None else KeyGrant(*parsed)


@lru_cache(maxsize=1024)
def _parsed_grant(raw: bytes) -> tuple[int, int, tuple[str, ...], datetime | None] | None:
    try:
        grant = KeyGrant.loads(raw)
    except (ValueError, TypeError):
        return None
    return grant.id, grant.company_id, grant.scopes, grant.expires_at


def remember_grant(redis: Redis, key_hash: str, grant: KeyGrant) -> None:
    """Cache a usable key's grant unless a tombstone (a change just committed) stands there."""
    try:
        redis.set(key_entry(key_hash), grant.dumps(), ex=KEY_TTL, nx=True)
    except Exception as error:  # a cache outage costs a database read, never the request
        log.warning("API key cache not written: %s", error)


VERSION_PREFIX = "tp-api:catalogue:"
PAGE_PREFIX = "tp-api:page:"


def version_entry(company_id: int) -> str:
    return f"{VERSION_PREFIX}{company_id}"


@lru_cache(maxsize=1024)
def page_digest(material: bytes) -> bytes:
    """The name of a page within its company: a hash of its path, query and API version."""
    return hashlib.sha256(material).hexdigest()[:40].encode()


def page_entry(company_id: int, material: bytes) -> str:
    return f"{PAGE_PREFIX}{company_id}:{page_digest(material).decode()}"


def fresh_version() -> int:
    """Where a company's catalogue version starts when it has none (see the module docstring)."""
    return random.getrandbits(48)


def current_page(version: bytes | None, stored: bytes | None) -> tuple[bytes | None, bytes]:
    """(the stored body if it was computed under the current `version`, else None; the
    current version) from the two entries as read; (None, b"") when there is no version yet
    (nothing is stored until the gate has set one)."""
    if version is None:
        return None, b""
    if stored is not None:
        stored_version, _, body = stored.partition(b"\n")
        if stored_version == version:
            return body, version
    return None, version


def read_page(redis: Redis, company_id: int, material: bytes) -> tuple[bytes | None, bytes]:
    """current_page() of the company's page `material`, read in one round trip. Redis down:
    (None, b"") and nothing will be stored."""
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.get(version_entry(company_id))
        pipe.get(page_entry(company_id, material))
        version, stored = pipe.execute()
    except Exception as error:
        log.warning("API page cache unavailable: %s", error)
        return None, b""
    return current_page(version, stored)


@dataclass(frozen=True)
class KeptPage:
    """A catalogue page this process served, with the company and version it was computed
    under; `tag` is what the gate's script compares with the company's version now."""

    company_id: int
    version: bytes
    body: bytes
    tag: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", b"%d:%s" % (self.company_id, self.version))


kept_pages = LocalCache(PAGES_KEPT, PAGE_TTL)


def keep_page(key_hash: str, material: bytes, page: KeptPage) -> None:
    """Hold a page served to the key `key_hash` (its version known to be current just now)."""
    if page.version:
        kept_pages.put((key_hash, material), page)


def store_page(redis: Redis, key_hash: str, material: bytes, page: KeptPage) -> None:
    """Keep `page`, computed after reading its catalogue version, for PAGE_TTL seconds: in
    Redis for every process, and held by this one (nothing without a version)."""
    if not page.version:
        return
    keep_page(key_hash, material, page)
    try:
        redis.set(page_entry(page.company_id, material), page.version + b"\n" + page.body, ex=PAGE_TTL)
    except Exception as error:
        log.warning("API page cache not written: %s", error)


# --- invalidation, after the commit of whatever changed -----------------------------------------


def _note(target: Any, info_key: str, value: Any) -> None:
    session = object_session(target)
    if session is not None and value is not None:
        session.info.setdefault(info_key, set()).add(value)


def _catalogue_row_written(_mapper: Mapper, _connection: Any, target: Any) -> None:
    _note(target, _CATALOGUE_CHANGED, target.company_id)


def _key_row_written(_mapper: Mapper, _connection: Any, target: ApiKey) -> None:
    _note(target, _KEYS_CHANGED, target.key_hash)


for _model in (Product, Plan):
    for _name in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _name, _catalogue_row_written)
for _name in ("after_update", "after_delete"):
    event.listen(ApiKey, _name, _key_row_written)


def _redis() -> Redis | None:
    from flask import current_app, has_app_context

    return current_app.extensions.get("redis") if has_app_context() else None


@event.listens_for(Session, "after_commit")
def _invalidate_committed(session: Session) -> None:
    companies, hashes = take_notes(session, _CATALOGUE_CHANGED, _KEYS_CHANGED)
    if not companies and not hashes:
        return
    redis = _redis()
    if redis is None:
        return
    try:
        pipe = redis.pipeline(transaction=False)
        for company_id in companies or ():
            pipe.set(version_entry(company_id), fresh_version(), nx=True)
            pipe.incr(version_entry(company_id))
        for key_hash in hashes or ():
            pipe.set(key_entry(key_hash), TOMBSTONE, ex=KEY_TTL)
        pipe.execute()
    except Exception as error:  # Redis down: pages live at most PAGE_TTL, key grants KEY_TTL
        log.warning("API cache not invalidated: %s", error)


forget_on_rollback(_CATALOGUE_CHANGED, _KEYS_CHANGED)
