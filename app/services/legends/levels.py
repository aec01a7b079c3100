"""The level curve and the game's periods (pure functions, no database).

Level curve: reaching level L takes `50 * L * (L - 1)` XP in the current prestige — level 2 at
100 XP, 3 at 300, 4 at 600, 10 at 4,500, 50 (the top) at 122,500. At the top level a member
may prestige: the XP counted for levels starts again from zero (level 1), total XP and the
prestige count stay.
"""

from datetime import UTC, date, datetime, timedelta

MAX_LEVEL = 50


def xp_for_level(level: int) -> int:
    """Total XP (within a prestige) at which `level` is reached."""
    return 50 * level * (level - 1)


def level_for_xp(xp: int) -> int:
    """The level `xp` (within a prestige) reaches, 1 to MAX_LEVEL."""
    level = 1
    while level < MAX_LEVEL and xp >= xp_for_level(level + 1):
        level += 1
    return level


def progress(xp: int) -> tuple[int, int, int]:
    """(level, XP into this level, XP this level spans; 0 at the top) for `xp` in a prestige."""
    level = level_for_xp(xp)
    if level == MAX_LEVEL:
        return level, xp - xp_for_level(level), 0
    return level, xp - xp_for_level(level), xp_for_level(level + 1) - xp_for_level(level)


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of `moment`'s ISO week."""
    day = moment.astimezone(UTC).date()
    return datetime.combine(day - timedelta(days=day.weekday()), datetime.min.time(), UTC)


def month_start(moment: datetime) -> datetime:
    """The first of `moment`'s month, 00:00 UTC."""
    day = moment.astimezone(UTC).date()
    return datetime(day.year, day.month, 1, tzinfo=UTC)


def period_key(period: str, moment: datetime) -> str:
    """The key of the quest/leaderboard period containing `moment`: "2026-11-30" (daily),
    "2026-W49" (weekly), "2026-11" (monthly), "special", "all"."""
    day: date = moment.astimezone(UTC).date()
    if period == "daily":
        return day.isoformat()
    if period == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "monthly":
        return f"{day.year}-{day.month:02d}"
    return period


def period_end(period: str, moment: datetime) -> datetime | None:
    """When the period containing `moment` ends (None: never)."""
    if period == "daily":
        day = moment.astimezone(UTC).date() + timedelta(days=1)
        return datetime.combine(day, datetime.min.time(), UTC)
    if period == "weekly":
        return week_start(moment) + timedelta(days=7)
    if period == "monthly":
        start = month_start(moment)
        return (start + timedelta(days=32)).replace(day=1)
    return None
