"""Seller earnings and withdrawals at /sell/payouts."""
from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from flask_login import current_user

from app.access import seller_required
from app.extensions import db
from app.models.payout import new_request_token
from app.money import format_money, marketplace_currency, parse_amount_cents
from app.payments import PaymentsUnavailable
from app.services.ledger import company_balances
from app.services.payouts import (REQUEST_TOKEN, PayoutError, complete_payout, lifetime_paid_out, payout_history,
                                  request_payout, weekly_earnings)
from app.web import render

bp = Blueprint("payouts", __name__, url_prefix="/sell/payouts")
CHART_HEIGHT = 120
UNAVAILABLE = "Payments are unavailable right now. Nothing was withdrawn — please try again."


def _chart(weeks):
    """Bars for the weekly earnings chart, scaled to the largest week (server-rendered SVG)."""
    peak = max((cents for _, cents in weeks), default=0) or 1
    return [{"week": week, "cents": cents, "height": round(CHART_HEIGHT * cents / peak)}
            for week, cents in weeks]


def _page(error=None, amount="", status=200, request_token=None):
    """The payouts page. The withdraw form carries a fresh `request_token` naming one
    submission; a re-rendered form (a refusal, Stripe unavailable) keeps the one it was sent,
    so trying again finishes the same payout."""
    company = g.company
    body, headers = render(
        "payouts/index.html", "withdraw", company=company, balances=company_balances(company.id),
        paid_out=lifetime_paid_out(company.id), chart=_chart(weekly_earnings(company.id)),
        chart_height=CHART_HEIGHT, payouts=payout_history(company.id), error=error, amount=amount,
        minimum=company.payout_minimum(current_app.config["PAYOUT_MINIMUM_CENTS"]),
        can_withdraw=company.role_of(current_user) in ("owner", "admin"),
        request_token=request_token or new_request_token())
    return body, status, headers


@bp.route("")
@seller_required
def index():
    return _page()


@bp.route("/withdraw", methods=["POST"])
@seller_required(roles=("owner", "admin"))
def withdraw():
    """Write the pending payout and commit, then transfer and record it and commit again."""
    typed = request.form.get("amount", "")
    token = request.form.get("request_token") or new_request_token()
    if not REQUEST_TOKEN.fullmatch(token):
        return _page("This form has expired: reload the page and try again.", typed, 422)
    amount = parse_amount_cents(typed, marketplace_currency())
    if amount is None:
        return _page("Enter an amount like 150.00.", typed, 422, token)
    try:
        payout = request_payout(g.company, amount, current_user, token)
        db.session.commit()
        payout = complete_payout(payout, current_user)
    except PayoutError as exc:
        db.session.rollback()
        return _page(exc.message, typed, 409, token)
    except PaymentsUnavailable:
        db.session.rollback()
        current_app.logger.warning("Stripe unavailable: payout for company %s left pending", g.company.id)
        return _page(UNAVAILABLE, typed, 503, token)
    db.session.commit()
    flash(f"Payout of {format_money(payout.amount_cents, payout.currency)} is on its way.", "success")
    return redirect(url_for("payouts.index"), 303)
