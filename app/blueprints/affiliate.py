"""The affiliate's side, for any signed-in user: the /affiliate dashboard (their code and
links, clicks, conversions, commissions by status, a weekly chart, a per-listing table), the
CSV export of their commissions, and the share box on gig and product pages
(`affiliate_share`, a template global used by affiliates/_share_box.html)."""

import csv
import io
from datetime import date

from flask import Blueprint, Response, current_app, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.clock import now
from app.extensions import db
from app.models import AffiliateProgram, ReferralCode, User
from app.money import format_money, marketplace_currency
from app.services.affiliates import reports
from app.services.affiliates.commissions import affiliate_balances, affiliate_company_for
from app.services.affiliates.links import referral_code_for
from app.services.affiliates.programs import class_bonus_terms, get_program, program_includes
from app.web import render

bp = Blueprint("affiliate", __name__, url_prefix="/affiliate")
LISTING_ENDPOINTS = {"gig": "browse.detail", "product": "buy.product"}
RULES = {"first_only": "the first payment", "every": "every payment"}

# The weekly chart's geometry (SVG user units): two bars a week, clicks and conversions.
CHART = {"height": 140, "top": 12, "left": 36, "step": 52, "bar": 18, "gap": 2, "bottom": 26}


def personal_code(user: User, create: bool = True) -> str | None:
    """The user's referral code, created and committed on first need (the page showing it must
    keep showing the same one); None when there is none and `create` is False. Two first
    requests at once: the loser reads the winner's code."""
    found = db.session.scalar(select(ReferralCode.code).where(ReferralCode.user_id == user.id))
    if found is not None or not create:
        return found
    try:
        code = referral_code_for(user).code
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        code = db.session.scalar(select(ReferralCode.code).where(ReferralCode.user_id == user.id))
    return code


def listing_url(listing_type: str, slug: str, code: str | None = None) -> str:
    """The absolute address of a gig or product page, with `?ref=<code>` when given."""
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    return base + url_for(LISTING_ENDPOINTS[listing_type], slug=slug, **({"ref": code} if code else {}))


def commission_summary(program: AffiliateProgram) -> str:
    """'10 % of each payment (first payment of subscriptions), within 30 days of the click'."""
    if program.commission_kind == "fixed":
        rate = f"{format_money(program.commission_cents, marketplace_currency())} per payment"
    else:
        rate = f"{program.commission_bps / 100:g} % of each payment"
    rule = RULES.get(program.recurring_rule) or f"the first {program.recurring_n} payments"
    summary = f"{rate} (on {rule} of a subscription), for purchases within {program.attribution_days} days of the click"
    bonus = class_bonus_terms(program.company_id)
    return f"{summary}; {bonus}" if bonus else summary


def listing_program(listing_type: str, listing) -> dict:
    """What the share box shows everyone about the seller's program for a listing: its state
    ("on", "off", "excluded"), the commission summary and the terms. The same for every
    viewer, so a kept gig page carries it (browse.ListingRef.program)."""
    program = get_program(listing.company_id)
    if program is None or not program.enabled:
        return {"state": "off", "summary": None, "terms": ""}
    if not program_includes(program, listing_type, listing.id):
        return {"state": "excluded", "summary": None, "terms": program.terms or ""}
    return {"state": "on", "summary": commission_summary(program), "terms": program.terms or ""}


@bp.app_template_global()
def affiliate_share(listing_type: str, listing) -> dict | None:
    """What the share box shows a signed-in user on a gig or product page: their link, and the
    seller's program (commission and terms) — or why sharing this listing earns nothing.
    None for visitors who are not signed in (their page may come from the page cache).
    A listing that carries its `program` (listing_program, kept with the page) is not read again."""
    if not current_user.is_authenticated:
        return None
    share = dict(getattr(listing, "program", None) or listing_program(listing_type, listing))
    if share["state"] == "on" and any(m.company_id == listing.company_id for m in current_user.seller_memberships):
        share["state"] = "own"
    # A page shown again after a refused POST (a checkout, a review) writes nothing: the code is
    # made only when a page is opened.
    code = personal_code(current_user, create=request.method == "GET") if share["state"] == "on" else None
    if code is not None:
        share["link"] = listing_url(listing_type, listing.slug, code)
    return share


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"


def _axis_top(peak: int) -> int:
    """The smallest of 4, 10, 20, 40, 100, 200... at or above `peak` (ticks at quarters)."""
    top = 4
    while top < peak:
        top = top * 5 // 2 if str(top).startswith("4") else top * 2
    return top


def _chart(weeks: list[tuple[date, reports.Figures]]) -> dict:
    """Clicks and conversions per week as paired bars on one count axis, laid out here."""
    top = _axis_top(max((figures.clicks for _, figures in weeks), default=0))
    base = CHART["top"] + CHART["height"]

    def y(count: int) -> int:
        return base - round(CHART["height"] * count / top)

    groups = []
    for index, (week, figures) in enumerate(weeks):
        x = CHART["left"] + index * CHART["step"] + (CHART["step"] - 2 * CHART["bar"] - CHART["gap"]) // 2
        groups.append(
            {
                "week": week,
                "figures": figures,
                "clicks": {"x": x, "y": y(figures.clicks), "h": base - y(figures.clicks)},
                "conversions": {
                    "x": x + CHART["bar"] + CHART["gap"],
                    "y": y(figures.conversions),
                    "h": base - y(figures.conversions),
                },
                "center": x + CHART["bar"],
            }
        )
    clicks = sum(figures.clicks for _, figures in weeks)
    conversions = sum(figures.conversions for _, figures in weeks)
    return {
        "groups": groups,
        "ticks": [{"value": top * i // 4, "y": y(top * i // 4)} for i in range(5)],
        "width": CHART["left"] + len(weeks) * CHART["step"] + 4,
        "height": base + CHART["bottom"],
        "left": CHART["left"],
        "base": base,
        "bar": CHART["bar"],
        "summary": f"Last {len(weeks)} weeks: {clicks} clicks and {conversions} conversions.",
    }


@bp.route("")
@login_required
def dashboard():
    """The signed-in user's affiliate dashboard."""
    code = personal_code(current_user)
    figures = reports.affiliate_summary(current_user.id)
    listings = reports.listing_breakdown(current_user.id)
    programs = reports.active_programs()
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    return render(
        "affiliates/dashboard.html",
        code=code,
        home_link=base + url_for("referrals.link", code=code),
        figures=figures,
        balances=affiliate_balances(current_user),
        account=affiliate_company_for(current_user, create=False),
        rate=_percent(figures.conversion_rate),
        chart=_chart(reports.weekly_activity(current_user.id)),
        listings=listings,
        links={
            (row.listing_type, row.listing_id): listing_url(row.listing_type, row.slug, code)
            for row in listings
            if row.slug
        },
        programs=[
            {
                "program": program,
                "company": company,
                "summary": commission_summary(program),
                "link": base + url_for("referrals.shop_link", code=code, shop=company.slug),
            }
            for program, company in programs
        ],
        percent=_percent,
    )


@bp.route("/commissions.csv")
@login_required
def export():
    """The signed-in user's commissions as CSV (integer cents), for their own books."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(reports.CSV_COLUMNS)
    for row in reports.commission_export_rows(current_user.id):
        writer.writerow([_safe_cell(value) for value in row])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="tradepost-commissions-{now().date().isoformat()}.csv"',
            "Cache-Control": "no-store",
        },
    )


def _safe_cell(value):
    """Text a spreadsheet would run as a formula (=, +, -, @ first) gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
