"""What the game pages show (the member page, the Whop experience view, the fragments), read
from the database and the leaderboards. Board choices come from query arguments; anything
unknown falls back to the default board."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.inputs import parse_id
from app.models import (
    Company,
    LegendsAchievement,
    LegendsGame,
    LegendsGuild,
    LegendsGuildInvite,
    LegendsMember,
    LegendsMemberAchievement,
)
from app.services.legends import boards, levels
from app.services.legends.feed import last_feed_id
from app.services.legends.game import classes_of
from app.services.legends.guilds import guild_members
from app.services.legends.quests import open_quests

BOARD_LIMIT = 100
CATEGORY_LABELS = {
    "xp": "XP",
    "level": "Level",
    "referrals": "Referrals",
    "commission": "Commission",
    "guilds": "Guilds",
}
PERIOD_LABELS = {"all": "All time", "weekly": "This week", "monthly": "This month"}


def board_choice(company_id: int, args: Mapping[str, str]) -> tuple[str, str, str]:
    """(category, period, scope) from query arguments, defaults for anything not offered."""
    category = args.get("category", "xp")
    category = category if category in CATEGORY_LABELS else "xp"
    period = args.get("period", "all")
    period = period if period in boards.boards_of(category) and category != "guilds" else "all"
    scope = args.get("scope", "all")
    kind, _, raw_id = scope.partition(":")
    scope_id = parse_id(raw_id)
    if scope_id is None:
        return category, period, "all"
    if kind == "class" and scope_id in {klass.id for klass in classes_of(company_id)}:
        return category, period, f"class:{scope_id}"
    if kind == "guild" and db.session.scalar(
        select(LegendsGuild.id).where(LegendsGuild.id == scope_id, LegendsGuild.company_id == company_id)
    ):
        return category, period, f"guild:{scope_id}"
    return category, period, "all"


def board_context(company: Company, member: LegendsMember | None, args: Mapping[str, str]) -> dict[str, Any]:
    """The leaderboard block: the board, the names on it, the choices."""
    category, period, scope = board_choice(company.id, args)
    if category == "guilds":
        board = boards.top(company.id, "guilds", "all", "all", BOARD_LIMIT, member.guild_id if member else None)
        rows = db.session.scalars(select(LegendsGuild).where(LegendsGuild.id.in_([r[1] for r in board.rows]))).all()
        names = {row.id: row.name for row in rows}
    else:
        board = boards.top(company.id, category, period, scope, BOARD_LIMIT, member.id if member else None)
        people = db.session.scalars(select(LegendsMember).where(LegendsMember.id.in_([r[1] for r in board.rows]))).all()
        names = {m.id: f"{m.user.display_name} · {m.klass.name}" for m in people}
    return {
        "board": board,
        "classes": classes_of(company.id),
        "board_names": names,
        "category": category,
        "period": period,
        "scope": scope,
        "category_labels": CATEGORY_LABELS,
        "period_labels": PERIOD_LABELS,
        "periods": boards.boards_of(category) if category != "guilds" else ("all",),
    }


def game_context(
    company: Company, game: LegendsGame, member: LegendsMember | None, args: Mapping[str, str]
) -> dict[str, Any]:
    """Everything the game page shows to `member` (None: someone who has not joined)."""
    context: dict[str, Any] = {
        "company": company,
        "classes": classes_of(company.id),
        "game": game,
        "member": member,
        "last_event_id": last_feed_id(company.id),
        "max_level": levels.MAX_LEVEL,
        "errors": {},
        "error": None,
    }
    if member is None:
        return context
    level, into, span = levels.progress(member.total_xp - member.prestige_xp)
    unlocked = {
        row.achievement_id: row.unlocked_at
        for row in db.session.scalars(
            select(LegendsMemberAchievement).where(LegendsMemberAchievement.member_id == member.id)
        )
    }
    achievements = db.session.scalars(
        select(LegendsAchievement)
        .where(LegendsAchievement.company_id == company.id, LegendsAchievement.active.is_(True))
        .order_by(LegendsAchievement.id)
    ).all()
    invites = db.session.scalars(
        select(LegendsGuild)
        .join(LegendsGuildInvite, LegendsGuildInvite.guild_id == LegendsGuild.id)
        .where(LegendsGuildInvite.member_id == member.id)
    ).all()
    open_guilds = db.session.scalars(
        select(LegendsGuild)
        .where(LegendsGuild.company_id == company.id, LegendsGuild.open.is_(True))
        .order_by(LegendsGuild.xp.desc())
        .limit(10)
    ).all()
    context.update(
        level=level,
        level_into=into,
        level_span=span,
        level_pct=100 if not span else into * 100 // span,
        quests=open_quests(member),
        achievements=achievements,
        unlocked=unlocked,
        guild=member.guild,
        guild_members=guild_members(member.guild_id) if member.guild_id else [],
        invites=invites,
        open_guilds=open_guilds,
        next_class_change=member.class_changed_at + timedelta(days=game.class_change_days),
        **board_context(company, member, args),
    )
    return context
