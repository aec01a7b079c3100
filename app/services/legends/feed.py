"""The game feed and what happens after a commit: the feed rows the polling fallback reads,
and — once the transaction that earned them commits — the live messages (live.publish) and
the leaderboard entries in Redis. A rolled-back transaction publishes and writes nothing.

Board entries are computed from the database just before the commit (the figures that commit)
and written to Redis just after it; Redis being down then costs only freshness: the board is
computed from the database while it is down and `flask legends rebuild-leaderboards` puts it
back.
"""

import logging
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import event as sa_event
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import LegendsFeedEvent, LegendsGuild, LegendsMember
from app.services.after_commit import forget_on_rollback, take_notes
from app.services.legends import boards, live

log = logging.getLogger(__name__)
_LIVE = "legends_live"
_TOUCHED = "legends_touched_members"
_GUILDS = "legends_touched_guilds"
_STALE = "legends_stale_entries"
_ENTRIES = "legends_board_entries"
FEED_PAGE = 50


def announce(member: LegendsMember | None, company_id: int, event: str, data: dict[str, Any]) -> LegendsFeedEvent:
    """Record a feed event of `member` (None: for the whole game) and publish it live once the
    transaction commits. Flushed, not committed."""
    user_id = member.user_id if member is not None else None
    row = LegendsFeedEvent(
        company_id=company_id, member_id=member.id if member else None, user_id=user_id, event=event, data={}
    )
    db.session.add(row)
    db.session.flush()
    row.data = {"event_id": row.id, **data}
    db.session.flush()
    db.session.info.setdefault(_LIVE, []).append((company_id, event, row.data, user_id))
    return row


def touch(member: LegendsMember) -> None:
    """The member's figures changed: refresh their leaderboard entries after the commit."""
    db.session.info.setdefault(_TOUCHED, set()).add(member.id)


def touch_guild(guild_id: int) -> None:
    """The guild's XP changed: refresh its guild-board entry after the commit."""
    db.session.info.setdefault(_GUILDS, set()).add(guild_id)


def leave_boards(company_id: int, member_id: int, scope: str) -> None:
    """Take the member off every board of `scope` ("class:<id>", "guild:<id>") after the commit."""
    stale = db.session.info.setdefault(_STALE, [])
    for category in boards.CATEGORIES:
        for period in boards.boards_of(category):
            stale.append((boards.key(company_id, category, period, scope), member_id))


def feed_since(member: LegendsMember, after: int) -> list[LegendsFeedEvent]:
    """The member's feed events and the game-wide ones with id > `after`, oldest first."""
    return list(
        db.session.scalars(
            select(LegendsFeedEvent)
            .where(
                LegendsFeedEvent.company_id == member.company_id,
                LegendsFeedEvent.id > after,
                or_(LegendsFeedEvent.member_id == member.id, LegendsFeedEvent.member_id.is_(None)),
            )
            .order_by(LegendsFeedEvent.id)
            .limit(FEED_PAGE)
        )
    )


def last_feed_id(company_id: int) -> int:
    """The newest feed event id of the game (0 when none): where a page's polling starts."""
    return (
        db.session.scalar(
            select(LegendsFeedEvent.id)
            .where(LegendsFeedEvent.company_id == company_id)
            .order_by(LegendsFeedEvent.id.desc())
            .limit(1)
        )
        or 0
    )


@sa_event.listens_for(Session, "before_commit")
def _compute_board_entries(session: Session) -> None:
    touched, guild_ids = take_notes(session, _TOUCHED, _GUILDS)
    if not touched and not guild_ids:
        return
    entries: list[tuple[str, boards.Row]] = []
    companies: dict[int, int] = {}
    for member in session.scalars(select(LegendsMember).where(LegendsMember.id.in_(touched or ()))):
        entries.extend(boards.member_entries(member))
        companies[member.id] = member.company_id
    for guild in session.scalars(select(LegendsGuild).where(LegendsGuild.id.in_(guild_ids or ()))):
        entries.append((boards.guild_key(guild.company_id), boards.Row(guild.id, guild.xp, guild.xp_reached_at)))
    session.info[_ENTRIES] = (entries, companies)


@sa_event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    messages, computed, stale = take_notes(session, _LIVE, _ENTRIES, _STALE)
    if computed or stale:
        entries, companies = computed or ([], {})
        _write_boards(entries, companies, stale or [])
    for company_id, event, data, user_id in messages or ():
        live.publish(company_id, event, data, user_id=user_id)


def _write_boards(entries: list[tuple[str, boards.Row]], companies: dict[int, int], stale: list) -> None:
    """Write the entries; announce live each member who climbed the all-time XP board."""
    try:
        before = {
            member_id: boards.rank_of(boards.key(company_id, "xp", "all"), member_id)
            for member_id, company_id in companies.items()
        }
        boards.write_entries(entries, stale)
        for member_id, company_id in companies.items():
            rank, old_rank = boards.rank_of(boards.key(company_id, "xp", "all"), member_id), before[member_id]
            if rank is not None and (old_rank is None or rank < old_rank):
                data = {"event_id": None, "member_id": member_id, "board": "xp:all", "rank": rank}
                live.publish(company_id, "leaderboard_moved", {**data, "old_rank": old_rank})
    except RedisError as error:
        log.warning("leaderboards not updated (rebuild them when Redis is back): %s", error)
    except Exception:  # the commit already happened: a rebuild puts the boards right
        log.exception("leaderboards not updated")


forget_on_rollback(_LIVE, _TOUCHED, _GUILDS, _STALE, _ENTRIES)


def as_json(row: LegendsFeedEvent) -> dict[str, Any]:
    """A feed event as the polling endpoint returns it."""
    created: datetime = row.created_at
    return {"id": row.id, "event": row.event, "data": row.data, "created_at": created.isoformat()}


def drop_guild(company_id: int, guild_id: int) -> None:
    """A closed guild leaves the guild board after the commit."""
    db.session.info.setdefault(_STALE, []).append((boards.guild_key(company_id), guild_id))
