"""The seller's earnings (balances, weekly chart, payout history) and withdrawals."""

from flask import Blueprint, current_app, g, request
from flask_login import current_user

from app.errors import InputError
from app.extensions import db
from app.models.payout import new_request_token
from app.money import format_money, marketplace_currency, minor_digits, parse_amount_cents
from app.payments import PaymentsUnavailable
from app.services.ledger import company_balances
from app.services.payouts import (
    REQUEST_TOKEN,
    clearing_note,
    complete_payout,
    lifetime_paid_out,
    money_with_code,
    payout_history,
    pending_clearances,
    request_payout,
    weekly_earnings,
)
from app.web import commit_and_redirect, company_form, company_page, render

bp = Blueprint("payouts", __name__, url_prefix="/payouts")
UNAVAILABLE = "Payments are unavailable right now. Nothing was withdrawn — please try again."

# The earnings chart's geometry (SVG user units): a value axis on the left, one bar per week.
CHART = {"height": 160, "top": 18, "left": 64, "bar_step": 44, "bar_width": 30, "bottom": 28}
NICE_STEPS = (1, 2, 2.5, 5, 10)


def _axis_top(peak_cents, currency):
    """The value axis' top: the smallest 'nice' whole amount (1, 2, 2.5 or 5 × 10ⁿ major units)
    at or above the best week, so the ticks read as round numbers."""
    unit = 10 ** minor_digits(currency)
    if peak_cents <= 0:
        return 100 * unit
    scale = unit
    while True:
        for step in NICE_STEPS:
            if step * scale >= peak_cents:
                return int(step * scale)
        scale *= 10


def _chart(weeks, currency):
    """The weekly earnings chart, laid out on the server: bars with their value labels, a value
    axis with four gridlines labelled in money, and week labels under the bars."""
    top = _axis_top(max((cents for _, cents in weeks), default=0), currency)
    height, offset = CHART["height"], CHART["top"]

    def y(cents):
        return offset + height - round(height * cents / top)

    bars = []
    for index, (week, cents) in enumerate(weeks):
        x = CHART["left"] + index * CHART["bar_step"] + (CHART["bar_step"] - CHART["bar_width"]) // 2
        bars.append(
            {
                "week": week,
                "cents": cents,
                "x": x,
                "y": y(cents),
                "height": offset + height - y(cents),
                "center": x + CHART["bar_width"] // 2,
                "label": format_money(cents, currency).removesuffix(".00") if cents else "",
            }
        )
    ticks = [{"cents": top * i // 4, "y": y(top * i // 4)} for i in range(5)]
    for tick in ticks:
        tick["label"] = format_money(tick["cents"], currency).removesuffix(".00")
    total = sum(cents for _, cents in weeks)
    return {
        "bars": bars,
        "ticks": ticks,
        "width": CHART["left"] + len(weeks) * CHART["bar_step"] + 8,
        "height": offset + height + CHART["bottom"],
        "left": CHART["left"],
        "baseline": offset + height,
        "bar_width": CHART["bar_width"],
        "summary": (
            f"Weekly earnings for the last {len(weeks)} weeks: {money_with_code(total, currency)} in total, "
            f"best week {money_with_code(max((c for _, c in weeks), default=0), currency)}."
        ),
    }


def _page(error=None, amount="", status=200, request_token=None):
    """The payouts page. The withdraw form carries a fresh `request_token` naming one
    submission; a re-rendered form (a refusal, Stripe unavailable) keeps the one it was sent,
    so trying again finishes the same payout."""
    company = g.company
    currency = marketplace_currency()
    balances = company_balances(company.id)
    minimum = company.payout_minimum(current_app.config["PAYOUT_MINIMUM_CENTS"])
    clearances = pending_clearances(company.id)
    return render(
        "payouts/index.html",
        "withdraw",
        company=company,
        balances=balances,
        paid_out=lifetime_paid_out(company.id),
        chart=_chart(weekly_earnings(company.id), currency),
        payouts=payout_history(company.id),
        error=error,
        amount=amount,
        minimum=minimum,
        clearances=clearances,
        withdraw_blocked=_why_not_withdrawable(balances["available"], minimum, clearances, currency),
        can_withdraw=company.is_manager(current_user),
        request_token=request_token or new_request_token(),
        http_status=status,
    )


def _why_not_withdrawable(available, minimum, clearances, currency):
    """Why the Withdraw button is disabled, said next to it; None when it is enabled."""
    if available >= minimum:
        return None
    if available <= 0:
        reason = "Nothing available yet."
    else:
        reason = (
            f"{money_with_code(available, currency)} is available; "
            f"the smallest withdrawal is {money_with_code(minimum, currency)}."
        )
    return reason + (
        clearing_note(clearances, currency) or " Money becomes available after an order completes and clears."
    )


def _withdraw_refused(exc):
    """The form again with the amount as typed and the submission's own token (a fresh one
    when the form's had expired)."""
    message = UNAVAILABLE if isinstance(exc, PaymentsUnavailable) else exc.message
    token = request.form.get("request_token", "")
    return _page(message, request.form.get("amount", ""), exc.status, token if exc.field != "request_token" else None)


company_page(bp, "payouts", _page)


@company_form(bp, "/withdraw", "payouts", _withdraw_refused)
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
    return commit_and_redirect(
        f"Payout of {format_money(payout.amount_cents, payout.currency)} is on its way.", ".index"
    )
