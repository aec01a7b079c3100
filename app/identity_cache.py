"""Signed-in requests without session SQL: a per-process cache of who a session token signs in,
checked against per-user generations in Redis on every request.

What is cached (per process, in `app.extensions["identity_cache"]`): for a session token's hash,
the column values of the session row, its user, the user's memberships and their companies, as
the one lookup query (services/sessions.find_active_session) loaded them. A warm request turns
them back into ORM objects of its own session without SQL (`make_transient_to_detached` +
`Session.add`, or `Session.merge(load=False)` when the request's session already holds one of
them: SQLAlchemy's documented way to attach cached rows), so views use `current_user` exactly as
before — at its first use: the request's session check (`check_identity`) reads the entry's plain
values only, and a request that never uses `current_user` builds nothing.

What makes an entry valid: one Redis MGET per request of the generations the entry was loaded
under: a global one, the user's, each of the user's companies', and (riding along, for the
bell) the user's notifications generation. A generation is a random token, replaced after the
commit of any write that matters (never a counter: a Redis that lost its data cannot hand an old
value back). The writes are found by SQLAlchemy events, not by services remembering to call
something: flushes that insert, change or delete User, UserSession, CompanyMember, Company or
Notification rows, and ORM bulk UPDATE/DELETE statements on those (the affected users are read
first, unless the statement names them with the `generation_user_ids` execution option). The
generations are read BEFORE the lookup query of the entry they validate, so an entry is never
newer than its generations: a write committed after the read replaces one of them, and the
next request reloads.

What is still checked locally on every hit: the row's `expires_at` and the user's `active`;
an entry whose `last_seen_at` is older than TOUCH_INTERVAL is reloaded (that request records
activity, as before). Entries live at most IDENTITY_CACHE_SECONDS and at most IDENTITY_CACHE_SIZE
are kept (least recently used dropped). Redis unreachable, a generation missing, a first sight
of a token in this process (its user's generations are not known before the query yet), or
uncommitted changes to the user in the request's own session: the lookup query runs, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, has_app_context
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from app import redis_calls
from app.clock import now
from app.extensions import db
from app.local_cache import LocalCache
from app.models import Company, CompanyMember, Notification, User, UserSession
from app.services.after_commit import forget_on_rollback, take_notes
from app.services.sessions import TOUCH_INTERVAL, find_active_session, hash_session_token

GLOBAL_KEY = "auth:gen"
KEY_SECONDS = 7 * 24 * 3600  # an unused generation may vanish: missing means "reload"
_PENDING = "identity_cache.pending"  # session.info: generation keys to replace after the commit


def user_key(user_id: int) -> str:
    return f"auth:gen:user:{user_id}"


def company_key(company_id: int) -> str:
    return f"auth:gen:company:{company_id}"


def notifications_key(user_id: int) -> str:
    return f"notifications:gen:user:{user_id}"


# --------------------------------------------------------------------------- writers


def _values(obj: Any, attribute: str) -> set:
    """Every value `attribute` of `obj` had in this flush (before and after); empty if unknown."""
    history = inspect(obj).attrs[attribute].history
    return {value for value in history.sum() if value is not None}


def _keys_written(obj: Any) -> set[str] | None:
    """The generation keys a flushed change of `obj` replaces; None: all (GLOBAL_KEY)."""
    if isinstance(obj, User):
        return {user_key(obj.id)} if obj.id is not None else set()
    if isinstance(obj, (UserSession, CompanyMember)):
        users = _values(obj, "user_id")
        return {user_key(user_id) for user_id in users} if users else None
    if isinstance(obj, Company):
        return {company_key(obj.id)} if obj.id is not None else set()
    if isinstance(obj, Notification):
        users = _values(obj, "user_id")
        return {notifications_key(user_id) for user_id in users} if users else None
    return set()


def note_generations(session: Session, keys: Iterable[str]) -> None:
    """Replace the generations `keys` once `session`'s transaction commits."""
    session.info.setdefault(_PENDING, set()).update(keys)


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _context: Any) -> None:
    new = session.new
    for obj in (*new, *session.dirty, *session.deleted):
        if isinstance(obj, UserSession) and obj in new:
            continue  # a new session changes no cached identity
        keys = _keys_written(obj)
        note_generations(session, (GLOBAL_KEY,) if keys is None else keys)


# What a bulk UPDATE/DELETE on each watched entity changes: (column naming the user or company,
# key function).
_BULK = {
    User: (User.id, user_key),
    UserSession: (UserSession.user_id, user_key),
    CompanyMember: (CompanyMember.user_id, user_key),
    Company: (Company.id, company_key),
    Notification: (Notification.user_id, notifications_key),
}


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state: Any) -> Any:
    if not (state.is_update or state.is_delete) or state.bind_mapper is None:
        return None
    found = _BULK.get(state.bind_mapper.class_)
    if found is None or state.execution_options.get("generation_unaffected"):
        return None
    column, key = found
    keys: Iterable[str]
    named = state.execution_options.get("generation_user_ids")
    where = state.statement.whereclause
    if named is not None:
        keys = [key(value) for value in named]
    elif where is None:
        keys = [GLOBAL_KEY]
    else:  # read before the statement changes what its WHERE matches
        keys = [key(value) for value in state.session.scalars(select(column).where(where).distinct())]
    result = state.invoke_statement()
    if getattr(result, "rowcount", 1) != 0:
        note_generations(state.session, keys)
    return result


@event.listens_for(Session, "after_commit")
def _replace_generations(session: Session) -> None:
    (keys,) = take_notes(session, _PENDING)
    if keys and has_app_context():
        bump_generations(keys)


forget_on_rollback(_PENDING)


def bump_generations(keys: Iterable[str]) -> None:
    """Give each generation in `keys` a new random value: every process's entries under the old
    one stop validating. If Redis can't be written, this process forgets its entries (others
    keep theirs at most IDENTITY_CACHE_SECONDS: the error is logged)."""
    keys = sorted(keys)
    seen = g.get("identity_generations")
    for key in keys if seen else ():
        seen.pop(key, None)  # this request's later reads (the bell's count) must not use them
    try:
        pipe = current_app.extensions["redis"].pipeline(transaction=False)
        for key in keys:
            pipe.set(key, redis_calls.new_token(), ex=KEY_SECONDS)
        pipe.execute()
    except Exception as error:
        current_app.logger.error("identity cache generations %s not replaced: %s", keys, error)
        for cache in _caches():
            cache.clear()


def bump_everyone() -> None:
    """Reload every cached identity in every process (after writing users, sessions or
    memberships outside the ORM session, e.g. by hand in SQL)."""
    bump_generations([GLOBAL_KEY])


# --------------------------------------------------------------------------- readers


@dataclass
class Entry:
    """What one session token signed in, and the generations it was loaded under."""

    user_id: int
    keys: tuple[str, ...]
    generations: tuple[bytes, ...] | None = None  # None: only the keys are known yet
    user: dict = field(default_factory=dict)
    row: dict = field(default_factory=dict)
    memberships: tuple[tuple[dict, dict], ...] = ()


def _caches() -> tuple[LocalCache, LocalCache]:
    caches = current_app.extensions.get("identity_cache")
    if caches is None:
        size, seconds = current_app.config["IDENTITY_CACHE_SIZE"], current_app.config["IDENTITY_CACHE_SECONDS"]
        caches = current_app.extensions["identity_cache"] = (LocalCache(size, seconds), LocalCache(size, seconds))
    return caches


def identity_cache() -> LocalCache:
    """This app's (this process's) token hash -> Entry cache."""
    return _caches()[0]


def cached_count(key: str, count: Callable[[], int]) -> int:
    """`count()` of the rows behind generation `key` (e.g. notifications_key(user_id)), from
    this process's cache while the generation read at this request's session check still holds
    (and stored under it otherwise)."""
    generation = g.get("identity_generations", {}).get(key)
    if generation is None:
        return count()
    counts = _caches()[1]
    found = counts.get(key)
    if found is not None and found[0] == generation:
        return found[1]
    value = count()
    counts.put(key, (generation, value))
    return value


def read_generations(keys: tuple[str, ...]) -> tuple[bytes, ...] | None:
    """The current values of `keys` (missing ones created), in one round trip when all exist;
    None when Redis can't be read."""
    redis = current_app.extensions["redis"]
    try:
        values = redis_calls.tokens(redis, keys, ex=KEY_SECONDS)
    except Exception as error:  # Redis down: the lookup query decides, nothing is cached
        current_app.logger.warning("identity cache unavailable: %s", error)
        return None
    if None in values:
        return None
    return tuple(values)


def keys_for(user_id: int, company_ids: Iterable[int]) -> tuple[str, ...]:
    return (GLOBAL_KEY, user_key(user_id), notifications_key(user_id), *(company_key(c) for c in sorted(company_ids)))


def _columns(obj: Any) -> dict:
    state = inspect(obj)
    return {attr.key: state.dict[attr.key] for attr in state.mapper.column_attrs if attr.key in state.dict}


def snapshot(entry_keys: tuple[str, ...], generations: tuple[bytes, ...] | None, user: User, row: UserSession) -> Entry:
    """An entry for what the lookup query loaded (`generations` read before it, or None)."""
    memberships = tuple((_columns(m), _columns(m.company)) for m in user.memberships)
    return Entry(
        user_id=user.id,
        keys=entry_keys,
        generations=generations,
        user=_columns(user),
        row=_columns(row),
        memberships=memberships,
    )


def is_clean(session: Session, *objects: Any) -> bool:
    """True when none of `objects` (nor the session's own pending work on users, sessions or
    memberships) carries a change this process has not committed."""
    if session.info.get(_PENDING):
        return False
    return not any(inspect(obj).modified for obj in objects)


def _detached(cls: type, values: dict) -> Any:
    obj: Any = inspect(cls).class_manager.new_instance()
    obj.__dict__.update(values)
    return obj


def materialize(session: Session, entry: Entry) -> tuple[User, UserSession] | None:
    """The entry's user (memberships and companies loaded) and session row, persistent in
    `session` without SQL; None when the session holds a changed copy of one of them."""
    user = _detached(User, entry.user)
    members = []
    for member_values, company_values in entry.memberships:
        member = _detached(CompanyMember, member_values)
        set_committed_value(member, "company", _detached(Company, company_values))
        set_committed_value(member, "user", user)
        members.append(member)
    set_committed_value(user, "memberships", members)
    row = _detached(UserSession, entry.row)
    objects = [user, row, *members, *(m.company for m in members)]
    for obj in objects:
        make_transient_to_detached(obj)
    held = [session.identity_map.get(inspect(obj).key) for obj in objects]
    if not any(held):
        session.add(user)
        session.add(row)
        return user, row
    if any(obj is not None and inspect(obj).modified for obj in held):
        return None
    return session.merge(user, load=False), session.merge(row, load=False)


def hit_is_usable(entry: Entry, touch_interval: Any) -> bool:
    """The local checks of a cached entry: not expired, user active, activity recorded lately."""
    moment = now()
    row, user = entry.row, entry.user
    return (
        user.get("active") is True
        and row.get("revoked_at") is None
        and row["expires_at"] > moment
        and moment - row["last_seen_at"] < touch_interval
    )


@dataclass
class Identity:
    """A session this process has a usable entry for (app/session_auth.py keeps it in
    `g.identity`): `verified` once the entry's generations were read back unchanged this request.
    The ORM objects are built from it only when the request first uses `current_user`."""

    token: str
    entry: Entry
    verified: bool = False

    @property
    def user_id(self) -> int:
        return self.entry.user_id


def check_identity(token: Any, *, verify: bool = True) -> Identity | None:
    """The identity of `token` from this process's cache, without building ORM objects: verified
    by one MGET of its generations (`verify`), or left for the caller to `confirm` with the
    generations of `Identity.entry.keys` it reads in a round trip of its own. None: the full way
    (find_session) decides — no usable entry, Redis unreadable, a generation moved, the
    activity to record, or uncommitted identity changes in the request's session."""
    if not token or not isinstance(token, str) or len(token) > 128:
        return None
    cache = identity_cache()
    registry = db.session.registry  # no session made yet: nothing pending in it
    if cache.size <= 0 or (registry.has() and registry().info.get(_PENDING)):
        return None
    token_hash = hash_session_token(token)
    entry = cache.get(token_hash)
    if entry is None or entry.generations is None or not hit_is_usable(entry, TOUCH_INTERVAL):
        return None
    identity = Identity(token, entry)
    if verify:
        generations = read_generations(entry.keys)
        if generations is None:
            return None
        if not confirm(identity, generations):
            g.identity_read = (token_hash, entry.keys, generations)  # find_session needs not read again
            return None
    return identity


def confirm(identity: Identity, generations: Iterable[bytes | None] | None) -> bool:
    """Mark `identity` verified when `generations` (the current values of its entry's keys, read
    this request) are the ones it was cached under."""
    if generations is None:
        return False
    generations = tuple(generations)
    entry = identity.entry
    if generations != entry.generations:
        return False
    identity.verified = True
    g.identity_generations = dict(zip(entry.keys, generations, strict=True))
    return True


def find_session(token: str | None) -> tuple[User, UserSession] | None:
    """(user, row) for an active session with this token, else None: built from the identity
    this request verified (check_identity) or from the cache when its generations still hold,
    else by services/sessions.find_active_session (whose result is cached for the next
    request)."""
    if not token or not isinstance(token, str) or len(token) > 128:
        return None
    session = db.session()
    identity = g.get("identity")
    pending = session.info.get(_PENDING)  # the request's own uncommitted identity changes: the query
    if identity is not None and identity.verified and identity.token == token and not pending:
        found = materialize(session, identity.entry)
        if found is not None:
            found[0].session_token = token
            return found
    cache = identity_cache()
    token_hash = hash_session_token(token)
    entry = cache.get(token_hash) if cache.size > 0 and not pending else None
    generations = None
    if entry is not None:
        read = g.pop("identity_read", None)
        if read is not None and read[:2] == (token_hash, entry.keys):
            generations = read[2]
        else:
            generations = read_generations(entry.keys)
        if generations is not None:
            g.identity_generations = dict(zip(entry.keys, generations, strict=True))
            if entry.generations == generations and hit_is_usable(entry, TOUCH_INTERVAL):
                found = materialize(session, entry)
                if found is not None:
                    found[0].session_token = token
                    return found
    found = find_active_session(token)
    if found is None:
        return None
    user, row = found
    if cache.size > 0:
        keys = keys_for(user.id, {m.company_id for m in user.memberships})
        if (
            entry is not None
            and generations is not None
            and keys == entry.keys
            and is_clean(session, user, row, *user.memberships)
        ):
            cache.put(token_hash, snapshot(keys, generations, user, row))
        else:  # the generations to read before the next lookup
            cache.put(token_hash, Entry(user_id=user.id, keys=keys))
    return found
