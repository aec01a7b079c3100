"""Seller earnings and withdrawals at /sell/payouts."""
from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from flask_login import current_user

from app.access import seller_required
from app.extensions import db
from app.money import parse_amount_cents
from app.services.ledger import company_balances
from app.services.payouts import (PayoutError, lifetime_paid_out, payout_history, weekly_earnings,
                                  withdraw_funds)
from app.web import render

bp = Blueprint("payouts", __name__, url_prefix="/sell/payouts")
CHART_HEIGHT = 120


def _chart(weeks):
    """Bars for the weekly earnings chart, scaled to the largest week (server-rendered SVG)."""
    peak = max((cents for _, cents in weeks), default=0) or 1
    return [{"week": week, "cents": cents, "height": round(CHART_HEIGHT * cents / peak)}
            for week, cents in weeks]


def _page(error=None, amount="", status=200):
    company = g.company
    body, headers = render(
        "payouts/index.html", "withdraw", company=company, balances=company_balances(company.id),
        paid_out=lifetime_paid_out(company.id), chart=_chart(weekly_earnings(company.id)),
        chart_height=CHART_HEIGHT, payouts=payout_history(company.id), error=error, amount=amount,
        minimum=company.payout_minimum(current_app.config["PAYOUT_MINIMUM_CENTS"]),
        can_withdraw=company.role_of(current_user) in ("owner", "admin"))
    return body, status, headers


@bp.route("")
@seller_required
def index():
    return _page()


@bp.route("/withdraw", methods=["POST"])
@seller_required(roles=("owner", "admin"))
def withdraw():
    amount = parse_amount_cents(request.form.get("amount"))
    if amount is None:
        return _page("Enter an amount like 150.00.", request.form.get("amount", ""), 422)
    try:
        payout = withdraw_funds(g.company, amount, current_user)
    except PayoutError as exc:
        db.session.rollback()
        return _page(exc.message, request.form.get("amount", ""), 409)
    db.session.commit()
    flash(f"Payout of {payout.amount_cents / 100:,.2f} {payout.currency.upper()} is on its way.", "success")
    return redirect(url_for("payouts.index"), 303)
