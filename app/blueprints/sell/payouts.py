"""The seller's earnings (balances, weekly chart, payout history) and withdrawals."""

from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from flask_login import current_user

from app.access import company_required
from app.errors import InputError
from app.extensions import db
from app.models.payout import new_request_token
from app.money import format_money, marketplace_currency, parse_amount_cents
from app.payments import PaymentsUnavailable
from app.services.ledger import company_balances
from app.services.payouts import (
    REQUEST_TOKEN,
    complete_payout,
    lifetime_paid_out,
    payout_history,
    request_payout,
    weekly_earnings,
)
from app.web import refusal_page, render

bp = Blueprint("payouts", __name__, url_prefix="/payouts")
CHART_HEIGHT = 120
UNAVAILABLE = "Payments are unavailable right now. Nothing was withdrawn — please try again."


def _chart(weeks):
    """Bars for the weekly earnings chart, scaled to the largest week (server-rendered SVG)."""
    peak = max((cents for _, cents in weeks), default=0) or 1
    return [{"week": week, "cents": cents, "height": round(CHART_HEIGHT * cents / peak)} for week, cents in weeks]


def _page(error=None, amount="", status=200, request_token=None):
    """The payouts page. The withdraw form carries a fresh `request_token` naming one
    submission; a re-rendered form (a refusal, Stripe unavailable) keeps the one it was sent,
    so trying again finishes the same payout."""
    company = g.company
    return render(
        "payouts/index.html",
        "withdraw",
        company=company,
        balances=company_balances(company.id),
        paid_out=lifetime_paid_out(company.id),
        chart=_chart(weekly_earnings(company.id)),
        chart_height=CHART_HEIGHT,
        payouts=payout_history(company.id),
        error=error,
        amount=amount,
        minimum=company.payout_minimum(current_app.config["PAYOUT_MINIMUM_CENTS"]),
        can_withdraw=company.is_manager(current_user),
        request_token=request_token or new_request_token(),
        http_status=status,
    )


def _withdraw_refused(exc):
    """The form again with the amount as typed and the submission's own token (a fresh one
    when the form's had expired)."""
    message = UNAVAILABLE if isinstance(exc, PaymentsUnavailable) else exc.message
    token = request.form.get("request_token", "")
    return _page(message, request.form.get("amount", ""), exc.status, token if exc.field != "request_token" else None)


@bp.route("")
@company_required("payouts")
def index():
    return _page()


@bp.route("/withdraw", methods=["POST"])
@company_required("payouts")
@refusal_page(_withdraw_refused)
def withdraw():
    """Write the pending payout and commit, then transfer and record it and commit again."""
    token = request.form.get("request_token") or new_request_token()
    if not REQUEST_TOKEN.fullmatch(token):
        raise InputError("request_token", "This form has expired: reload the page and try again.")
    amount = parse_amount_cents(request.form.get("amount", ""), marketplace_currency())
    if amount is None:
        raise InputError("amount", "Enter an amount like 150.00.")
    payout = request_payout(g.company, amount, current_user, token)
    db.session.commit()
    payout = complete_payout(payout, current_user)
    db.session.commit()
    flash(f"Payout of {format_money(payout.amount_cents, payout.currency)} is on its way.", "success")
    return redirect(url_for(".index"), 303)
