"""What the leaderboard pages keep between requests, and how it is kept right.

The top 100 of a board is the same for every viewer: its rendered rows are kept per process,
keyed by the board's version and the game's version (both random tokens in Redis), so a
viewer's request costs one Redis call — `boards.glance`: the two versions, the board's size
and the viewer's rank and score — and the per-viewer lines. Tokens are random rather than
counters, so a Redis that lost its keys (restarted empty, flushed) never hands out a token a
process has already cached something under.

- A board's version (`<board key>:version`) moves with every write to that board
  (`boards.write_entries`, a rebuild).
- The game's version (`lg:<company>:version`) moves after every commit that changed what the
  cached parts show besides the scores: the company, its game or classes, a member's class or
  guild, a guild's name, a player's display name. An ORM listener notices those (any flush
  in the app) and sets a new token once the transaction commits.

The cache is read in the order that keeps it right: the versions first, then the database,
then the entry is stored under the versions read *before* the database — a write committed in
between only leaves an entry under a version that is already gone. Entries also expire after
MAX_AGE seconds, and a process that meets a Redis error forgets everything: a version bump
lost to an outage is bounded in time.
"""

import logging
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

from redis.exceptions import RedisError
from sqlalchemy import event as sa_event
from sqlalchemy import inspect, select
from sqlalchemy.orm import InstanceState, Session

from app.local_cache import LocalCache
from app.models import Company, LegendsClass, LegendsGame, LegendsGuild, LegendsMember, User
from app.queue import get_redis
from app.services.after_commit import forget_on_rollback, take_notes
from app.services.legends import boards

log = logging.getLogger(__name__)
MAX_AGE = 60.0
_CHANGED = "legends_changed_games"


@dataclass(frozen=True)
class Card:
    """What the board needs to know about a game and its viewer, read from the database:
    the company, the viewer's member id and guild, the game's classes (id, name), and the
    game version it was read under (None: read before any version was, never trusted)."""

    company_id: int
    slug: str
    member_id: int
    guild_id: int | None
    classes: tuple[tuple[int, str], ...]
    version: str | None


cards = LocalCache(4096, MAX_AGE)
tables = LocalCache(256, MAX_AGE)
tabs = LocalCache(1024, MAX_AGE)
fragments = LocalCache(1024, MAX_AGE)  # the tab fragment around the viewer's rank, as UTF-8


def forget_all() -> None:
    """Drop every cached part of this process (Redis failed: versions may have been missed)."""
    for cache in (cards, tables, tabs, fragments):
        cache.clear()


def bump_games(company_ids: set[int]) -> None:
    """New game versions for `company_ids`: their cached cards and rows are stale."""
    try:
        pipe = get_redis().pipeline(transaction=False)
        for company_id in sorted(company_ids):
            pipe.set(boards.game_version_key(company_id), boards.new_version())
        pipe.execute()
    except RedisError as error:
        forget_all()
        log.warning("legends cache versions not moved (entries expire within %ss): %s", MAX_AGE, error)


def _changed(instance: object, *names: str) -> bool:
    attrs = cast(InstanceState[Any], inspect(instance)).attrs
    return any(attrs[name].history.has_changes() for name in names)


@sa_event.listens_for(Session, "after_flush")
def _note_changed_games(session: Session, _context: object) -> None:
    changed: set[int] = set()
    players: list[int] = []
    for instance in chain(session.dirty, session.deleted):
        if isinstance(instance, Company):
            changed.add(instance.id)
        elif isinstance(instance, LegendsGame | LegendsClass):
            changed.add(instance.company_id)
        elif isinstance(instance, LegendsMember):
            if instance in session.deleted or _changed(instance, "guild_id", "class_id"):
                changed.add(instance.company_id)
        elif isinstance(instance, LegendsGuild):
            if instance in session.deleted or _changed(instance, "name"):
                changed.add(instance.company_id)
        elif isinstance(instance, User) and _changed(instance, "display_name"):
            players.append(instance.id)
    for instance in session.new:
        if isinstance(instance, LegendsClass):
            changed.add(instance.company_id)
    if players:
        query = select(LegendsMember.company_id).where(LegendsMember.user_id.in_(players))
        changed.update(session.connection().scalars(query))
    if changed:
        session.info.setdefault(_CHANGED, set()).update(changed)


# First among the after-commit listeners: before feed.py publishes live messages, so a page
# that refreshes its board on one reads the new game version.
@sa_event.listens_for(Session, "after_commit", insert=True)
def _bump_committed(session: Session) -> None:
    (changed,) = take_notes(session, _CHANGED)
    if changed:
        bump_games(changed)


forget_on_rollback(_CHANGED)
