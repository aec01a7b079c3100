"""Affiliate links: `/r/<code>` and `/r/<code>/<shop>`, and `?ref=<code>` on gig and product
pages, which record a click and set the signed first-party cookie `tp_ref`.

The gig and product views are not touched: an app-wide before-request hook notices `ref` on
those two endpoints and an after-request hook sets the cookie. Click tracking never breaks or
slows a page: anything that fails (Redis down, a bad code, the database refusing the row) loses
the click, keeps the page, and logs a warning.
"""

import logging

from flask import Blueprint, Response, abort, current_app, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import Company, Gig, Product, ReferralCode
from app.services.affiliates.clicks import is_bot, record_click
from app.services.affiliates.links import (
    ANY_SHOP,
    COOKIE_MAX_AGE,
    COOKIE_NAME,
    Claim,
    add_claim,
    dump_claims,
    find_code,
    load_claims,
    now_seconds,
)
from app.services.affiliates.programs import get_program, program_includes

bp = Blueprint("referrals", __name__)
log = logging.getLogger(__name__)

# endpoint -> (listing type, model) of the pages where `?ref=` counts
LISTING_PAGES = {"browse.detail": ("gig", Gig), "buy.product": ("product", Product)}


def referral_claims() -> list[Claim]:
    """The verified claims of this request's `tp_ref` cookie (for the checkout views)."""
    return load_claims(request.cookies.get(COOKIE_NAME))


def _remember(code: ReferralCode, shop: str, click_id: int | None) -> None:
    """Queue the cookie update for the after-request hook (first click per shop wins)."""
    claims = add_claim(referral_claims(), Claim(shop, code.code, now_seconds(), click_id))
    if claims is not None:
        g.referral_cookie = dump_claims(claims)


def _click(code: ReferralCode, company_id: int, listing_type: str | None, listing_id: int | None) -> int | None:
    """Record the click in its own short transaction; None when it was not stored."""
    if current_user.is_authenticated and current_user.id == code.user_id:
        return None
    try:
        click = record_click(
            code,
            company_id,
            listing_type=listing_type,
            listing_id=listing_id,
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            referrer=request.referrer,
            landing_path=request.full_path.rstrip("?"),
        )
        click_id = click.id if click is not None else None
        db.session.commit()
        return click_id
    except Exception:
        db.session.rollback()
        log.warning("referral click not recorded", exc_info=True)
        return None


@bp.before_app_request
def capture_listing_click() -> None:
    """`?ref=<code>` on a gig or product page: a click for the listing's seller when its
    program is on and includes the listing, and the cookie. Never raises."""
    page = LISTING_PAGES.get(request.endpoint or "")
    raw = request.args.get("ref")
    if page is None or raw is None or request.method != "GET" or is_bot(request.user_agent.string):
        return
    try:
        code = find_code(raw)
        listing_type, model = page
        slug = (request.view_args or {}).get("slug")
        listing = db.session.execute(select(model.id, model.company_id).where(model.slug == slug)).first()
        if code is None or listing is None:
            return
        program = get_program(listing.company_id)
        if program is None or not program.enabled or not program_includes(program, listing_type, listing.id):
            return
    except Exception:
        db.session.rollback()
        log.warning("referral link not checked", exc_info=True)
        return
    click_id = _click(code, listing.company_id, listing_type, listing.id)
    _remember(code, str(listing.company_id), click_id)


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


def _code_or_404(code: str) -> ReferralCode:
    found = find_code(code)
    return found or abort(404)


@bp.route("/r/<code>")
def link(code):
    """An affiliate's general link: remember the code for any shop, then the home page."""
    found = _code_or_404(code)
    if not is_bot(request.user_agent.string):
        _remember(found, ANY_SHOP, None)
    return redirect(url_for("main.index"), 302)


@bp.route("/r/<code>/<shop>")
def shop_link(code, shop):
    """An affiliate's link to a seller's whole shop: a click for that seller (when its program
    is on), the cookie, then the shop page."""
    found = _code_or_404(code)
    company = db.session.scalar(select(Company).where(Company.slug == shop[:80], Company.kind == "seller"))
    if company is None or company.status != "active":
        abort(404)
    program = get_program(company.id)
    if program is not None and program.enabled and not is_bot(request.user_agent.string):
        _remember(found, str(company.id), _click(found, company.id, None, None))
    return redirect(url_for("browse.shop", slug=company.slug), 302)
