"""Hosted pages of the emulated Stripe: Checkout and Connect onboarding.

They stand in for checkout.stripe.com and connect.stripe.com: plain forms that work
without JavaScript, answering a successful POST with a 303 back to the app.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request
from werkzeug.wrappers import Response

from app.sandbox.stripe import objects as so
from app.sandbox.stripe import ops
from app.sandbox.stripe.ops import StripeError, atomic

bp = Blueprint("stripe_pages", __name__, template_folder="templates")


def format_amount(cents: int | None, currency: str | None) -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$"}.get(currency or "", "")
    return f"{symbol}{(cents or 0) // 100:,}.{(cents or 0) % 100:02d}" + (
        "" if symbol else f" {currency or ''}".upper()
    )


@bp.app_template_filter("money")
def money_filter(cents: int | None, currency: str | None) -> str:
    return format_amount(cents, currency)


def _session_or_404(session_id: str) -> dict:
    with atomic() as st:
        session = st.get("checkout.session", session_id)
        if session is None:
            abort(404)
        return ops.expire_if_due(session)


def _render_checkout(
    session: dict, status: int = 200, error: str | None = None, form: dict | None = None
) -> tuple[str, int]:
    st = ops.store()
    private = st.get_private(session["id"])
    return render_template(
        "stripe/checkout.html",
        session=session,
        items=private["line_items"],
        trial_days=private.get("subscription_data", {}).get("trial_period_days"),
        error=error,
        form=form or {},
    ), status


@bp.get("/checkout/<session_id>")
def checkout(session_id: str) -> tuple[str, int]:
    return _render_checkout(_session_or_404(session_id))


@bp.post("/checkout/<session_id>/pay")
def pay(session_id: str) -> Response | tuple[str, int]:
    session = _session_or_404(session_id)
    form = {
        "email": request.form.get("email", "").strip(),
        "name": request.form.get("name", "").strip(),
        "card_number": request.form.get("card_number", "").strip(),
    }
    if not form["card_number"]:
        return _render_checkout(session, 422, "Enter a card number.", form)
    try:
        with atomic():
            session = ops.pay_checkout_session(
                session_id, form["card_number"], form["email"] or None, form["name"] or None
            )
    except StripeError as err:
        return _render_checkout(ops.store().get("checkout.session", session_id), err.status, err.message, form)
    return redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"]), 303)


def _link_or_404(token: str) -> tuple[dict, dict, dict]:
    st = ops.store()
    link = st.get("account_link", "acctlink_" + token)
    if link is None:
        abort(404)
    private = st.get_private(link["id"])
    account = st.get("account", private["account"])
    return link, private, account


@bp.get("/connect/onboarding/<token>")
def onboarding(token: str) -> str:
    link, private, account = _link_or_404(token)
    return render_template(
        "stripe/onboarding.html",
        token=token,
        link=link,
        account=account,
        private=private,
        expired=link["expires_at"] < so.now(),
    )


@bp.post("/connect/onboarding/<token>/<outcome>")
def submit_onboarding(token: str, outcome: str) -> Response:
    link, private, account = _link_or_404(token)
    if outcome not in ("verified", "failed"):
        abort(404)
    if link["expires_at"] < so.now():
        return redirect(private["refresh_url"], 303)
    with atomic():
        ops.complete_onboarding(account["id"], outcome)
    return redirect(private["return_url"], 303)
