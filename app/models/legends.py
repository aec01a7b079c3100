"""Legends: a seller company's referral game — its settings, classes, members, the XP ledger,
quests, achievements, guilds and the members' game feed (docs/legends.md)."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON, BigInteger, Boolean, Date, Integer, String, Text

from app.clock import now
from app.extensions import Model
from app.models.mixins import CreatedAt
from app.models.types import UTCDateTime, string_enum
from app.tenancy import TenantOwned

QUEST_PERIODS = ("daily", "weekly", "monthly", "special")
QUEST_TARGETS = ("referrals", "commission", "level", "achievements")
QUEST_DIFFICULTIES = ("easy", "normal", "hard", "epic")
ACHIEVEMENT_RULES = ("referrals", "commission", "streak", "prestige", "level", "quests")
GUILD_ROLES = ("leader", "officer", "member")
# The most a quest may pay in cash on top of its XP, in minor units ($1,000.00).
MAX_QUEST_BONUS_CENTS = 100_000


def _unique_in_game(table: str, column: str) -> UniqueConstraint:
    """`column` is unique within each company's game."""
    return UniqueConstraint("company_id", column, name=f"uq_{table}_company_id_{column}")


def _bounded(column: str, low: int, high: int) -> CheckConstraint:
    """CHECK that `column` lies in [low, high], named the column: types.between() in the words
    migrations 0021 and 0024 gave these tables (`>= AND <=`, not BETWEEN). The text stays as
    migrated: tests/test_migrations.py compares every CHECK with its migration's."""
    return CheckConstraint(f"{column} >= {low} AND {column} <= {high}", name=column)


class LegendsGame(TenantOwned, CreatedAt, Model):
    """One company's game: on/off and its settings."""

    __tablename__ = "legends_games"
    __table_args__ = (
        UniqueConstraint("company_id", name="uq_legends_games_company_id"),
        _bounded("class_change_days", 0, 365),
        _bounded("guild_member_cap", 2, 500),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str] = mapped_column(String(80))
    terms: Mapped[str] = mapped_column(Text, default="")
    class_change_days: Mapped[int] = mapped_column(Integer, default=30)
    guild_member_cap: Mapped[int] = mapped_column(Integer, default=20)
    # The seller funds its classes' commission bonuses (LegendsClass.commission_bonus_bps).
    class_commission_bonus: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    company = relationship("Company")


class LegendsClass(TenantOwned, CreatedAt, Model):
    """A character class: its XP multiplier, and the extra commission the seller funds for it
    (basis points on top of the program's rate; 0 = none)."""

    __tablename__ = "legends_classes"
    __table_args__ = (
        _unique_in_game("legends_classes", "name"),
        _bounded("xp_multiplier_pct", 50, 300),
        _bounded("commission_bonus_bps", 0, 5000),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(300), default="")
    xp_multiplier_pct: Mapped[int] = mapped_column(Integer, default=100)
    commission_bonus_bps: Mapped[int] = mapped_column(Integer, default=0)


class LegendsMember(TenantOwned, Model):
    """A user playing a company's game. The counters are caches of the XP ledger
    (legends_xp_awards) that `flask legends rebuild-leaderboards` recomputes."""

    __tablename__ = "legends_members"
    __table_args__ = (
        _unique_in_game("legends_members", "user_id"),
        CheckConstraint("prestige >= 0", name="prestige"),
        Index("ix_legends_members_company_id_total_xp", "company_id", "total_xp"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("legends_classes.id"), index=True)
    guild_id: Mapped[int | None] = mapped_column(ForeignKey("legends_guilds.id", ondelete="SET NULL"), index=True)
    guild_role: Mapped[str | None] = mapped_column(string_enum(GUILD_ROLES, "guild_role"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    class_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    prestige: Mapped[int] = mapped_column(Integer, default=0)
    # XP already spent on earlier prestiges: the level counts only XP above it.
    prestige_xp: Mapped[int] = mapped_column(BigInteger, default=0)
    total_xp: Mapped[int] = mapped_column(BigInteger, default=0)
    level: Mapped[int] = mapped_column(Integer, default=1)
    level_reached_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    referrals: Mapped[int] = mapped_column(Integer, default=0)
    commission_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    streak_days: Mapped[int] = mapped_column(Integer, default=0)
    last_active_on: Mapped[date | None] = mapped_column(Date)

    user = relationship("User", lazy="joined")
    company = relationship("Company")
    klass = relationship("LegendsClass", lazy="joined")
    guild = relationship("LegendsGuild", foreign_keys=[guild_id])


class LegendsXpAward(TenantOwned, CreatedAt, Model):
    """One append-only line of the XP ledger. `source_key` names what earned it
    ("referral:88", "commission:140:cleared", "quest:9"); unique per member, so a replayed or
    retried event awards once. A reversal is its own line with a negative amount."""

    __tablename__ = "legends_xp_awards"
    __table_args__ = (
        UniqueConstraint("company_id", "member_id", "source_key", name="uq_legends_xp_awards_source"),
        Index("ix_legends_xp_awards_member_id_created_at", "member_id", "created_at"),
        Index("ix_legends_xp_awards_company_id_created_at", "company_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("legends_members.id", ondelete="CASCADE"))
    source_key: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(24))
    amount: Mapped[int] = mapped_column(BigInteger)
    referrals_delta: Mapped[int] = mapped_column(Integer, default=0)
    commission_cents_delta: Mapped[int] = mapped_column(BigInteger, default=0)


class LegendsQuestTemplate(TenantOwned, CreatedAt, Model):
    """A creator's quest: issued to every member each period, its target scaled to the member's
    level when issued."""

    __tablename__ = "legends_quest_templates"
    __table_args__ = (
        CheckConstraint("base_target >= 1", name="base_target"),
        _bounded("reward_xp", 0, 100000),
        _bounded("bonus_cents", 0, MAX_QUEST_BONUS_CENTS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(string_enum(QUEST_PERIODS, "period"))
    target_kind: Mapped[str] = mapped_column(string_enum(QUEST_TARGETS, "target_kind"))
    difficulty: Mapped[str] = mapped_column(string_enum(QUEST_DIFFICULTIES, "difficulty"))
    base_target: Mapped[int] = mapped_column(BigInteger)
    reward_xp: Mapped[int] = mapped_column(Integer)
    # A cash bonus the seller pays from its available balance on claiming (0 = XP only).
    bonus_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class LegendsQuest(TenantOwned, CreatedAt, Model):
    """A quest issued to one member for one period (`period_key`: "2026-11-30", "2026-W49",
    "2026-11" or "special"); issued once per key, claimed once."""

    __tablename__ = "legends_quests"
    __table_args__ = (
        UniqueConstraint("member_id", "template_id", "period_key", name="uq_legends_quests_member_template_period"),
        CheckConstraint("target >= 1", name="target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("legends_quest_templates.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("legends_members.id", ondelete="CASCADE"), index=True)
    period_key: Mapped[str] = mapped_column(String(16))
    target: Mapped[int] = mapped_column(BigInteger)
    progress: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set with `claimed_at` when a cash bonus is paid: the random key its ledger transaction's
    # reference is built from (unique per deployment; ids repeat after a database reset).
    bonus_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    template = relationship("LegendsQuestTemplate", lazy="joined")


class LegendsAchievement(TenantOwned, CreatedAt, Model):
    """A rule-based badge: unlocked when the member's `rule` figure reaches `threshold`."""

    __tablename__ = "legends_achievements"
    __table_args__ = (
        _unique_in_game("legends_achievements", "code"),
        CheckConstraint("threshold >= 1", name="threshold"),
        _bounded("reward_xp", 0, 100000),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(300), default="")
    rule: Mapped[str] = mapped_column(string_enum(ACHIEVEMENT_RULES, "rule"))
    threshold: Mapped[int] = mapped_column(BigInteger)
    reward_xp: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class LegendsMemberAchievement(TenantOwned, Model):
    """An achievement a member unlocked (once)."""

    __tablename__ = "legends_member_achievements"
    __table_args__ = (
        UniqueConstraint("member_id", "achievement_id", name="uq_legends_member_achievements_member_achievement"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("legends_members.id", ondelete="CASCADE"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("legends_achievements.id", ondelete="CASCADE"))
    unlocked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    achievement = relationship("LegendsAchievement", lazy="joined")


class LegendsGuild(TenantOwned, CreatedAt, Model):
    """A team of members; its XP is what its members earned while in it."""

    __tablename__ = "legends_guilds"
    __table_args__ = (
        _unique_in_game("legends_guilds", "name"),
        _bounded("member_cap", 2, 500),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    open: Mapped[bool] = mapped_column(Boolean, default=False)
    member_cap: Mapped[int] = mapped_column(Integer, default=20)
    xp: Mapped[int] = mapped_column(BigInteger, default=0)
    xp_reached_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class LegendsGuildInvite(TenantOwned, CreatedAt, Model):
    """An open invitation of a member into a guild (used up on joining)."""

    __tablename__ = "legends_guild_invites"
    __table_args__ = (UniqueConstraint("guild_id", "member_id", name="uq_legends_guild_invites_guild_member"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    guild_id: Mapped[int] = mapped_column(ForeignKey("legends_guilds.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("legends_members.id", ondelete="CASCADE"), index=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("legends_members.id", ondelete="CASCADE"))


class LegendsFeedEvent(TenantOwned, CreatedAt, Model):
    """What the game announced (level-ups, quests, achievements, leaderboard moves): the polling
    fallback of the live updates reads it. `member_id` None = for the whole game."""

    __tablename__ = "legends_feed_events"
    __table_args__ = (Index("ix_legends_feed_events_company_id_id", "company_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("legends_members.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(JSON)
