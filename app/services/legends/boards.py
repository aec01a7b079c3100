"""Leaderboards: Redis sorted sets in front, the database (the XP ledger) as the truth.

A board is one category (xp, level, referrals, commission) over one period (all time, this
ISO week, this month) in one scope (the whole game, one class, one guild); guilds have their
own board by guild XP. Its Redis key is `lg:<company>:<category>:<period key>:<scope>`.

Ties go to whoever got there first: each entry's sorted-set member is a tag
`<10^14 - reached at (ms)><10^10 - member id>`, and Redis orders equal scores by member in
reverse lexical order under ZREVRANGE, so an earlier time (then a lower id) ranks higher. A
hash `<key>:tags` maps member id → its current tag, for "your rank" and for replacing it.

Every write to a board also sets its version (`<key>:version`, a random token) after the
entries, so whatever was read under a version (the rendered top 100, boardcache) is stale once
it moves; `glance` reads a board's version, size and a viewer's rank in one call.

Redis down: `top` computes the same board from the database (`compute_rows`, also what the
rebuild writes), so the page shows it, never a 500. Periods roll over by key: a new week
writes a new key; old period keys expire (PERIOD_TTL).
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from redis.exceptions import RedisError
from sqlalchemy import case, func, select

from app import redis_calls
from app.clock import now
from app.extensions import db
from app.models import LegendsClass, LegendsGame, LegendsGuild, LegendsMember, LegendsXpAward
from app.queue import get_redis
from app.services.legends.levels import month_start, period_key, week_start

log = logging.getLogger(__name__)

CATEGORIES = ("xp", "level", "referrals", "commission")
PERIODS = ("all", "weekly", "monthly")
PERIOD_TTL = 100 * 24 * 3600
_TIME_SPAN = 10**14
_ID_SPAN = 10**10
_VALUE_COLUMN = {
    "xp": LegendsXpAward.amount,
    "referrals": LegendsXpAward.referrals_delta,
    "commission": LegendsXpAward.commission_cents_delta,
}


@dataclass(frozen=True)
class Row:
    """One entry of a board: who (member or guild id), their score, and when they got it."""

    id: int
    score: int
    reached_at: datetime


@dataclass
class Board:
    """What a board page shows: the top rows (rank, id, score), the viewer's rank and score
    (None when not on it), and where it came from ("redis" or "database")."""

    rows: list[tuple[int, int, int]]
    my_rank: int | None
    my_score: int | None
    source: str
    total: int


def boards_of(category: str) -> tuple[str, ...]:
    """The periods a category has a board for (level: all time only)."""
    return ("all",) if category == "level" else PERIODS


def key(company_id: int, category: str, period: str, scope: str = "all", moment: datetime | None = None) -> str:
    """The Redis key of a board (period "all", "weekly" or "monthly", at `moment`)."""
    return f"lg:{company_id}:{category}:{period_key(period, moment or now())}:{scope}"


def guild_key(company_id: int) -> str:
    """The Redis key of the game's guild board."""
    return f"lg:{company_id}:guilds"


def version_key(board: str) -> str:
    """The key of a board's version: a token set anew with every write to the board."""
    return board + ":version"


def game_version_key(company_id: int) -> str:
    """The key of the game's version (boardcache: what the cached parts show besides scores)."""
    return f"lg:{company_id}:version"


new_version = redis_calls.new_token  # a version token never used before


def tag(row_id: int, reached_at: datetime) -> str:
    """The sorted-set member of `row_id` reached at `reached_at` (see the module docstring)."""
    millis = int(reached_at.timestamp() * 1000)
    return f"{_TIME_SPAN - millis:014d}{_ID_SPAN - row_id:010d}"


def untag(value: str | bytes) -> int:
    """The id inside a tag."""
    text = value.decode() if isinstance(value, bytes) else value
    return _ID_SPAN - int(text[14:])


def _since(period: str, moment: datetime) -> datetime | None:
    return {"weekly": week_start(moment), "monthly": month_start(moment)}.get(period)


def compute_rows(
    company_id: int,
    category: str,
    period: str,
    scope: str = "all",
    member_ids: Iterable[int] | None = None,
    moment: datetime | None = None,
) -> list[Row]:
    """The board from the database, best first (score, then earliest, then lowest id).

    All-time boards list every member of the scope (0 until they score); period boards only
    members with XP ledger lines in the period.
    """
    moment = moment or now()
    members = select(LegendsMember.id).where(LegendsMember.company_id == company_id)
    if scope.startswith("class:"):
        members = members.where(LegendsMember.class_id == int(scope[6:]))
    elif scope.startswith("guild:"):
        members = members.where(LegendsMember.guild_id == int(scope[6:]))
    if member_ids is not None:
        members = members.where(LegendsMember.id.in_(list(member_ids)))
    if category == "level":
        query = select(
            LegendsMember.id, LegendsMember.prestige * 1000 + LegendsMember.level, LegendsMember.level_reached_at
        ).where(LegendsMember.id.in_(members))
        rows = [Row(member_id, score, reached) for member_id, score, reached in db.session.execute(query)]
    else:
        value = _VALUE_COLUMN[category]
        query = (
            select(
                LegendsXpAward.member_id,
                func.coalesce(func.sum(value), 0),
                func.max(case((value != 0, LegendsXpAward.created_at))),
            )
            .where(LegendsXpAward.company_id == company_id, LegendsXpAward.member_id.in_(members))
            .group_by(LegendsXpAward.member_id)
        )
        since = _since(period, moment)
        if since is not None:
            query = query.where(LegendsXpAward.created_at >= since)
        scored = {member_id: (int(total), reached) for member_id, total, reached in db.session.execute(query)}
        if since is None:
            joined = db.session.execute(
                select(LegendsMember.id, LegendsMember.joined_at).where(LegendsMember.id.in_(members))
            )
            rows = [
                Row(member_id, scored.get(member_id, (0, None))[0], scored.get(member_id, (0, None))[1] or joined_at)
                for member_id, joined_at in joined
            ]
        else:
            rows = [Row(member_id, total, reached) for member_id, (total, reached) in scored.items() if reached]
    return sorted(rows, key=lambda row: (-row.score, row.reached_at, row.id))


def compute_guild_rows(company_id: int) -> list[Row]:
    """The guild board from the database, best first."""
    guilds = db.session.execute(
        select(LegendsGuild.id, LegendsGuild.xp, LegendsGuild.xp_reached_at).where(
            LegendsGuild.company_id == company_id
        )
    )
    return sorted((Row(*guild) for guild in guilds), key=lambda row: (-row.score, row.reached_at, row.id))


def member_entries(member: LegendsMember, moment: datetime | None = None) -> list[tuple[str, Row]]:
    """Every (board key, row) the member belongs on now, from the database: what to write to
    Redis after the member's figures changed."""
    moment = moment or now()
    scopes = ["all", f"class:{member.class_id}"] + ([f"guild:{member.guild_id}"] if member.guild_id else [])
    entries: list[tuple[str, Row]] = []
    for category in CATEGORIES:
        for period in boards_of(category):
            rows = compute_rows(member.company_id, category, period, "all", [member.id], moment)
            for row in rows:
                entries.extend((key(member.company_id, category, period, scope, moment), row) for scope in scopes)
    return entries


def write_entries(entries: Sequence[tuple[str, Row]], stale_keys: Sequence[tuple[str, int]] = ()) -> None:
    """Put rows on their boards (replacing each one's old tag) and take members off `stale_keys`
    ((key, id): boards of a class or guild they left). Raises RedisError."""
    redis = get_redis()
    lookup = redis.pipeline(transaction=False)
    for board, row in entries:
        lookup.hget(board + ":tags", row.id)
    for board, row_id in stale_keys:
        lookup.hget(board + ":tags", row_id)
    old_tags = lookup.execute()
    write = redis.pipeline(transaction=False)
    for (board, row), old in zip(entries, old_tags[: len(entries)], strict=True):
        new = tag(row.id, row.reached_at)
        if old is not None and old.decode() != new:
            write.zrem(board, old)
        write.zadd(board, {new: row.score})
        write.hset(board + ":tags", row.id, new)
        if _is_period_board(board):
            write.expire(board, PERIOD_TTL)
            write.expire(board + ":tags", PERIOD_TTL)
    for (board, row_id), old in zip(stale_keys, old_tags[len(entries) :], strict=True):
        if old is not None:
            write.zrem(board, old)
            write.hdel(board + ":tags", row_id)
    for board in sorted({board for board, _ in entries} | {board for board, _ in stale_keys}):
        _set_version(write, board)
    write.execute()


def _set_version(pipe: Any, board: str) -> None:
    """Queue a new version for `board` (after its writes, in the same pipeline)."""
    pipe.set(version_key(board), new_version(), ex=PERIOD_TTL if _is_period_board(board) else None)


def _is_period_board(board: str) -> bool:
    """True for the key of a weekly or monthly board (they expire)."""
    parts = board.split(":")
    return len(parts) > 4 and parts[3] != "all"


def rank_of(board: str, row_id: int) -> int | None:
    """The 1-based rank of `row_id` on a board in Redis (None: not on it). Raises RedisError."""
    current = get_redis().hget(board + ":tags", row_id)
    if current is None:
        return None
    rank = get_redis().zrevrank(board, current)
    return None if rank is None else int(cast(int, rank)) + 1


def top(
    company_id: int,
    category: str,
    period: str,
    scope: str = "all",
    limit: int = 100,
    viewer_id: int | None = None,
) -> Board:
    """The top `limit` of a board and the viewer's rank, from Redis, or computed from the
    database when Redis is unavailable."""
    board_key = guild_key(company_id) if category == "guilds" else key(company_id, category, period, scope)
    try:
        redis = get_redis()
        pipe = redis.pipeline(transaction=False)
        pipe.zrevrange(board_key, 0, limit - 1, withscores=True)
        pipe.zcard(board_key)
        pipe.hget(board_key + ":tags", viewer_id or 0)
        entries, total, my_tag = pipe.execute()
        rows = [(index + 1, untag(member), int(score)) for index, (member, score) in enumerate(entries)]
        my_rank = my_score = None
        if my_tag is not None:
            pipe = redis.pipeline(transaction=False)
            pipe.zrevrank(board_key, my_tag)
            pipe.zscore(board_key, my_tag)
            rank, score = pipe.execute()
            if rank is not None:
                my_rank, my_score = rank + 1, int(score)
        if total:
            return Board(rows, my_rank, my_score, "redis", int(total))
        # An empty board: a new game, or Redis lost its boards (restarted empty, or the game was
        # seeded while Redis was down). The database answers; when it has rows, the game's
        # boards are written again so the next request reads Redis.
        board = _computed(company_id, category, period, scope, limit, viewer_id)
        if not board.total:
            return Board(rows, my_rank, my_score, "redis", 0)
        log.warning("leaderboard %s was empty in Redis: rebuilding the game's boards", board_key)
        rebuild_all(company_id)
        return board
    except RedisError as error:
        log.warning("leaderboard %s from the database: Redis unavailable (%s)", board_key, error)
    return _computed(company_id, category, period, scope, limit, viewer_id)


def _computed(company_id: int, category: str, period: str, scope: str, limit: int, viewer_id: int | None) -> Board:
    """A board computed from the database (the truth), as `top` answers it."""
    computed = (
        compute_guild_rows(company_id) if category == "guilds" else compute_rows(company_id, category, period, scope)
    )
    rows = [(index + 1, row.id, row.score) for index, row in enumerate(computed[:limit])]
    mine = next(((index + 1, row.score) for index, row in enumerate(computed) if row.id == viewer_id), (None, None))
    return Board(rows, mine[0], mine[1], "database", len(computed))


def rebuild(company_id: int, class_ids: Iterable[int], guild_ids: Iterable[int]) -> int:
    """Throw away the game's boards in Redis and write them again from the database; the
    number of entries written. Raises RedisError."""
    redis = get_redis()
    stale = list(redis.scan_iter(match=f"lg:{company_id}:*", count=1000))
    for start in range(0, len(stale), 500):
        redis.delete(*stale[start : start + 500])
    moment = now()
    scopes = ["all"] + [f"class:{class_id}" for class_id in class_ids] + [f"guild:{gid}" for gid in guild_ids]
    written = 0
    for category in CATEGORIES:
        for period in boards_of(category):
            for scope in scopes:
                rows = compute_rows(company_id, category, period, scope, moment=moment)
                written += _write_board(key(company_id, category, period, scope, moment), rows, period != "all")
    written += _write_board(guild_key(company_id), compute_guild_rows(company_id), False)
    return written


def _write_board(board: str, rows: Sequence[Row], expires: bool) -> int:
    redis = get_redis()
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        pipe = redis.pipeline(transaction=False)
        pipe.zadd(board, {tag(row.id, row.reached_at): row.score for row in chunk})
        pipe.hset(board + ":tags", mapping={row.id: tag(row.id, row.reached_at) for row in chunk})
        if expires:
            pipe.expire(board, PERIOD_TTL)
            pipe.expire(board + ":tags", PERIOD_TTL)
        _set_version(pipe, board)
        pipe.execute()
    if not rows:
        _set_version(redis, board)
    return len(rows)


def rebuild_all(company_id: int | None = None) -> dict[int, int]:
    """Rebuild the boards of one game (or every game) from the database: {company id: entries}.
    Raises RedisError."""
    query = select(LegendsGame.company_id).execution_options(skip_tenant_scope=True)
    if company_id is not None:
        query = query.where(LegendsGame.company_id == company_id)
    written = {}
    for game_company_id in db.session.scalars(query).all():
        class_ids = db.session.scalars(select(LegendsClass.id).where(LegendsClass.company_id == game_company_id)).all()
        guild_ids = db.session.scalars(select(LegendsGuild.id).where(LegendsGuild.company_id == game_company_id)).all()
        written[game_company_id] = rebuild(game_company_id, class_ids, guild_ids)
    return written


# KEYS: board, its tags, its version, the game's version, then any keys whose values the caller
# wants read in the same round trip (the viewer's session generations); ARGV: viewer id, a
# fresh token (set as a version that is missing, so what is read now can be cached under it).
_GLANCE = redis_calls.Lua("""
local game = redis.call('GET', KEYS[4])
if not game then game = ARGV[2]; redis.call('SET', KEYS[4], game) end
local version = redis.call('GET', KEYS[3])
if not version then
  version = ARGV[2]
  local ttl = redis.call('TTL', KEYS[1])
  if ttl > 0 then redis.call('SET', KEYS[3], version, 'EX', ttl) else redis.call('SET', KEYS[3], version) end
end
local rank, score = false, false
local mine = redis.call('HGET', KEYS[2], ARGV[1])
if mine then
  rank = redis.call('ZREVRANK', KEYS[1], mine)
  score = redis.call('ZSCORE', KEYS[1], mine)
end
local out = {game, version, redis.call('ZCARD', KEYS[1]), rank, score}
for i = 5, #KEYS do out[i + 1] = redis.call('GET', KEYS[i]) end
return out
""")


@dataclass(frozen=True)
class Glance:
    """A board at a glance: the game's and the board's versions, its size, and the viewer's
    rank (1-based) and score (None when not on it); `also`: the values of the extra keys read
    with it (None for a missing one)."""

    game_version: str
    version: str
    total: int
    my_rank: int | None
    my_score: int | None
    also: tuple[bytes | None, ...] = ()


def glance(company_id: int, board: str, viewer_id: int | None, also: Sequence[str] = ()) -> Glance:
    """Versions, size and the viewer's place on a board in one Redis round trip (a Lua script;
    a missing version is set first), and the values of the keys `also`. Raises RedisError."""
    redis = get_redis()
    keys = [board, board + ":tags", version_key(board), game_version_key(company_id), *also]
    reply = redis_calls.eval_script(redis, _GLANCE, keys, [viewer_id or 0, new_version()])
    game, version, total, rank, score, *values = reply
    values += [None] * (len(also) - len(values))  # a Lua table ends at its first nil
    return Glance(
        game.decode(),
        version.decode(),
        int(total),
        None if rank is None else int(rank) + 1,
        None if score is None else int(float(score)),
        tuple(values),
    )


def top_entries(board: str, limit: int) -> list[tuple[int, int, int]]:
    """The top `limit` entries of a board in Redis: (rank, id, score). Raises RedisError."""
    entries = cast(list[tuple[bytes, float]], get_redis().zrevrange(board, 0, limit - 1, withscores=True))
    return [(index + 1, untag(member), int(score)) for index, (member, score) in enumerate(entries)]
