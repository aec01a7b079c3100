"""Guilds: a member creates one (and leads it), leaders and officers invite, invited members
(or anyone, for an open guild) join up to the member cap, members leave (a leaving leader
hands the guild to its longest-standing officer, else member; the last one out closes it),
leaders promote officers. A member is in one guild at a time. Guild XP is what its members
earn while in it (engine.award_xp). Flushes, never commits."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select

from app.clock import now
from app.errors import InputError
from app.extensions import db
from app.inputs import has_unstorable_characters, parse_id
from app.models import LegendsGame, LegendsGuild, LegendsGuildInvite, LegendsMember
from app.services.legends import feed
from app.services.legends.refusals import LegendsRefusal
from app.services.rows import existing_or_added


def guild_of(member: LegendsMember, guild_id: int) -> LegendsGuild:
    """A guild of the member's game, locked for this transaction; 404 otherwise."""
    guild = db.session.scalar(
        select(LegendsGuild)
        .where(LegendsGuild.id == guild_id, LegendsGuild.company_id == member.company_id)
        .with_for_update()
    )
    if guild is None:
        raise LegendsRefusal(404, "No such guild.")
    return guild


def guild_members(guild_id: int) -> list[LegendsMember]:
    """The guild's members, leader and officers first."""
    order = {"leader": 0, "officer": 1, "member": 2}
    members = db.session.scalars(select(LegendsMember).where(LegendsMember.guild_id == guild_id)).all()
    return sorted(members, key=lambda m: (order.get(m.guild_role or "member", 2), m.id))


def create_guild(member: LegendsMember, game: LegendsGame, form: Mapping[str, Any]) -> LegendsGuild:
    """A new guild led by `member` (who must not be in one). Flushed."""
    if member.guild_id is not None:
        raise LegendsRefusal(409, "Leave your guild before founding another.")
    name = form.get("name", "")
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 40 or has_unstorable_characters(name):
        raise InputError("name", "Name: 1 to 40 characters we can store.")
    taken = db.session.scalar(
        select(func.count(LegendsGuild.id)).where(
            LegendsGuild.company_id == member.company_id, LegendsGuild.name == name
        )
    )
    if taken:
        raise InputError("name", f"“{name}” is taken in this game.")
    guild = LegendsGuild(
        company_id=member.company_id,
        name=name,
        open=form.get("open") in ("1", "on", "y"),
        member_cap=game.guild_member_cap,
        xp_reached_at=now(),
    )
    db.session.add(guild)
    db.session.flush()
    _enter(member, guild, "leader")
    return guild


def _enter(member: LegendsMember, guild: LegendsGuild, role: str) -> None:
    member.guild_id = guild.id
    member.guild_role = role
    db.session.execute(
        delete(LegendsGuildInvite)
        .where(LegendsGuildInvite.member_id == member.id)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    feed.touch(member)
    feed.touch_guild(guild.id)


def invite(member: LegendsMember, guild_id: int, form: Mapping[str, Any]) -> LegendsGuildInvite:
    """Invite another member of the game (`member_id`) into the guild: leaders and officers
    only. Flushed."""
    guild = guild_of(member, guild_id)
    if member.guild_id != guild.id or member.guild_role not in ("leader", "officer"):
        raise LegendsRefusal(403, "Only the guild's leader and officers can invite.")
    invitee_id = parse_id(form.get("member_id", ""))
    invitee = db.session.scalar(
        select(LegendsMember).where(LegendsMember.id == invitee_id, LegendsMember.company_id == member.company_id)
    )
    if invitee is None:
        raise InputError("member_id", "Choose a member of this game.")
    if invitee.guild_id == guild.id:
        raise LegendsRefusal(409, "They are already in this guild.", "member_id")
    invitation, _ = existing_or_added(
        LegendsGuildInvite,
        {"guild_id": guild.id, "member_id": invitee.id},
        company_id=member.company_id,
        invited_by_id=member.id,
    )
    return invitation


def join_guild(member: LegendsMember, guild_id: int) -> LegendsGuild:
    """Join a guild: open, or invited; not full; not while in another. Flushed."""
    guild = guild_of(member, guild_id)
    if member.guild_id is not None:
        raise LegendsRefusal(409, "Leave your guild before joining another.")
    invited = db.session.scalar(
        select(LegendsGuildInvite.id).where(
            LegendsGuildInvite.guild_id == guild.id, LegendsGuildInvite.member_id == member.id
        )
    )
    if not guild.open and invited is None:
        raise LegendsRefusal(403, "This guild is invitation only.")
    count = db.session.scalar(select(func.count(LegendsMember.id)).where(LegendsMember.guild_id == guild.id)) or 0
    if count >= guild.member_cap:
        raise LegendsRefusal(409, f"This guild is full ({guild.member_cap} members).")
    _enter(member, guild, "member")
    return guild


def leave_guild(member: LegendsMember) -> None:
    """Leave the member's guild (handing it over or closing it when they led it). Flushed."""
    if member.guild_id is None:
        raise LegendsRefusal(409, "You are not in a guild.")
    guild = guild_of(member, member.guild_id)
    feed.leave_boards(member.company_id, member.id, f"guild:{guild.id}")
    was_leader = member.guild_role == "leader"
    member.guild_id = None
    member.guild_role = None
    db.session.flush()
    feed.touch(member)
    remaining = guild_members(guild.id)
    if not remaining:
        feed.drop_guild(guild.company_id, guild.id)
        db.session.delete(guild)
        db.session.flush()
        return
    if was_leader:
        heir = sorted(remaining, key=lambda m: (m.guild_role != "officer", m.id))[0]
        heir.guild_role = "leader"
        db.session.flush()


def promote(member: LegendsMember, guild_id: int, form: Mapping[str, Any]) -> LegendsMember:
    """The leader makes a guild member an officer. Flushed."""
    guild = guild_of(member, guild_id)
    if member.guild_id != guild.id or member.guild_role != "leader":
        raise LegendsRefusal(403, "Only the guild's leader can appoint officers.")
    target = db.session.scalar(
        select(LegendsMember).where(
            LegendsMember.id == parse_id(form.get("member_id", "")), LegendsMember.guild_id == guild.id
        )
    )
    if target is None:
        raise InputError("member_id", "Choose a member of this guild.")
    if target.guild_role != "member":
        raise LegendsRefusal(409, "They are already an officer or the leader.", "member_id")
    target.guild_role = "officer"
    db.session.flush()
    return target
