"""The seller's affiliate program (owners): its settings, the affiliates who promote the shop
with what each brought, and banning or unbanning one of them."""

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.access import company_required
from app.errors import ServiceError
from app.extensions import db
from app.forms.affiliates import FIELD_OF, parse_program_form, program_form_values
from app.models import AffiliateProgram, Gig, Product, User
from app.services.affiliates import reports
from app.services.affiliates.programs import ban_affiliate, get_program, save_program, unban_affiliate
from app.web import paginate, refusal_page, render, require_confirmation

bp = Blueprint("affiliates", __name__, url_prefix="/affiliates")
PER_PAGE = 25


def _listings(company_id):
    """The company's gigs and products a program may include, as (value, label) choices."""
    gigs = db.session.execute(
        select(Gig.id, Gig.title).where(Gig.company_id == company_id).order_by(Gig.title, Gig.id)
    ).all()
    products = db.session.execute(
        select(Product.id, Product.title).where(Product.company_id == company_id).order_by(Product.title, Product.id)
    ).all()
    return [(f"gig:{row.id}", f"Gig: {row.title}") for row in gigs] + [
        (f"product:{row.id}", f"Product: {row.title}") for row in products
    ]


def _page(form, errors=None, status=200, program=None):
    company = g.company
    program = program or get_program(company.id)
    affiliates = rows = totals = None
    if program is not None:
        affiliates = paginate(reports.program_affiliates_query(program), PER_PAGE)
        rows = reports.affiliate_rows(program, affiliates.items)
        totals = reports.program_totals(program)
    return render(
        "sell/affiliates.html",
        errors=errors or {},
        company=company,
        program=program,
        form=form,
        listings=_listings(company.id),
        affiliates=affiliates,
        rows=rows,
        totals=totals,
        http_status=status,
    )


def _refused(exc):
    errors = {FIELD_OF.get(name, name): message for name, message in exc.errors.items()}
    form = request.form.to_dict()
    form["listings"] = request.form.getlist("listings")
    return _page(form, errors, exc.status)


@bp.route("", methods=["GET", "POST"])
@company_required("settings")
@refusal_page(_refused)
def edit():
    """The program's settings and affiliates; POST saves the settings."""
    if request.method == "GET":
        program = get_program(g.company.id)
        return _page(program_form_values(program), program=program)
    program = save_program(g.company, parse_program_form(request.form), current_user)
    db.session.commit()
    flash("Affiliate program saved." + (" It is on." if program.enabled else " It is off."), "success")
    return redirect(url_for(".edit"), 303)


def _program_or_404() -> AffiliateProgram:
    return get_program(g.company.id) or abort(404)


def _affiliate_or_404(program, user_id) -> User:
    """A person who promoted (or was banned from) this company's program; 404 for anyone else,
    so ids of other people cannot be probed."""
    if not reports.is_program_affiliate(program, user_id):
        abort(404)
    return db.session.get(User, user_id) or abort(404)


def _ban_page(program, affiliate, error=None, status=200):
    return render(
        "sell/affiliates_ban.html",
        company=g.company,
        affiliate=affiliate,
        error=error,
        reason=request.form.get("reason", ""),
        http_status=status,
    )


def _ban_refused(exc: ServiceError, user_id):
    program = _program_or_404()
    return _ban_page(program, _affiliate_or_404(program, user_id), exc.message, exc.status)


@bp.route("/<int:user_id>/ban", methods=["GET", "POST"])
@company_required("settings")
@refusal_page(_ban_refused)
def ban(user_id):
    """GET: the confirmation step (with an optional reason); POST with confirm=ban: the ban."""
    program = _program_or_404()
    affiliate = _affiliate_or_404(program, user_id)
    if request.method == "GET":
        return _ban_page(program, affiliate)
    require_confirmation("ban", f"Confirm that you want to ban {affiliate.display_name}.")
    ban_affiliate(program, affiliate, current_user, request.form.get("reason", "").strip())
    db.session.commit()
    flash(f"{affiliate.display_name} is banned: their new referrals earn nothing.", "success")
    return redirect(url_for(".edit", page=request.args.get("page")), 303)


@bp.route("/<int:user_id>/unban", methods=["POST"])
@company_required("settings")
def unban(user_id):
    """Lift a ban; 409 when the person is not banned."""
    program = _program_or_404()
    affiliate = _affiliate_or_404(program, user_id)
    if not unban_affiliate(program, affiliate, current_user):
        raise ServiceError(409, "not_banned", f"{affiliate.display_name} is not banned.")
    db.session.commit()
    flash(f"{affiliate.display_name} may earn commissions again.", "success")
    return redirect(url_for(".edit", page=request.args.get("page")), 303)
