"""A company's Legends game for its community at /legends/<company slug>: join and pick a
class, level and XP, quests to claim, achievements, leaderboards, guilds, and the feed the
live updates fall back to (docs/legends.md).

Everything but the page itself needs a member of *this* company's game: anyone else gets
404, so a member of one game cannot read or act in another company's.
"""

from functools import partial

from flask import Blueprint, jsonify, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from app.errors import NotFound
from app.extensions import db, is_htmx
from app.identity_cache import confirm
from app.inputs import parse_whole_number
from app.models import Company, LegendsMember
from app.services.legends import game as games
from app.services.legends import guilds
from app.services.legends.feed import as_json, feed_since
from app.services.legends.quests import claim_quest
from app.services.legends.views import board_context, board_fragment, game_context
from app.session_auth import confirms_identity, settle_identity, unconfirmed_identity
from app.web import error_page, refusal_page, render

bp = Blueprint("legends", __name__, url_prefix="/legends")


def _company(slug: str) -> Company:
    # The game pages never list the company's team: skip loading it (a query per request).
    found = select(Company).where(Company.slug == slug, Company.kind == "seller").options(lazyload(Company.members))
    company = db.session.scalar(found)
    if company is None or company.is_suspended:
        raise NotFound("This company has no Legends game.")
    return company


def _game_page(slug, exc=None, status=200):
    company = _company(slug)
    game = games.enabled_game(company)
    member = games.membership(company, current_user)
    context = game_context(company, game, member, request.args)
    if exc is not None:
        context.update(errors=exc.errors, error=exc.message)
    return render("legends/game.html", http_status=status, **context)


def _refused(exc, slug, **_view_args):
    """The game page again, saying why (the error page for a game that is not there)."""
    if exc.status == 404:
        return error_page(404, exc.message)
    return _game_page(slug, exc, exc.status)


@bp.app_template_global()
def legends_board_link(company):
    """A function making the URLs of the company's leaderboard tabs."""
    return lambda **args: url_for("legends.board", slug=company.slug, **args)


def _member(slug: str) -> tuple[Company, LegendsMember]:
    """The company and the signed-in user's member row in its game; 404 for anyone else."""
    company = _company(slug)
    games.enabled_game(company)
    member = games.membership(company, current_user)
    if member is None:
        raise NotFound("You are not playing this game.")
    return company, member


def _back(slug: str, anchor: str = ""):
    return redirect(url_for(".index", slug=slug) + anchor, 303)


def _act(slug: str, action, anchor: str = ""):
    """Run `action(game, member)` for the signed-in member of this game, commit, go back."""
    company, member = _member(slug)
    action(games.enabled_game(company), member)
    db.session.commit()
    return _back(slug, anchor)


@bp.route("/<slug>")
def index(slug):
    return _game_page(slug)


@bp.route("/<slug>/join", methods=["POST"])
@login_required
@refusal_page(_refused)
def join(slug):
    games.join_game(_company(slug), current_user, request.form.get("class_id"))
    db.session.commit()
    return _back(slug)


@bp.route("/<slug>/class", methods=["POST"])
@login_required
@refusal_page(_refused)
def change_class(slug):
    return _act(slug, lambda game, member: games.change_class(member, game, request.form.get("class_id")))


@bp.route("/<slug>/prestige", methods=["POST"])
@login_required
@refusal_page(_refused)
def prestige(slug):
    return _act(slug, lambda _game, member: games.prestige(member))


@bp.route("/<slug>/quests/<int:quest_id>/claim", methods=["POST"])
@login_required
@refusal_page(_refused)
def claim(slug, quest_id):
    return _act(slug, lambda _game, member: claim_quest(member, quest_id), "#quests")


@bp.route("/<slug>/board")
@confirms_identity
def board(slug):
    """A tab asks with the session the identity cache vouches for unconfirmed: its generations
    are read in the board's own round trip, and nothing is answered before they held."""
    tab = is_htmx() and not request.headers.get("HX-Boosted")  # a tab: only the board is swapped
    identity = unconfirmed_identity()
    if tab and identity is not None:
        keys = identity.entry.keys
        fragment = board_fragment(slug, identity.user_id, request.args, keys, partial(confirm, identity))
        if fragment is not None:
            return fragment, 200, _TAB_HEADERS
        tab_tried = identity.verified  # the board, not the session, wants the full way
    else:
        tab_tried = False
    settle_identity()
    return _board(slug, tab, tab_tried)


_TAB_HEADERS = {"Vary": "HX-Request"}


@login_required
def _board(slug: str, tab: bool, tab_tried: bool):
    if tab and not tab_tried and (fragment := board_fragment(slug, current_user.id, request.args)) is not None:
        return fragment, 200, _TAB_HEADERS
    company, member = _member(slug)
    if tab:
        context = board_context(company, member, request.args)
        return render("legends/game.html", "board", company=company, member=member, **context)
    return _member_page(company, member, "board")


@bp.route("/<slug>/me")
@login_required
def me(slug):
    return _member_page(*_member(slug), "me")


def _member_page(company: Company, member: LegendsMember, block: str):
    """The game page of a member of this game (only `block` for an htmx request)."""
    context = game_context(company, games.enabled_game(company), member, request.args)
    return render("legends/game.html", block, **context)


@bp.route("/<slug>/feed")
@login_required
def feed(slug):
    _company_, member = _member(slug)
    after = parse_whole_number(request.args.get("after", "0")) or 0
    events = feed_since(member, after)
    last_id = events[-1].id if events else after
    if request.accept_mimetypes.best == "application/json" or request.args.get("format") == "json":
        return jsonify(events=[as_json(row) for row in events], last_id=last_id)
    return render("legends/feed.html", events=events, last_id=last_id)


@bp.route("/<slug>/guilds", methods=["POST"])
@login_required
@refusal_page(_refused)
def create_guild(slug):
    return _act(slug, lambda game, member: guilds.create_guild(member, game, request.form), "#guild")


@bp.route("/<slug>/guilds/<int:guild_id>/join", methods=["POST"])
@login_required
@refusal_page(_refused)
def join_guild(slug, guild_id):
    return _act(slug, lambda _game, member: guilds.join_guild(member, guild_id), "#guild")


@bp.route("/<slug>/guilds/leave", methods=["POST"])
@login_required
@refusal_page(_refused)
def leave_guild(slug):
    return _act(slug, lambda _game, member: guilds.leave_guild(member), "#guild")


@bp.route("/<slug>/guilds/<int:guild_id>/invite", methods=["POST"])
@login_required
@refusal_page(_refused)
def invite(slug, guild_id):
    return _act(slug, lambda _game, member: guilds.invite(member, guild_id, request.form), "#guild")


@bp.route("/<slug>/guilds/<int:guild_id>/officers", methods=["POST"])
@login_required
@refusal_page(_refused)
def promote(slug, guild_id):
    return _act(slug, lambda _game, member: guilds.promote(member, guild_id, request.form), "#guild")
