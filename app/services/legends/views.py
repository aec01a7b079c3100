"""What the game pages show (the member page, the Whop experience view, the fragments), read
from the database and the leaderboards. Board choices come from query arguments; anything
unknown falls back to the default board."""

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, cast

from flask import current_app, url_for
from markupsafe import Markup
from redis.exceptions import RedisError
from sqlalchemy import select

from app.extensions import db
from app.inputs import parse_id
from app.models import (
    Company,
    LegendsAchievement,
    LegendsClass,
    LegendsGame,
    LegendsGuild,
    LegendsGuildInvite,
    LegendsMember,
    LegendsMemberAchievement,
    User,
)
from app.services.legends import boardcache, boards, levels
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


def board_choice(
    company_id: int, args: Mapping[str, str], class_ids: Iterable[int] | None = None
) -> tuple[str, str, str]:
    """(category, period, scope) from query arguments, defaults for anything not offered
    (`class_ids`: the game's classes, when the caller has them)."""
    classes = set(class_ids if class_ids is not None else (klass.id for klass in classes_of(company_id)))

    def offered(kind: str, scope_id: int) -> bool:
        if kind == "class":
            return scope_id in classes
        guild = select(LegendsGuild.id).where(LegendsGuild.id == scope_id, LegendsGuild.company_id == company_id)
        return db.session.scalar(guild) is not None

    return cast(tuple[str, str, str], _choice(args, offered))


def _choice(args: Mapping[str, str], offered: Callable[[str, int], bool | None]) -> tuple[str, str, str] | None:
    """board_choice given `offered(kind, id)`: whether the game has that class or guild (None:
    cannot tell without the database, and then so is the answer)."""
    category = args.get("category", "xp")
    category = category if category in CATEGORY_LABELS else "xp"
    period = args.get("period", "all")
    period = period if period in boards.boards_of(category) and category != "guilds" else "all"
    kind, _, raw_id = args.get("scope", "all").partition(":")
    scope_id = parse_id(raw_id)
    if scope_id is None or kind not in ("class", "guild"):
        return category, period, "all"
    found = offered(kind, scope_id)
    if found is None:
        return None
    return category, period, f"{kind}:{scope_id}" if found else "all"


def _board_key(company_id: int, category: str, period: str, scope: str) -> str:
    return boards.guild_key(company_id) if category == "guilds" else boards.key(company_id, category, period, scope)


def _names(category: str, ids: list[int]) -> dict[int, str]:
    """What the board calls each row: a guild's name, or a member's "name · class"."""
    if category == "guilds":
        guilds = select(LegendsGuild.id, LegendsGuild.name).where(LegendsGuild.id.in_(ids))
        return dict(db.session.execute(guilds).tuples().all())
    people = (
        select(LegendsMember.id, User.display_name, LegendsClass.name)
        .join(User, User.id == LegendsMember.user_id)
        .join(LegendsClass, LegendsClass.id == LegendsMember.class_id)
        .where(LegendsMember.id.in_(ids))
    )
    return {member_id: f"{name} · {klass}" for member_id, name, klass in db.session.execute(people)}


def _render(template: str, **context: Any) -> Markup:
    """A board partial, rendered without the page's context (it is shared between viewers)."""
    return Markup(current_app.jinja_env.get_template(template).render(**context))


def _table(category: str, rows: list[tuple[int, int, int]]) -> Markup:
    names = _names(category, [row[1] for row in rows])
    return _render(
        "legends/_board_table.html", rows=rows, names=names, category=category, category_labels=CATEGORY_LABELS
    )


def _cached_table(board_key: str, category: str, seen: boards.Glance) -> Markup:
    """The board's top rows, rendered once per board version and game version (read first)."""
    return boardcache.tables.get_or_make(
        (board_key, seen.version, seen.game_version),
        lambda: _table(category, boards.top_entries(board_key, BOARD_LIMIT)),
    )


def _tabs(
    slug: str, classes: tuple[tuple[int, str], ...], guild_id: int | None, choice: tuple[str, str, str]
) -> Markup:
    """The board's tabs: the same for every viewer of the game in the same guild (kept)."""
    category, period, scope = choice

    def make() -> Markup:
        return _render(
            "legends/_board_tabs.html",
            board_url=lambda **args: url_for("legends.board", slug=slug, **args),
            category=category,
            period=period,
            scope=scope,
            classes=classes,
            guild_id=guild_id,
            category_labels=CATEGORY_LABELS,
            period_labels=PERIOD_LABELS,
            periods=boards.boards_of(category) if category != "guilds" else ("all",),
        )

    return boardcache.tabs.get_or_make((slug, classes, guild_id, choice), make)


def _marked(table: Markup, category: str, member_id: int | None) -> Markup:
    """The table with the viewer's own row highlighted (when they are in it)."""
    if category == "guilds" or member_id is None:
        return table
    row = f'<tr data-id="{member_id}">'
    return Markup(str(table).replace(row, f'<tr class="highlight" data-id="{member_id}">', 1))


def rank_line(board: boards.Board) -> Markup:
    """What the board says of the viewer's own place ("Your rank: #12 of 3,400 (1,250)")."""
    if board.my_rank:
        return Markup(
            f"Your rank: <strong>#{board.my_rank:,}</strong> of {board.total:,} ({cast(int, board.my_score):,})"
        )
    return Markup("Your rank: not on this board yet")


def board_context(
    company: Company,
    member: LegendsMember | None,
    args: Mapping[str, str],
    game_classes: list[LegendsClass] | None = None,
) -> dict[str, Any]:
    """The leaderboard block: the viewer's rank, the top rows (kept between requests while the
    board and the game have not changed) and the tabs (`game_classes`: when the caller has them)."""
    classes = tuple((klass.id, klass.name) for klass in (game_classes or classes_of(company.id)))
    category, period, scope = board_choice(company.id, args, [class_id for class_id, _ in classes])
    guild_id = member.guild_id if member else None
    viewer_id = guild_id if category == "guilds" else (member.id if member else None)
    board_key = _board_key(company.id, category, period, scope)
    table = None
    try:
        seen = boards.glance(company.id, board_key, viewer_id)
        if seen.total:
            board = boards.Board([], seen.my_rank, seen.my_score, "redis", seen.total)
            table = _cached_table(board_key, category, seen)
    except RedisError:
        boardcache.forget_all()
    if table is None:  # Redis unavailable or an empty board: `top` answers from the database
        board = boards.top(company.id, category, period, scope, BOARD_LIMIT, viewer_id)
        table = _table(category, board.rows)
    return {
        "board": board,
        "board_rank": rank_line(board),
        "board_table": _marked(table, category, member.id if member else None),
        "board_tabs": _tabs(company.slug, classes, guild_id, (category, period, scope)),
    }


def _card(slug: str, user_id: int, version: str | None) -> boardcache.Card | None:
    """The game and the viewer's member row as the board needs them, from the database and
    kept under `version` (read before); None when the game or the membership is not there."""
    found = db.session.execute(
        select(
            Company.id.label("company_id"),
            Company.kind,
            Company.status,
            LegendsGame.enabled,
            LegendsMember.id.label("member_id"),
            LegendsMember.guild_id,
        )
        .join(LegendsGame, LegendsGame.company_id == Company.id)
        .join(LegendsMember, (LegendsMember.company_id == Company.id) & (LegendsMember.user_id == user_id))
        .where(Company.slug == slug)
    ).one_or_none()
    if found is None or found.kind != "seller" or found.status == "suspended" or not found.enabled:
        return None
    classes = tuple((klass.id, klass.name) for klass in classes_of(found.company_id))
    card = boardcache.Card(found.company_id, slug, found.member_id, found.guild_id, classes, version)
    return boardcache.cards.put((slug, user_id), card)


def _fast_choice(args: Mapping[str, str], card: boardcache.Card) -> tuple[str, str, str] | None:
    class_ids = {class_id for class_id, _ in card.classes}
    return _choice(
        args, lambda kind, scope_id: scope_id in class_ids if kind == "class" else (scope_id == card.guild_id or None)
    )


# Where the viewer's rank line goes in a kept fragment: a comment, which rendered names (escaped)
# cannot contain.
RANK_SLOT = "<!--board-rank-->"


def _fragment_parts(
    board_key: str, category: str, seen: boards.Glance, card: boardcache.Card, choice: tuple[str, str, str]
) -> tuple[bytes, bytes]:
    """The leaderboard fragment as UTF-8 before and after the viewer's rank line: the same for
    every viewer of the board in the same guild, rendered once per board and game version and
    kept (the viewer's own row is highlighted in the second part per request)."""

    def make() -> tuple[bytes, bytes]:
        fragment = _render(
            "legends/_board.html",
            board_url=True,
            board=boards.Board([], None, None, "redis", seen.total),
            board_rank=Markup(RANK_SLOT),
            board_tabs=_tabs(card.slug, card.classes, card.guild_id, choice),
            board_table=_cached_table(board_key, category, seen),
        )
        head, _, tail = str(fragment).partition(RANK_SLOT)
        return head.encode(), tail.encode()

    key = (board_key, seen.version, seen.game_version, card.slug, card.classes, card.guild_id, choice)
    return cast(tuple[bytes, bytes], boardcache.fragments.get_or_make(key, make))


def board_fragment(
    slug: str,
    user_id: int,
    args: Mapping[str, str],
    also: tuple[str, ...] = (),
    vouch: Callable[[tuple[bytes | None, ...]], bool] | None = None,
) -> bytes | None:
    """The leaderboard fragment (the tabs' htmx swap) for a signed-in player, as UTF-8, from one
    Redis round trip and the parts kept between requests — no SQL and no template while the
    game has not changed: the kept parts around the viewer's rank line.

    `also`, `vouch`: Redis keys read in the same round trip, and what must say yes to their
    values before anything is answered (the viewer's session generations: the caller's check
    that `user_id` is still signed in).

    None when it must be answered the full way: not a member of an open game (the full way
    says why), another guild's board (the database says whether it exists), Redis unavailable,
    an empty board (computed from the database), or `vouch` said no.
    """
    card = boardcache.cards.get((slug, user_id)) or _card(slug, user_id, None)
    if card is None or (choice := _fast_choice(args, card)) is None:
        return None
    category, period, scope = choice
    viewer_id = card.guild_id if category == "guilds" else card.member_id
    board_key = _board_key(card.company_id, category, period, scope)
    try:
        seen = boards.glance(card.company_id, board_key, viewer_id, also)
        if vouch is not None and not vouch(seen.also):
            return None
        if card.version != seen.game_version:
            card = _card(slug, user_id, seen.game_version)
            if card is None or _fast_choice(args, card) != choice:
                return None
            if (card.guild_id if category == "guilds" else card.member_id) != viewer_id:
                return None
        if not seen.total:
            return None
        head, tail = _fragment_parts(board_key, category, seen, card, choice)
    except RedisError:
        boardcache.forget_all()
        return None
    if category != "guilds":
        row = b'<tr data-id="%d">' % card.member_id
        tail = tail.replace(row, b'<tr class="highlight" data-id="%d">' % card.member_id, 1)
    rank = rank_line(boards.Board([], seen.my_rank, seen.my_score, "redis", seen.total))
    return b"".join((head, rank.encode(), tail))


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
    mine = (LegendsMemberAchievement.achievement_id == LegendsAchievement.id) & (
        LegendsMemberAchievement.member_id == member.id
    )
    shown = db.session.execute(
        select(LegendsAchievement, LegendsMemberAchievement.unlocked_at)
        .outerjoin(LegendsMemberAchievement, mine)
        .where(LegendsAchievement.company_id == company.id, LegendsAchievement.active.is_(True))
        .order_by(LegendsAchievement.id)
    ).all()
    achievements = [achievement for achievement, _ in shown]
    unlocked = {achievement.id: at for achievement, at in shown if at is not None}
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
        **board_context(company, member, args, context["classes"]),
    )
    return context
