"""Legends leaderboards: Redis sorted sets that agree with a from-scratch recomputation from the
XP ledger (also after `flask legends rebuild-leaderboards`), ties to whoever got there first,
"your rank" far down the board, and the database board while Redis is down."""

import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from jinja2_fragments.flask import render_block
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import event as sa_event
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.local_cache import LocalCache
from app.models import LegendsClass
from app.services.legends import boardcache, boards
from app.services.legends.game import join_game
from app.services.legends.guilds import create_guild
from app.services.legends.views import board_context
from tests.legends_game import class_id, commission, game_for, member_row, referral
from tests.processes import free_port

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    """The clock pinned at START; `frozen(seconds)` moves it on."""
    clock.freeze(START)

    def move(seconds):
        clock.freeze(START + timedelta(seconds=seconds))

    yield move
    clock.freeze(None)


def _players(company, make_user, count, klass="Scout"):
    players = []
    for _ in range(count):
        user = make_user()
        join_game(company, user, str(class_id(company, klass)))
        players.append(user)
    db.session.commit()
    return players


def _every_board(company_id):
    scopes = ["all"] + [
        f"class:{cid}"
        for cid in db.session.scalars(select(LegendsClass.id).where(LegendsClass.company_id == company_id))
    ]
    for category in boards.CATEGORIES:
        for period in boards.boards_of(category):
            for scope in scopes:
                yield category, period, scope


def _assert_redis_matches_database(company_id):
    for category, period, scope in _every_board(company_id):
        served = boards.top(company_id, category, period, scope, limit=1000)
        assert served.source == "redis"
        computed = boards.compute_rows(company_id, category, period, scope)
        assert [(row[1], row[2]) for row in served.rows] == [(row.id, row.score) for row in computed], (
            category,
            period,
            scope,
        )


def test_boards_match_a_recomputation_before_and_after_a_rebuild(app, db, make_seller, make_user, frozen):
    _owner, company = make_seller()
    game_for(company)
    scouts = _players(company, make_user, 4)
    sages = _players(company, make_user, 3, "Sage")
    for step, user in enumerate(scouts + sages):
        frozen(step * 60)
        for n in range(step % 3 + 1):
            referral(company, user, 1000 + step * 10 + n)
        if step % 2:
            commission(company, user, 2000 + step, amount_cents=500 * step)
    _assert_redis_matches_database(company.id)
    app.extensions["redis"].flushdb()
    result = app.test_cli_runner().invoke(args=["legends", "rebuild-leaderboards"])
    assert result.exit_code == 0 and f"company {company.id}:" in result.output
    _assert_redis_matches_database(company.id)


def test_ties_go_to_whoever_got_there_first(db, make_seller, make_user, frozen):
    _owner, company = make_seller()
    game_for(company)
    first, second, third = _players(company, make_user, 3)
    frozen(10)
    referral(company, second, 1)
    frozen(20)
    referral(company, first, 2)
    frozen(30)
    referral(company, third, 3)
    ids = [member_row(company, user).id for user in (second, first, third)]
    board = boards.top(company.id, "referrals", "all")
    assert [row[1] for row in board.rows] == ids
    assert [row[1] for row in boards.top(company.id, "xp", "weekly").rows] == ids
    assert [row.id for row in boards.compute_rows(company.id, "referrals", "all")] == ids


def test_your_rank_is_shown_far_down_the_board(client, db, make_seller, make_user, sign_in, frozen):
    _owner, company = make_seller()
    game_for(company)
    players = _players(company, make_user, 30)
    for step, user in enumerate(players[:-1]):
        frozen(step)
        referral(company, user, 5000 + step)
    last = players[-1]
    board = boards.top(company.id, "xp", "all", limit=10, viewer_id=member_row(company, last).id)
    assert len(board.rows) == 10 and board.my_rank == 30 and board.total == 30
    sign_in(last)
    page = client.get(f"/legends/{company.slug}/board?category=xp&period=all&scope=all")
    assert page.status_code == 200 and "Your rank: <strong>#30</strong> of 30" in page.get_data(as_text=True)
    fragment = client.get(
        f"/legends/{company.slug}/board?category=referrals&period=weekly", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    for query in ("category=zzz&period=999&scope=class:abc", "scope=guild:99999999999999999999", "scope=class:-1"):
        hostile = client.get(f"/legends/{company.slug}/board?{query}")
        assert hostile.status_code == 200 and "Your rank: <strong>#30</strong>" in hostile.get_data(as_text=True)
    assert client.get(f"/legends/{company.slug}/board?category=%00").status_code == 400


def test_with_redis_down_the_board_comes_from_the_database(
    app, client, db, make_seller, make_user, sign_in, monkeypatch
):
    _owner, company = make_seller()
    game_for(company)
    leader, player = _players(company, make_user, 2)
    referral(company, leader, 1)
    sign_in(player)
    dead = redis_lib.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    monkeypatch.setitem(app.extensions, "redis", dead)
    referral(company, player, 2)  # the award commits; only the Redis write is lost
    assert member_row(company, player).total_xp == 170
    page = client.get(f"/legends/{company.slug}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "computed just now" in body
    assert "Your rank: <strong>#2</strong> of 2" in body
    assert client.get(f"/legends/{company.slug}/board?category=guilds").status_code == 200


def _tab(client, company, query="category=xp&period=all&scope=all"):
    """The board as a tab swaps it in (htmx, not boosted): the kept-parts path."""
    response = client.get(f"/legends/{company.slug}/board?{query}", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    return response.get_data(as_text=True)


def _row(body, member_id):
    """The board's row of `member_id` (its opening tag to its closing one), "" when absent."""
    start = body.find(f'data-id="{member_id}"')
    return "" if start < 0 else body[body.rfind("<tr", 0, start) : body.find("</tr>", start)]


@contextmanager
def _statements():
    """The SQL statements run meanwhile."""
    seen = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", note)


def test_a_kept_board_changes_after_an_xp_award(client, db, make_seller, make_user, sign_in, frozen):
    _owner, company = make_seller()
    game_for(company)
    leader, climber, viewer = _players(company, make_user, 3)
    referral(company, leader, 1)
    sign_in(viewer)
    before = _tab(client, company)
    with _statements() as statements:
        assert before == _tab(client, company)
    assert len(statements) == 1 and "FROM users JOIN user_sessions" in statements[0]  # only the session lookup
    climber_id, leader_id = member_row(company, climber).id, member_row(company, leader).id
    assert before.index(f'data-id="{leader_id}"') < before.index(f'data-id="{climber_id}"')
    frozen(60)
    referral(company, climber, 2)
    referral(company, climber, 3)
    after = _tab(client, company)
    assert after.index(f'data-id="{climber_id}"') < after.index(f'data-id="{leader_id}"')
    climbed = member_row(company, climber).total_xp
    assert f"<td>{climbed:,}</td>" in _row(after, climber_id) and f"<td>{climbed:,}</td>" not in before
    assert "Your rank: <strong>#3</strong> of 3 (0)" in after


def test_two_viewers_each_see_their_own_rank_on_the_same_kept_board(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    first, second, third = _players(company, make_user, 3)
    referral(company, first, 1)
    referral(company, second, 2)
    referral(company, second, 3)
    ids = [member_row(company, user).id for user in (first, second, third)]
    seen = {}
    for user, rank in ((first, 2), (second, 1), (first, 2), (third, 3)):
        sign_in(user)
        body = _tab(client, company)
        me = ids[(first, second, third).index(user)]
        assert f"Your rank: <strong>#{rank}</strong> of 3" in body
        assert [member for member in ids if 'class="highlight"' in _row(body, member)] == [me]
        seen[me] = body[body.index("<table") : body.index("</table>")].replace(' class="highlight"', "")
    assert len(seen) == 3 and len(set(seen.values())) == 1  # one table for everyone, but for the highlight


def test_a_kept_tab_is_the_board_rendered_afresh(app, client, db, make_seller, make_user, sign_in):
    """The tab served from kept bytes (no template) is, byte for byte, the page's board block
    rendered the full way with nothing kept: the viewer's row highlighted, their rank filled in."""
    _owner, company = make_seller()
    game_for(company)
    leader, viewer = _players(company, make_user, 2)
    referral(company, leader, 1)
    query = {"category": "xp", "period": "all", "scope": "all"}
    for user, rank in ((viewer, 2), (leader, 1)):
        sign_in(user)
        kept = [_tab(client, company) for _ in range(2)]  # made, then served as kept
        boardcache.forget_all()
        member = member_row(company, user)
        with app.app_context(), app.test_request_context(f"/legends/{company.slug}/board"):
            fresh = render_block(
                "legends/game.html", "board", company=company, member=member, **board_context(company, member, query)
            )
        assert kept[0] == kept[1] == fresh
        assert f"Your rank: <strong>#{rank}</strong> of 2 (" in fresh
        assert 'class="highlight"' in _row(fresh, member.id)


def test_a_kept_board_shows_a_new_display_name_and_a_game_switched_off(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game = game_for(company)
    leader, viewer = _players(company, make_user, 2)
    referral(company, leader, 1)
    sign_in(viewer)
    assert leader.display_name in _tab(client, company)
    leader.display_name = "Renamed Leader"
    db.session.commit()
    assert "Renamed Leader" in _tab(client, company)
    game.enabled = False
    db.session.commit()
    response = client.get(f"/legends/{company.slug}/board", headers={"HX-Request": "true"})
    assert response.status_code == 404


def test_the_tabs_keep_guild_and_class_boards_apart(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game = game_for(company)
    scout, sage = _players(company, make_user, 1)[0], _players(company, make_user, 1, "Sage")[0]
    referral(company, sage, 1)
    sign_in(scout)
    scouts = _tab(client, company, f"category=xp&period=all&scope=class:{class_id(company, 'Scout')}")
    everyone = _tab(client, company, "category=xp&period=all&scope=all")
    sage_id = member_row(company, sage).id
    assert _row(everyone, sage_id) and not _row(scouts, sage_id) and "Your rank: <strong>#1</strong> of 1" in scouts
    guild = create_guild(member_row(company, scout), game, {"name": "Kept Apart", "open": "1"})
    db.session.commit()
    mine = _tab(client, company, f"category=xp&period=all&scope=guild:{guild.id}")
    assert "My guild" in mine and "Your rank: <strong>#1</strong> of 1" in mine
    guilds = _tab(client, company, "category=guilds")
    assert "Kept Apart" in guilds and "Your rank: <strong>#1</strong> of 1" in guilds


def test_with_redis_down_the_tab_comes_from_the_database(app, client, db, make_seller, make_user, sign_in, monkeypatch):
    _owner, company = make_seller()
    game_for(company)
    leader, player = _players(company, make_user, 2)
    referral(company, leader, 1)
    sign_in(player)
    assert "computed just now" not in _tab(client, company)
    dead = redis_lib.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    monkeypatch.setitem(app.extensions, "redis", dead)
    body = _tab(client, company)
    assert "computed just now" in body and "Your rank: <strong>#2</strong> of 2" in body


def test_kept_parts_are_bounded_in_number_and_age():
    kept = LocalCache(2, max_age=0.05)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # "b" is now the least recently used
    kept.put("c", 3)
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (1, None, 3)
    time.sleep(0.06)
    assert kept.get("a") is None and kept.get_or_make("a", lambda: 4) == 4
