"""The views Whop shows in its iframe: a product's member area for Whop members (experiences)
and the seller's figures (dashboard).

Each request is authenticated by Whop's ``x-whop-user-token`` header alone (no cookies inside
the iframe); a missing or invalid token gets the 401 page. app/__init__.py lets Whop frame
exactly these two prefixes. Tradepost's own member areas are in member_areas.py.
"""

from flask import Blueprint, abort, current_app, request

from app.blueprints.member_areas import send_member_file
from app.extensions import db
from app.integrations.whop import USER_TOKEN_HEADER, WhopTokenError, verify_user_token
from app.services.legends.game import enabled_game, membership
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


def _framed(template, status=200, **context):
    body, status, headers = render(template, http_status=status, **context)
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


@bp.route("/experiences/<experience_id>/legends")
@refusal_page(_framed_refusal)
def legends(experience_id):
    """The product's company's Legends game, for a Whop member with access to the product."""

    def page(product, user):
        company = product.company
        context = game_context(company, enabled_game(company), membership(company, user), request.args)
        return _framed("legends/experience.html", viewer=user, product=product, experience_id=experience_id, **context)

    return _with_access(experience_id, page)


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
