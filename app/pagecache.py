"""A short-lived Redis cache of whole pages for anonymous visitors (listing, search, gig pages),
and the parts of pages every visitor, signed in or not, sees alike (`kept`).

Only GET requests from visitors with an empty session are cached, so a cached page never
carries anyone's CSRF token, flash messages or name; signed-in users always get a fresh page.
Entries live `PAGE_CACHE_SECONDS` (0 turns the cache off) under a catalogue version that
`bump_catalog_version()` moves whenever what these pages show changes. A hit costs one Redis
GET: each process re-reads the version at most once a second.

Kept parts (`parts_version(*scopes)`, `kept(version, key, build)`): the parts of signed-in
pages are kept per process, for PAGE_PARTS_SECONDS at most, under version tokens in Redis that a
request reads in one MGET before anything it builds reads the database:

- the catalogue (every page): any gig or gig part, category, company, review, affiliate program
  (and its Legends class bonuses), or a user's display name — the listing, gig pages, the
  seller's gig table;
- `company_scope(id)`: the company's orders and ledger entries — the seller home's figures;
- `buyer_scope(id)`: the buyer's orders and memberships — /account's order list;
- `order_scope(id)`: the order and its parts (timeline, answers, files, deliveries, messages,
  dispute, review, payment, refunds) — the order page, kept per viewer.

A token moves as soon as a transaction writes such a row (ORM mapper events; an ORM bulk
UPDATE/DELETE moves every scope of its kind, as its rows are not known), once when it flushes
and again after it commits, so an entry built from a snapshot read before the commit is kept
under a token that is already gone. Tokens are random, never counters, so a Redis that lost
its keys never hands out one a process already kept something under. Redis unavailable:
nothing is kept (each request builds its parts), and a failed bump empties this process's
parts (other processes' entries age out within PAGE_PARTS_SECONDS).

What is kept is shared by everyone whose key matches: the catalogue's parts by every visitor
("signed in or not" at most), a company's by its members, a buyer's and an order page by
that one user. No CSRF token is ever kept: forms carry CSRF_SLOT, filled with the request's
own token when the page is rendered (KeptHtml); names, the bell and flash messages are in
base.html, rendered per request.
"""

import json
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, has_app_context, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, object_session

from app import models as m
from app import redis_calls
from app.extensions import limiter
from app.local_cache import LocalCache
from app.queue import get_redis
from app.services.after_commit import forget_on_rollback, take_notes

log = logging.getLogger(__name__)

VERSION_KEY = "pagecache:version"
VERSION_RECHECK_SECONDS = 1.0
KEPT_HEADERS = ("Vary", "HX-Push-Url", "Content-Type")
_version = {"value": b"0", "read_at": float("-inf")}


def _current_version(redis):
    moment = time.monotonic()
    if moment - _version["read_at"] >= VERSION_RECHECK_SECONDS:
        _version["value"] = redis.get(VERSION_KEY) or b"0"
        _version["read_at"] = moment
    return _version["value"].decode()


def _key(redis):
    variant = "|".join(request.headers.get(name, "") for name in ("HX-Request", "HX-Boosted", "HX-Target"))
    return f"pagecache:2:{_current_version(redis)}:{request.full_path}:{variant}"


def cached_for_anonymous(view):
    """Serve the view from Redis for anonymous visitors; store its 200 answers for a while.

    Cached views are exempt from rate limits (they have none, and the check costs a Redis
    round trip per request).
    """

    @wraps(view)
    def wrapped(*args, **kwargs):
        ttl = current_app.config.get("PAGE_CACHE_SECONDS", 0)
        if not ttl or current_user.is_authenticated or session:
            return view(*args, **kwargs)
        redis = get_redis()
        try:
            key = _key(redis)
            hit = redis.get(key)
        except Exception:  # a cache outage must not take the page down
            return view(*args, **kwargs)
        if hit is not None:
            headers, _, body = hit.partition(b"\n")
            return body, 200, json.loads(headers)
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200 and not session:
            headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
            try:
                redis.set(key, json.dumps(headers).encode() + b"\n" + response.get_data(), ex=ttl)
            except Exception:
                current_app.logger.warning("page cache unavailable", exc_info=True)
        return response

    return limiter.exempt(wrapped)


def bump_catalog_version():
    """Make every cached page stale (call when gigs, prices or ratings change).

    Other processes notice within VERSION_RECHECK_SECONDS; this one at once. Kept parts
    move at once, and again when the transaction commits.
    """
    note_catalogue_change(None)
    try:
        _version["value"] = str(get_redis().incr(VERSION_KEY)).encode()
        _version["read_at"] = time.monotonic()
    except Exception as error:  # Redis down (e.g. seeding before it starts): one line, no traceback
        current_app.logger.warning("page cache version not bumped: %s", error)


# --- kept parts: shared by signed-in pages, kept per process under version tokens ---------------

PARTS_PREFIX = "pagecache:parts:"
CATALOGUE = "catalogue"
SCOPE_KINDS = ("company", "buyer", "order")
_CHANGED = "pagecache_parts_changed"
# What the listing and gig pages show (the catalogue scope); the seller's affiliate program and
# its Legends class bonuses are the gig page's share box.
_CATALOGUE_MODELS = (
    m.Gig,
    m.GigPackage,
    m.GigExtra,
    m.GigImage,
    m.Category,
    m.Company,
    m.Review,
    m.AffiliateProgram,
    m.AffiliateProgramListing,
    m.LegendsClass,
    m.LegendsGame,
)
# Rows of one seller, one buyer or one order (the company:<id>, buyer:<id> and order:<id>
# scopes): a seller's figures, a buyer's orders and memberships, an order's page.
_ORDER_PARTS = (
    m.OrderEvent,
    m.OrderAnswer,
    m.OrderDelivery,
    m.OrderFile,
    m.OrderMessage,
    m.OrderDispute,
    m.Refund,
    m.Payment,
)
_SCOPED_MODELS = (m.Order, m.LedgerEntry, m.Membership, m.Review, *_ORDER_PARTS)
_CATALOGUE_TABLES = frozenset(model.__table__.name for model in (*_CATALOGUE_MODELS, m.User))
_SCOPED_TABLES = frozenset(model.__table__.name for model in _SCOPED_MODELS)
kept_parts = LocalCache(1024, 3600.0)  # ~20-40 KB a page; entries carry their age, checked against the setting
T = TypeVar("T")


CSRF_SLOT = "<!--csrf-token-->"


def csrf_slot() -> Markup:
    """Stands for `csrf_token()` while a kept part renders: KeptHtml fills in the viewer's own."""
    return Markup(CSRF_SLOT)


@dataclass(frozen=True)
class KeptHtml:
    """Kept HTML whose forms carry CSRF_SLOT for their token: rendered into a page (`{{ part }}`),
    each slot gets this request's own token."""

    html: str

    def __html__(self) -> str:
        return self.html.replace(CSRF_SLOT, generate_csrf()) if CSRF_SLOT in self.html else self.html


def company_scope(company_id: int) -> str:
    """The scope of one seller's own figures (their orders and balances)."""
    return f"company:{company_id}"


def buyer_scope(user_id: int) -> str:
    """The scope of one buyer's orders and memberships."""
    return f"buyer:{user_id}"


def order_scope(order_id: int) -> str:
    """The scope of one order and its parts (timeline, messages, files, deliveries, review,
    dispute, payment and refunds)."""
    return f"order:{order_id}"


def _every(kind: str) -> str:
    """The scope every `kind` scope also reads: moved by bulk writes whose rows are not known."""
    return f"{kind}:*"


def parts_version(*scopes: str) -> str | None:
    """The version of the catalogue's kept parts and of each of `scopes` (company_scope), read
    from Redis now in one round trip (a fresh random token where there is none). None: parts
    are off (PAGE_PARTS_SECONDS 0) or Redis is unavailable, and nothing may be kept. Read it
    before the database reads of what `kept` builds."""
    if not current_app.config.get("PAGE_PARTS_SECONDS"):
        return None
    everies = sorted({_every(scope.partition(":")[0]) for scope in scopes})
    keys = [PARTS_PREFIX + scope for scope in (CATALOGUE, *scopes, *everies)]
    redis = get_redis()
    try:
        tokens = redis_calls.tokens(redis, keys)
    except Exception as error:  # a cache outage costs building the parts, never the request
        log.warning("page parts unavailable: %s", error)
        return None
    return None if None in tokens else b"|".join(tokens).decode()


def kept(version: str | None, key: Hashable, build: Callable[[], T]) -> T:
    """What `build()` returns, kept in this process under `key` while `version` (from
    `parts_version()`, read before `build` reads anything) is the current one, for
    PAGE_PARTS_SECONDS at most. `version` None: built every time."""
    if version is None:
        return build()
    found = kept_parts.get(key)
    moment = time.monotonic()
    if found is not None and found[0] == version and moment - found[1] < current_app.config["PAGE_PARTS_SECONDS"]:
        return found[2]
    value = build()
    kept_parts.put(key, (version, moment, value))
    return value


def bump_parts_version(*scopes: str) -> None:
    """New versions of `scopes` (default: the catalogue): what was kept under them, in every
    process, is stale."""
    if not has_app_context():
        return
    redis = current_app.extensions.get("redis")
    if redis is None:
        return
    try:
        redis.mset({PARTS_PREFIX + scope: redis_calls.new_token() for scope in scopes or (CATALOGUE,)})
    except Exception as error:
        kept_parts.clear()
        log.warning("page parts versions not moved (other processes' parts age out): %s", error)


def _note(session: Session, scope: str) -> None:
    session.info.setdefault(_CHANGED, set()).add(scope)


def note_catalogue_change(session: Session | None) -> None:
    """Kept parts of the catalogue are stale: a new version now, another after the commit."""
    from app.extensions import db

    _note(session or db.session(), CATALOGUE)
    bump_parts_version(CATALOGUE)


def _catalogue_row_written(_mapper: Mapper, _connection: Any, target: Any) -> None:
    session = object_session(target)
    if session is not None:
        _note(session, CATALOGUE)


def _scopes_of(target: Any) -> list[str]:
    if isinstance(target, m.Order):
        return [company_scope(target.company_id), buyer_scope(target.buyer_id), order_scope(target.id)]
    if isinstance(target, m.Membership):
        return [buyer_scope(target.buyer_id)]
    if isinstance(target, m.LedgerEntry):
        return [company_scope(target.company_id)] if target.company_id is not None else []
    return [order_scope(target.order_id)] if target.order_id is not None else []


def _scoped_row_written(_mapper: Mapper, _connection: Any, target: Any) -> None:
    session = object_session(target)
    if session is not None:
        for scope in _scopes_of(target):
            _note(session, scope)


def _user_updated(mapper: Mapper, connection: Any, target: m.User) -> None:
    if inspect(target).attrs.display_name.history.has_changes():
        _catalogue_row_written(mapper, connection, target)


for _name in ("after_insert", "after_update", "after_delete"):
    for _model in _CATALOGUE_MODELS:
        sa_event.listen(_model, _name, _catalogue_row_written)
    for _model in _SCOPED_MODELS:
        sa_event.listen(_model, _name, _scoped_row_written)
sa_event.listen(m.User, "after_update", _user_updated)


@sa_event.listens_for(Session, "do_orm_execute")
def _bulk_write(state: ORMExecuteState) -> None:
    table = getattr(state.statement, "table", None) if state.is_update or state.is_delete else None
    if table is not None and table.name in _CATALOGUE_TABLES:
        note_catalogue_change(state.session)
    if table is not None and table.name in _SCOPED_TABLES:
        everies = [_every(kind) for kind in SCOPE_KINDS]
        for scope in everies:
            _note(state.session, scope)
        bump_parts_version(*everies)


@sa_event.listens_for(Session, "after_flush_postexec")
def _bump_flushed(session: Session, _context: Any) -> None:
    changed = session.info.get(_CHANGED)
    if changed:
        bump_parts_version(*changed)


@sa_event.listens_for(Session, "after_commit")
def _bump_committed(session: Session) -> None:
    (changed,) = take_notes(session, _CHANGED)
    if changed:
        bump_parts_version(*changed)


forget_on_rollback(_CHANGED)
