"""Affiliate links: `/r/<code>` and `/r/<code>/<shop>`, and `?ref=<code>` on gig and product
pages, which queue a click and set the signed first-party cookie `tp_ref`.

The gig and product views are not touched: an app-wide before-request hook notices `ref` on
those two endpoints and an after-request hook sets the cookie. On those pages tracking costs
no SQL, only one Redis command the page does not wait for (services/affiliates/clicks.py);
the click rows are written by a job. Nothing here can break or slow a page: a bad code is ignored, Redis down loses the
click (a warning is logged), and the page is served.
"""

from flask import Blueprint, Response, abort, current_app, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import Company
from app.services.affiliates.clicks import is_bot, new_click_token, queue_click
from app.services.affiliates.links import (
    ANY_SHOP,
    CODE_PATTERN,
    COOKIE_MAX_AGE,
    COOKIE_NAME,
    Claim,
    add_claim,
    dump_claims,
    find_code,
    load_claims,
    now_seconds,
)
from app.services.affiliates.programs import get_program

bp = Blueprint("referrals", __name__)

# endpoint -> listing type of the pages where `?ref=` counts
LISTING_PAGES = {"browse.detail": "gig", "buy.product": "product"}


def referral_claims() -> list[Claim]:
    """The verified claims of this request's `tp_ref` cookie (for the checkout views)."""
    return load_claims(request.cookies.get(COOKIE_NAME))


def _remember(code: str, shop: str, token: str | None) -> None:
    """Queue the cookie update for the after-request hook (first click per key wins)."""
    claims = add_claim(referral_claims(), Claim(shop, code, now_seconds(), token))
    if claims is not None:
        g.referral_cookie = dump_claims(claims)


def _visit(code: str, **where: object) -> str:
    """Queue this request's click for `code` (where: listing_type+slug, or company_id)."""
    token = new_click_token()
    queue_click(
        token,
        code,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        referrer=request.referrer,
        landing_path=request.full_path.rstrip("?"),
        visitor_id=current_user.id if current_user.is_authenticated else None,
        **where,  # type: ignore[arg-type]
    )
    return token


@bp.before_app_request
def capture_listing_click() -> None:
    """`?ref=<code>` on a gig or product page: queue the click and remember the code for this
    listing (the job and the checkout check the code, program and listing). Never raises."""
    listing_type = LISTING_PAGES.get(request.endpoint or "")
    if listing_type is None:
        return
    code = request.args.get("ref")
    if code is None or request.method != "GET":
        return
    slug = str((request.view_args or {}).get("slug", ""))
    if not CODE_PATTERN.fullmatch(code) or is_bot(request.user_agent.string):
        return
    token = _visit(code, listing_type=listing_type, slug=slug)
    _remember(code, f"{listing_type}:{slug}", token)


@bp.after_app_request
def set_referral_cookie(response: Response) -> Response:
    """Write the `tp_ref` cookie queued by a referral landing (signed, HttpOnly, Lax)."""
    value = g.pop("referral_cookie", None)
    if value is not None:
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        )
    return response


@bp.route("/r/<code>")
def link(code):
    """An affiliate's general link: remember the code for any shop, then the home page."""
    found = find_code(code) or abort(404)
    if not is_bot(request.user_agent.string):
        _remember(found.code, ANY_SHOP, None)
    return redirect(url_for("main.index"), 302)


@bp.route("/r/<code>/<shop>")
def shop_link(code, shop):
    """An affiliate's link to a seller's whole shop: a click for that seller (when its program
    is on), the cookie, then the shop page."""
    found = find_code(code) or abort(404)
    company = db.session.scalar(select(Company).where(Company.slug == shop[:80], Company.kind == "seller"))
    if company is None or company.status != "active":
        abort(404)
    program = get_program(company.id)
    if program is not None and program.enabled and not is_bot(request.user_agent.string):
        _remember(found.code, str(company.id), _visit(found.code, company_id=company.id))
    return redirect(url_for("browse.shop", slug=company.slug), 302)
