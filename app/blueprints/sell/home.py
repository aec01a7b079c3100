"""The seller's home (KYC banner, gigs, orders, earnings) and becoming a seller: the name, then
Stripe Connect onboarding with its refresh and return pages.

Owners and admins onboard. This module's blueprint is the `sell` blueprint itself, mounted at
/sell; every other page under /sell is a module of this package, registered under it.
"""

from dataclasses import dataclass

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import func, select

from app.access import choose_company, company_required, role_may
from app.extensions import db
from app.forms import show_refusal
from app.forms.sell import BecomeSellerForm
from app.inputs import parse_id
from app.models import Order
from app.models.company import MANAGER_ROLES
from app.pagecache import KeptHtml, company_scope, csrf_slot, kept, parts_version
from app.payments import PaymentsUnavailable
from app.services.account_lifecycle import OPEN_ORDER_STATUSES
from app.services.gigs import company_gigs
from app.services.ledger import company_balances
from app.services.sellers import become_seller, refresh_company_kyc, start_seller_onboarding
from app.web import error_page, refusal_page, render

bp = Blueprint("sell", __name__, url_prefix="/sell")
ONBOARDING_UNAVAILABLE = (
    "Payments are unavailable right now, so verification with Stripe can't start. "
    "Your seller account is saved — please try again in a minute."
)


@bp.route("/")
@company_required("orders")
def home():
    """The seller's home: their gigs (the table kept per company and role under the parts
    version, pagecache.kept), recent and active orders, balances."""
    version = parts_version(company_scope(g.company.id))
    role = current_user.seller_membership.role
    manager = role in MANAGER_ROLES
    gigs = kept(version, ("sell-gigs", g.company.id, manager), lambda: _gig_table(manager))
    figures = kept(version, ("sell-figures", g.company.id), _figures)
    return render("sell/home.html", company=g.company, gigs=gigs, role=role, role_may=role_may, figures=figures)


@dataclass(frozen=True)
class KeptFigures:
    """The company's recent orders (rendered), open orders and balances: the same for every
    member who may see orders, kept under the company's version."""

    recent_orders: Markup
    active_orders: int
    balances: dict


def _figures():
    recent_orders = db.session.scalars(select(Order).order_by(Order.created_at.desc()).limit(5)).all()
    active_orders = db.session.scalar(
        select(func.count()).select_from(Order).where(Order.status.in_(OPEN_ORDER_STATUSES))
    )
    html = render_template("sell/_recent_orders.html", recent_orders=recent_orders)
    return KeptFigures(Markup(html), active_orders or 0, company_balances(g.company.id))


@dataclass(frozen=True)
class KeptGigTable(KeptHtml):
    """The seller's gig table as every member with the same rights sees it (each form's CSRF
    token filled in per request), with its counts."""

    live: int = 0
    in_review: int = 0


def _gig_table(manager):
    gigs = company_gigs(g.company)
    html = render_template("sell/_gig_table.html", gigs=gigs, manager=manager, csrf_token=csrf_slot)
    return KeptGigTable(
        html,
        live=sum(gig.status == "published" for gig in gigs),
        in_review=sum(gig.status == "review" for gig in gigs),
    )


@bp.route("/switch", methods=["POST"])
@login_required
def switch():
    """Work in another of the user's companies: remembered in the session and checked against
    their memberships on every request (a company they left falls back to their first)."""
    company_id = parse_id(request.form.get("company_id", ""))
    membership = next((m for m in current_user.seller_memberships if m.company_id == company_id), None)
    if membership is None:
        return error_page(403, "You are not a member of that company.")
    choose_company(membership.company_id)
    flash(f"You are working in {membership.company.title}.", "success")
    return redirect(url_for("sell.home"), 303)


# -- becoming a seller ----------------------------------------------------------------------------


def _app_url(endpoint):
    return current_app.config["APP_BASE_URL"].rstrip("/") + url_for(endpoint)


def _to_onboarding(company, country="US"):
    """303 to a fresh hosted onboarding page (the seller company is committed before)."""
    url = start_seller_onboarding(
        company, current_user, _app_url("sell.onboarding_refresh"), _app_url("sell.onboarding_return"), country
    )
    db.session.commit()
    return redirect(url, 303)


def _onboarding_refused(exc):
    """Stripe unreachable: 503 with a way to try again (the seller account is kept); any other
    refusal on the error page."""
    if not isinstance(exc, PaymentsUnavailable):
        return error_page(exc.status, exc.message)
    return render(
        "sell/onboarding_unavailable.html",
        company=current_user.seller_company,
        message=ONBOARDING_UNAVAILABLE,
        http_status=exc.status,
    )


def _become_refused(exc):
    if exc.code == "email_unverified":
        return render("sell/become.html", form=BecomeSellerForm(), error=exc.message, http_status=exc.status)
    if exc.field is None:
        return _onboarding_refused(exc)
    form = BecomeSellerForm()
    show_refusal(form, exc)
    return render("sell/become.html", form=form, http_status=exc.status)


@bp.route("/become", methods=["GET", "POST"])
@login_required
@refusal_page(_become_refused)
def become():
    if current_user.seller_company is not None:
        return redirect(url_for("sell.home"), 303)
    form = BecomeSellerForm()
    if request.method == "GET":
        form.title.data = form.title.data or current_user.display_name
    if not form.validate_on_submit():
        return render("sell/become.html", form=form, http_status=422 if form.errors else 200)
    company = become_seller(current_user, form.title.data)
    db.session.commit()
    return _to_onboarding(company, form.country.data)


@bp.route("/onboarding", methods=["POST"])
@company_required("settings")
@refusal_page(_onboarding_refused)
def onboarding_start():
    return _to_onboarding(g.company)


@bp.route("/onboarding/refresh")
@company_required("settings")
@refusal_page(_onboarding_refused)
def onboarding_refresh():
    return _to_onboarding(g.company)


@bp.route("/onboarding/return")
@company_required("orders")
def onboarding_return():
    reachable = refresh_company_kyc(g.company)
    db.session.commit()
    return render("sell/onboarding_return.html", company=g.company, reachable=reachable)
