"""A company's game: opening it (with default classes, achievements and quests), members
joining and changing class, prestige, and what creators configure. Flushes, never commits."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.clock import now
from app.errors import InputError, NotFound
from app.extensions import db
from app.inputs import has_unstorable_characters, parse_id, parse_whole_number
from app.models import (
    Company,
    LegendsAchievement,
    LegendsClass,
    LegendsGame,
    LegendsMember,
    LegendsQuestTemplate,
    User,
)
from app.models.legends import (
    ACHIEVEMENT_RULES,
    MAX_QUEST_BONUS_CENTS,
    QUEST_DIFFICULTIES,
    QUEST_PERIODS,
    QUEST_TARGETS,
)
from app.services.legends import feed
from app.services.legends.engine import check_achievements, lock_member
from app.services.legends.levels import MAX_LEVEL
from app.services.legends.quests import issue_member_quests
from app.services.legends.refusals import LegendsRefusal

DEFAULT_CLASSES = (
    ("Scout", "Finds new people first: more XP for every referral and sale.", 120, 0),
    ("Sage", "Plays the long game: steady XP and a small commission bonus.", 100, 500),
    ("Champion", "Goes big: balanced XP, built for quests and guilds.", 110, 0),
)
DEFAULT_ACHIEVEMENTS = (
    ("first_referral", "First referral", "Your first referred customer bought.", "referrals", 1, 50),
    ("ten_referrals", "Ten referrals", "Ten referred customers bought.", "referrals", 10, 250),
    ("earned_1000", "$1,000 earned", "Your cleared commissions reached $1,000.", "commission", 100_000, 500),
    ("streak_7", "7-day streak", "Earned XP seven days in a row.", "streak", 7, 150),
    ("level_10", "Level 10", "Reached level 10.", "level", 10, 100),
    ("prestige", "Prestige", "Reached the top level and started again.", "prestige", 1, 1000),
)
DEFAULT_QUESTS = (
    ("Bring one friend today", "daily", "referrals", "easy", 1, 50),
    ("Three referrals this week", "weekly", "referrals", "normal", 3, 200),
    ("Earn commission this month", "monthly", "commission", "hard", 10_000, 500),
    ("Reach the next level", "special", "level", "easy", 1, 100),
)


def game_of(company: Company) -> LegendsGame | None:
    """The company's game (on or off), or None when it never opened one."""
    return db.session.scalar(select(LegendsGame).where(LegendsGame.company_id == company.id))


def open_game(company: Company, name: str | None = None) -> LegendsGame:
    """The company's game, opened with the default classes, achievements and quests if it had
    none. Flushed."""
    game = game_of(company)
    if game is not None:
        return game
    game = LegendsGame(company_id=company.id, name=name or f"{company.title} Legends"[:80], enabled=True, terms="")
    db.session.add(game)
    defaults = (
        (LegendsClass, ("name", "description", "xp_multiplier_pct", "commission_bonus_bps"), DEFAULT_CLASSES),
        (LegendsAchievement, ("code", "name", "description", "rule", "threshold", "reward_xp"), DEFAULT_ACHIEVEMENTS),
        (
            LegendsQuestTemplate,
            ("title", "period", "target_kind", "difficulty", "base_target", "reward_xp"),
            DEFAULT_QUESTS,
        ),
    )
    for model, fields, rows in defaults:
        for row in rows:
            db.session.add(model(company_id=company.id, **dict(zip(fields, row, strict=True))))
    db.session.flush()
    return game


def enabled_game(company: Company) -> LegendsGame:
    """The company's game when it is on; NotFound otherwise."""
    game = game_of(company)
    if game is None or not game.enabled:
        raise NotFound("This company has no Legends game.")
    return game


def classes_of(company_id: int) -> list[LegendsClass]:
    """The game's classes, in the order they were made."""
    return list(db.session.scalars(select(LegendsClass).where(LegendsClass.company_id == company_id).order_by("id")))


def membership(company: Company, user: User | None) -> LegendsMember | None:
    """The user's member row in the company's game, or None."""
    if user is None or not user.is_authenticated:
        return None
    return db.session.scalar(
        select(LegendsMember).where(LegendsMember.company_id == company.id, LegendsMember.user_id == user.id)
    )


def _class_choice(company_id: int, value: object) -> LegendsClass:
    class_id = parse_id(value) if isinstance(value, str) else None
    chosen = db.session.scalar(
        select(LegendsClass).where(LegendsClass.id == class_id, LegendsClass.company_id == company_id)
    )
    if chosen is None:
        raise LegendsRefusal(422, "Choose one of this game's classes.", "class_id")
    return chosen


def join_game(company: Company, user: User, class_value: object) -> LegendsMember:
    """Join the company's game with a class: once (409 the second time). Flushed."""
    game = enabled_game(company)
    if membership(company, user) is not None:
        raise LegendsRefusal(409, "You are already playing this game.")
    chosen = _class_choice(company.id, class_value)
    member = LegendsMember(company_id=game.company_id, user_id=user.id, class_id=chosen.id)
    db.session.add(member)
    db.session.flush()
    issue_member_quests(member)
    feed.touch(member)
    return member


def change_class(member: LegendsMember, game: LegendsGame, class_value: object) -> LegendsMember:
    """Switch the member's class: at most once per `game.class_change_days` days. Flushed."""
    chosen = _class_choice(member.company_id, class_value)
    if chosen.id == member.class_id:
        raise LegendsRefusal(409, f"You are already a {chosen.name}.", "class_id")
    next_change = member.class_changed_at + timedelta(days=game.class_change_days)
    if now() < next_change:
        raise LegendsRefusal(409, f"You can change class again on {next_change:%d %b %Y}.", "class_id")
    feed.leave_boards(member.company_id, member.id, f"class:{member.class_id}")
    member.class_id = chosen.id
    member.class_changed_at = now()
    db.session.flush()
    db.session.refresh(member)
    feed.touch(member)
    return member


def prestige(member: LegendsMember) -> LegendsMember:
    """At the top level: the level starts again at 1, prestige count +1 (its badge stays). Flushed."""
    member = lock_member(member.id)
    if member.level < MAX_LEVEL:
        raise LegendsRefusal(409, f"Prestige opens at level {MAX_LEVEL}.")
    member.prestige += 1
    member.prestige_xp = member.total_xp
    member.level = 1
    member.level_reached_at = now()
    db.session.flush()
    feed.touch(member)
    feed.announce(
        member,
        member.company_id,
        "prestige",
        {"member_id": member.id, "user_id": member.user_id, "prestige": member.prestige},
    )
    check_achievements(member)
    return member


# --------------------------------------------------------------------------- creators


def _text(form: Mapping[str, Any], field: str, label: str, limit: int, required: bool = True) -> str:
    value = form.get(field, "")
    value = value.strip() if isinstance(value, str) else ""
    if has_unstorable_characters(value):
        raise InputError(field, f"{label} contains characters we can't store.")
    if required and not value:
        raise InputError(field, f"{label} is required.")
    if len(value) > limit:
        raise InputError(field, f"{label} is too long: at most {limit} characters.")
    return value


def _number(form: Mapping[str, Any], field: str, label: str, low: int, high: int) -> int:
    number = parse_whole_number(form.get(field, ""), low=low, high=high)
    if number is None:
        raise InputError(field, f"{label} must be a whole number from {low:,} to {high:,}.")
    return number


def _choice(form: Mapping[str, Any], field: str, label: str, choices: tuple[str, ...]) -> str:
    value = form.get(field, "")
    if value not in choices:
        raise InputError(field, f"{label} must be one of: {', '.join(choices)}.")
    return str(value)


def _fill(row: Any, form: Mapping[str, Any], fields: tuple[tuple[Any, ...], ...]) -> Any:
    """Set each `(attribute, parse, *args)` of `fields` on `row` to `parse(form, attribute,
    *args)`, then `row.active` from the form's checkbox when the row has one; add, flush."""
    for name, parse, *args in fields:
        setattr(row, name, parse(form, name, *args))
    if hasattr(row, "active"):
        row.active = _checked(form, "active", "1")
    db.session.add(row)
    db.session.flush()
    return row


def _checked(form: Mapping[str, Any], field: str, default: str = "") -> bool:
    return form.get(field, default) in ("1", "on", "y")


def update_game(game: LegendsGame, form: Mapping[str, Any]) -> LegendsGame:
    """Save the game's settings from the creators' form. Flushed."""
    game.enabled = _checked(form, "enabled")
    game.class_commission_bonus = _checked(form, "class_commission_bonus")
    settings = (
        ("name", _text, "Name", 80),
        ("terms", _text, "Terms", 5000, False),
        ("class_change_days", _number, "Days between class changes", 0, 365),
        ("guild_member_cap", _number, "Guild member cap", 2, 500),
    )
    return _fill(game, form, settings)


def _unique(model: Any, company_id: int, column: Any, value: str, field: str, row_id: int | None) -> None:
    query = select(func.count()).select_from(model).where(model.company_id == company_id, column == value)
    if row_id is not None:
        query = query.where(model.id != row_id)
    if db.session.scalar(query):
        raise InputError(field, f"“{value}” is taken in this game.")


def save_class(company_id: int, form: Mapping[str, Any], klass: LegendsClass | None = None) -> LegendsClass:
    """Create or update a class from the creators' form. Flushed."""
    name = _text(form, "name", "Name", 40)
    _unique(LegendsClass, company_id, LegendsClass.name, name, "name", klass.id if klass else None)
    klass = klass or LegendsClass(company_id=company_id)
    klass.name = name
    fields = (
        ("description", _text, "Description", 300, False),
        ("xp_multiplier_pct", _number, "XP multiplier (%)", 50, 300),
        ("commission_bonus_bps", _number, "Commission bonus (basis points)", 0, 5000),
    )
    return _fill(klass, form, fields)


def save_quest_template(
    company_id: int, form: Mapping[str, Any], template: LegendsQuestTemplate | None = None
) -> LegendsQuestTemplate:
    """Create or update a quest template from the creators' form (a form without `bonus_cents`
    keeps the cash bonus as it was: none for a new quest). Flushed."""
    fields: tuple[tuple[Any, ...], ...] = (
        ("title", _text, "Title", 80),
        ("period", _choice, "Period", QUEST_PERIODS),
        ("target_kind", _choice, "Target", QUEST_TARGETS),
        ("difficulty", _choice, "Difficulty", QUEST_DIFFICULTIES),
        ("base_target", _number, "Target", 1, 10**9),
        ("reward_xp", _number, "Reward XP", 0, 100_000),
    )
    if "bonus_cents" in form:
        fields += (("bonus_cents", _number, "Cash bonus (cents)", 0, MAX_QUEST_BONUS_CENTS),)
    return _fill(template or LegendsQuestTemplate(company_id=company_id), form, fields)


def save_achievement(
    company_id: int, form: Mapping[str, Any], achievement: LegendsAchievement | None = None
) -> LegendsAchievement:
    """Create or update an achievement from the creators' form. Flushed."""
    name = _text(form, "name", "Name", 80)
    achievement = achievement or LegendsAchievement(company_id=company_id)
    if achievement.id is None:
        code = "-".join(name.lower().split())[:40]
        _unique(LegendsAchievement, company_id, LegendsAchievement.code, code, "name", None)
        achievement.code = code
    achievement.name = name
    fields = (
        ("description", _text, "Description", 300, False),
        ("rule", _choice, "Rule", ACHIEVEMENT_RULES),
        ("threshold", _number, "Threshold", 1, 10**12),
        ("reward_xp", _number, "Reward XP", 0, 100_000),
    )
    return _fill(achievement, form, fields)
