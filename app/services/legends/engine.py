"""The XP ledger: awarding XP once per source, and what an award moves — the member's cached
figures and level, streak, quest progress, achievements, guild XP, feed and leaderboards.

Every function flushes and never commits; the caller's transaction (the request or job that
earned the XP) commits or rolls back all of it together.
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.clock import now
from app.extensions import db
from app.models import (
    LegendsAchievement,
    LegendsGuild,
    LegendsMember,
    LegendsMemberAchievement,
    LegendsQuest,
    LegendsXpAward,
)
from app.services.legends import feed
from app.services.legends.levels import level_for_xp
from app.services.notifications import notify_user


@dataclass(frozen=True)
class Earning:
    """What an event earns: base XP (before the class multiplier unless `exact`), and the
    referral and commission figures it adds."""

    kind: str
    xp: int
    referrals: int = 0
    commission_cents: int = 0
    exact: bool = False


def lock_member(member_id: int) -> LegendsMember:
    """The member row, locked for this transaction (FOR UPDATE on PostgreSQL) and fresh."""
    return db.session.scalars(
        select(LegendsMember)
        .where(LegendsMember.id == member_id)
        .with_for_update(of=LegendsMember)
        .execution_options(populate_existing=True)
    ).one()


def award_xp(member: LegendsMember, source_key: str, earning: Earning) -> LegendsXpAward | None:
    """Award `earning` to the member once per `source_key`: None when that source already
    awarded (a replay or a concurrent retry — the unique key decides, inside a savepoint)."""
    amount = earning.xp if earning.exact else earning.xp * member.klass.xp_multiplier_pct // 100
    award = LegendsXpAward(
        company_id=member.company_id,
        member_id=member.id,
        source_key=source_key[:120],
        kind=earning.kind,
        amount=amount,
        referrals_delta=earning.referrals,
        commission_cents_delta=earning.commission_cents,
    )
    try:
        with db.session.begin_nested():
            db.session.add(award)
            db.session.flush()
    except IntegrityError:
        return None
    member = lock_member(member.id)
    member.total_xp += amount
    member.referrals += earning.referrals
    member.commission_cents += earning.commission_cents
    if amount > 0:
        _count_active_day(member)
    old_level = member.level
    member.level = level_for_xp(member.total_xp - member.prestige_xp)
    if member.level != old_level:
        member.level_reached_at = award.created_at
    if member.guild_id is not None and amount:
        db.session.execute(
            update(LegendsGuild)
            .where(LegendsGuild.id == member.guild_id)
            .values(xp=LegendsGuild.xp + amount, xp_reached_at=award.created_at)
        )
        feed.touch_guild(member.guild_id)
    db.session.flush()
    feed.touch(member)
    announce = {"member_id": member.id, "user_id": member.user_id}
    feed.announce(
        member,
        member.company_id,
        "xp_awarded",
        {**announce, "amount": amount, "total_xp": member.total_xp, "level": member.level, "source": earning.kind},
    )
    if member.level > old_level:
        feed.announce(
            member,
            member.company_id,
            "level_up",
            {
                **announce,
                "display_name": member.user.display_name,
                "old_level": old_level,
                "level": member.level,
                "total_xp": member.total_xp,
                "prestige": member.prestige,
            },
        )
    advance_quests(member, earning)
    check_achievements(member)
    return award


def _count_active_day(member: LegendsMember) -> None:
    today = now().date()
    if member.last_active_on == today:
        return
    yesterday = today - timedelta(days=1)
    member.streak_days = member.streak_days + 1 if member.last_active_on == yesterday else 1
    member.last_active_on = today


def advance_quests(member: LegendsMember, earning: Earning | None = None, achievements: int = 0) -> None:
    """Move the member's open quests on by what just happened; announce the ones now complete."""
    moment = now()
    quests = db.session.scalars(
        select(LegendsQuest).where(
            LegendsQuest.member_id == member.id,
            LegendsQuest.completed_at.is_(None),
            (LegendsQuest.expires_at.is_(None)) | (LegendsQuest.expires_at > moment),
        )
    ).all()
    for quest in quests:
        kind = quest.template.target_kind
        if kind == "level":
            quest.progress = max(quest.progress, member.level)
        elif kind == "referrals" and earning is not None:
            quest.progress = max(0, quest.progress + earning.referrals)
        elif kind == "commission" and earning is not None:
            quest.progress = max(0, quest.progress + earning.commission_cents)
        elif kind == "achievements":
            quest.progress += achievements
        if quest.progress >= quest.target:
            quest.completed_at = moment
            feed.announce(
                member,
                member.company_id,
                "quest_completed",
                {
                    "member_id": member.id,
                    "user_id": member.user_id,
                    "quest_id": quest.id,
                    "title": quest.template.title,
                    "reward_xp": quest.template.reward_xp,
                },
            )
    db.session.flush()


def member_figure(member: LegendsMember, rule: str) -> int:
    """The member's figure an achievement rule compares with its threshold."""
    if rule == "quests":
        return (
            db.session.scalar(
                select(func.count(LegendsQuest.id)).where(
                    LegendsQuest.member_id == member.id, LegendsQuest.claimed_at.is_not(None)
                )
            )
            or 0
        )
    return {
        "referrals": member.referrals,
        "commission": member.commission_cents,
        "streak": member.streak_days,
        "prestige": member.prestige,
        "level": member.level + 1000 * member.prestige,
    }[rule]


def check_achievements(member: LegendsMember) -> list[LegendsAchievement]:
    """Unlock (once each) the active achievements whose rule the member now meets: a row, the
    reward XP, a notification and a feed event each. Returns the ones unlocked now."""
    unlocked_ids = select(LegendsMemberAchievement.achievement_id).where(
        LegendsMemberAchievement.member_id == member.id
    )
    candidates = db.session.scalars(
        select(LegendsAchievement)
        .where(
            LegendsAchievement.company_id == member.company_id,
            LegendsAchievement.active.is_(True),
            LegendsAchievement.id.not_in(unlocked_ids),
        )
        .order_by(LegendsAchievement.id)
    ).all()
    unlocked = []
    for achievement in candidates:
        if member_figure(member, achievement.rule) < achievement.threshold:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(
                    LegendsMemberAchievement(
                        company_id=member.company_id, member_id=member.id, achievement_id=achievement.id
                    )
                )
                db.session.flush()
        except IntegrityError:
            continue
        unlocked.append(achievement)
        notify_user(
            member.user,
            "legends.achievement",
            f"Achievement unlocked: {achievement.name}",
            body=achievement.description,
            link=f"/legends/{member.company.slug}" if member.company else None,
        )
        feed.announce(
            member,
            member.company_id,
            "achievement_unlocked",
            {
                "member_id": member.id,
                "user_id": member.user_id,
                "achievement_id": achievement.id,
                "code": achievement.code,
                "name": achievement.name,
            },
        )
    if unlocked:
        advance_quests(member, achievements=len(unlocked))
        for achievement in unlocked:
            if achievement.reward_xp:
                award_xp(
                    member, f"achievement:{achievement.id}", Earning("achievement", achievement.reward_xp, exact=True)
                )
    return unlocked
