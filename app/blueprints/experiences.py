"""The views Whop shows in its iframe: a product's member area for Whop members (experiences)
and the seller's figures (dashboard).

Each request is authenticated by Whop's ``x-whop-user-token`` header alone (no cookies inside
the iframe); a missing or invalid token gets the 401 page. The Legends game's forms (join,
claim a quest) carry a signed form token of the viewer instead of the session's CSRF token
(services/legends/frame.py). app/__init__.py lets Whop frame
exactly these two prefixes. Tradepost's own member areas are in member_areas.py.
"""

from flask import Blueprint, abort, current_app, jsonify, redirect, request, url_for

from app.blueprints.member_areas import send_member_file
from app.errors import NotFound
from app.extensions import csrf, db
from app.inputs import parse_whole_number
from app.integrations.whop import USER_TOKEN_HEADER, WhopTokenError, verify_user_token
from app.services.legends.feed import as_json, feed_since
from app.services.legends.frame import check_frame_token, frame_token
from app.services.legends.game import enabled_game, join_game, membership
from app.services.legends.quests import claim_quest
from app.services.legends.views import game_context
from app.services.member_areas import member_area, member_tier
from app.services.whop_access import dashboard_stats, is_seller_of, open_dashboard, open_experience
from app.web import refusal_page, render

bp = Blueprint("experiences", __name__)


def _whop_claims():
    """The verified claims of Whop's user token; WhopTokenError (401) without a valid one."""
    config = current_app.config
    return verify_user_token(
        request.headers.get(USER_TOKEN_HEADER), app_id=config["WHOP_APP_ID"], jwks_url=config["WHOP_JWKS_URL"]
    )


def _framed(template, status=200, block=None, **context):
    body, status, headers = render(template, block, http_status=status, **context)
    headers["Cache-Control"] = "private, no-store"
    return body, status, headers


def _framed_refusal(exc, **_view_args):
    """Inside the iframe: "open this from Whop" without a valid token, else why not."""
    if isinstance(exc, WhopTokenError):
        current_app.logger.info("Whop view refused: %s", exc.reason)
        return _framed("experiences/unauthorized.html", 401, reason=exc.reason)
    return _framed(
        "experiences/denied.html",
        exc.status,
        code=exc.status,
        title=getattr(exc, "title", "That didn't work"),
        message=exc.message,
    )


@bp.route("/experiences/<experience_id>")
@refusal_page(_framed_refusal)
def experience(experience_id):
    def page(product, user):
        posts, files = member_area(product, _tier_of(user, product))
        return _framed(
            "experiences/experience.html",
            product=product,
            viewer=user,
            posts=posts,
            files=files,
            experience_id=experience_id,
        )

    return _with_access(experience_id, page)


def _with_access(experience_id, page):
    """`page(product, user)` for a Whop viewer with access to the experience's product; the
    get-access page (403) for one without."""
    product, user, allowed = open_experience(experience_id, _whop_claims())
    db.session.commit()
    if not allowed:
        return _framed("experiences/get_access.html", 403, product=product, viewer=user)
    return page(product, user)


@bp.route("/experiences/<experience_id>/files/<int:file_id>")
@refusal_page(_framed_refusal)
def experience_file(experience_id, file_id):
    product, user, allowed = open_experience(experience_id, _whop_claims())
    db.session.commit()
    if not allowed:
        abort(403)
    return send_member_file(product, file_id, _tier_of(user, product))


def _in_game(experience_id, page):
    """`page(company, game, user, member)` for a Whop viewer with access to the experience's
    product (its company's game, when on; `member` None when they have not joined)."""

    def with_game(product, user):
        company = product.company
        return page(company, enabled_game(company), user, membership(company, user))

    return _with_access(experience_id, with_game)


@bp.route("/experiences/<experience_id>/legends")
@refusal_page(_framed_refusal)
def legends(experience_id):
    """The product's company's Legends game, live, for a Whop member with access to the product."""

    def page(company, game, user, member):
        context = game_context(company, game, member, request.args)
        context.update(
            frame_token=frame_token(experience_id, user.id),
            live_company_id=company.id,
            live_user_id=user.id,
            live_feed_url=url_for(".legends_feed", experience_id=experience_id),
            live_last_event_id=context["last_event_id"],
        )
        part = request.args.get("part") if member is not None else None
        return _framed(
            "legends/experience.html",
            block=part if part in ("me", "board") else None,
            viewer=user,
            experience_id=experience_id,
            **context,
        )

    return _in_game(experience_id, page)


@bp.route("/experiences/<experience_id>/legends/feed")
@refusal_page(_framed_refusal)
def legends_feed(experience_id):
    """The polling fallback of the framed game (docs/legends.md): JSON, as /legends/<slug>/feed."""

    def page(_company, _game, _user, member):
        if member is None:
            raise NotFound("You are not playing this game.")
        after = parse_whole_number(request.args.get("after", "0")) or 0
        events = feed_since(member, after)
        response = jsonify(events=[as_json(row) for row in events], last_id=events[-1].id if events else after)
        response.headers["Cache-Control"] = "private, no-store"
        return response

    return _in_game(experience_id, page)


def _framed_action(experience_id, action):
    """Inside the iframe (no session, so no CSRF cookie): the signed form token of this viewer
    and experience, then `action(company, game, user, member)`; commit, back to the game."""

    def act(company, game, user, member):
        check_frame_token(request.form.get("frame_token"), experience_id, user.id)
        action(company, game, user, member)
        db.session.commit()
        return redirect(url_for(".legends", experience_id=experience_id), 303)

    return _in_game(experience_id, act)


def _playing(member):
    if member is None:
        raise NotFound("You are not playing this game.")
    return member


@bp.route("/experiences/<experience_id>/legends/join", methods=["POST"])
@csrf.exempt
@refusal_page(_framed_refusal)
def legends_join(experience_id):
    return _framed_action(
        experience_id, lambda company, _game, user, _member: join_game(company, user, request.form.get("class_id"))
    )


@bp.route("/experiences/<experience_id>/legends/quests/<int:quest_id>/claim", methods=["POST"])
@csrf.exempt
@refusal_page(_framed_refusal)
def legends_claim(experience_id, quest_id):
    return _framed_action(experience_id, lambda _c, _g, _u, member: claim_quest(_playing(member), quest_id))


def _tier_of(user, product):
    """The Whop viewer's tier (None: the seller's team, who see everything)."""
    return None if is_seller_of(user, product) else member_tier(user, product)


@bp.route("/dashboard/<whop_company_id>")
@refusal_page(_framed_refusal)
def dashboard(whop_company_id):
    company, user = open_dashboard(whop_company_id, _whop_claims())
    return _framed(
        "experiences/dashboard.html",
        company=company,
        viewer=user,
        stats=dashboard_stats(company),
        whop_company_id=whop_company_id,
    )
