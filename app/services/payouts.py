"""Seller withdrawals: a Stripe transfer to the connected account, never more than is available.

Two steps with a commit between: `request_payout` writes the pending payout and its random
idempotency key; `complete_payout` makes the transfer with that key and records it.
"""

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.models import Company, LedgerEntry, LedgerTransaction, Order, Payout, User
from app.money import format_money, marketplace_currency
from app.payments import get_gateway
from app.services.accounts import require_verified_email
from app.services.affiliates.commissions import mark_commissions_paid, payout_account
from app.services.audit import record_audit_event
from app.services.ledger import Entry, company_balances, post_ledger_transaction, sum_cents
from app.services.mail import app_url, send_template
from app.services.outbound.outbox import record_event


class PayoutError(ServiceError):
    """A withdrawal that cannot be made (too little, too much, one still pending): 409."""

    def __init__(self, message: str):
        super().__init__(409, "payout_refused", message, field="amount")


REQUEST_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def request_payout(company: Company, amount_cents: int, actor: User, request_token: str | None) -> Payout:
    """Step one of a withdrawal: the pending Payout for this form submission, with its random
    Stripe idempotency key. The caller commits it, then calls `complete_payout`.

    One submission (`request_token`, carried by the form) is one payout however often it
    arrives: twenty clicks at once find the same row. A company has at most one pending payout;
    asking again for the same amount retries it (same key), another amount is refused until it
    is finished. The company row is locked first (FOR UPDATE on PostgreSQL; SQLite transactions
    are serial), so two withdrawals at once can never spend the same balance. Raises PayoutError
    and writes nothing when the amount is below the minimum or above what is available, and
    VerificationRequired (403) while the actor's email address is not confirmed.
    """
    require_verified_email(actor, "you withdraw money")
    if not REQUEST_TOKEN.fullmatch(request_token or ""):
        raise PayoutError("This form has expired: reload the page and try again.")
    _lock_company(company)
    payout = db.session.execute(
        select(Payout)
        .where(Payout.company_id == company.id, Payout.request_token == request_token)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if payout is not None and payout.status != "pending":
        if payout.amount_cents == amount_cents:
            return payout
        raise PayoutError("This form was already used for another withdrawal: reload the page first.")
    pending = (
        payout
        or db.session.execute(
            select(Payout)
            .where(Payout.company_id == company.id, Payout.status == "pending")
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
    )
    if pending is not None:
        if pending.amount_cents == amount_cents:
            return pending
        raise PayoutError(
            f"A withdrawal of {format_money(pending.amount_cents, pending.currency)} is still waiting for Stripe. "
            "Withdraw that amount again to finish it first."
        )
    minimum = company.payout_minimum(current_app.config["PAYOUT_MINIMUM_CENTS"])
    available = company_balances(company.id)["available"]
    if company.is_suspended:
        raise PayoutError("Payouts are frozen while the company is suspended.")
    if not company.payouts_enabled or not company.stripe_account_id:
        raise PayoutError("Finish identity verification with Stripe to receive payouts.")
    currency = marketplace_currency()
    if amount_cents < minimum:
        raise PayoutError(f"The smallest withdrawal is {money_with_code(minimum, currency)}.")
    if amount_cents > available:
        raise PayoutError(
            f"You can withdraw at most {money_with_code(available, currency)} right now."
            + clearing_note(pending_clearances(company.id), currency)
        )
    return _add_pending_payout(company, amount_cents, request_token, actor.id)


def _add_pending_payout(
    company: Company, amount_cents: int, request_token: str | None, requested_by: int | None
) -> Payout:
    """A new pending payout of the company in the platform currency, added and flushed."""
    payout = Payout(
        company_id=company.id,
        amount_cents=amount_cents,
        currency=current_app.config["CURRENCY"],
        status="pending",
        request_token=request_token,
        requested_by_user_id=requested_by,
    )
    db.session.add(payout)
    db.session.flush()
    return payout


def complete_payout(payout: Payout, actor: User | None) -> Payout:
    """Step two: transfer the pending payout to the company's Stripe account with the payout's
    stored key, then record it — the ledger transaction, audit row and outbound event — once.

    A payout already paid is returned as it is, so a retry or a concurrent duplicate finishes
    without a second transfer. Raises PaymentsUnavailable when Stripe can't be reached (the
    payout stays pending and retrying is safe). Flushed.
    """
    company = db.session.get_one(Company, payout.company_id)
    _lock_company(company)
    db.session.refresh(payout)
    if payout.status != "pending":
        return payout
    if not company.stripe_account_id:  # checked when the payout was requested
        raise PayoutError("Finish identity verification with Stripe to receive payouts.")
    transfer = get_gateway().create_transfer(
        amount=payout.amount_cents,
        currency=payout.currency,
        destination=company.stripe_account_id,
        transfer_group=f"payout_{payout.idempotency_key}",
        idempotency_key=payout.idempotency_key,
        metadata={"payout_id": payout.id, "company_id": company.id, "payout_key": payout.idempotency_key},
    )
    payout.stripe_transfer_id, payout.status = transfer.id, "paid"
    post_ledger_transaction(
        f"payout:{payout.id}",
        "payout",
        [
            Entry(payout_account(company.id), payout.amount_cents, company.id),
            Entry("platform_cash", -payout.amount_cents),
        ],
        currency=payout.currency,
        description=f"Payout #{payout.id} to {company.title}",
    )
    mark_commissions_paid(payout)
    record_audit_event("payout.created", actor=actor, company=company, subject=payout, amount_cents=payout.amount_cents)
    record_event(
        company.id,
        "payout.created",
        {
            "payout_id": payout.id,
            "amount_cents": payout.amount_cents,
            "currency": payout.currency,
            "status": payout.status,
            "transfer_id": payout.stripe_transfer_id,
        },
    )
    payout_company = db.session.get_one(Company, payout.company_id)
    for manager in payout_company.managers():
        send_template(
            manager,
            "payout_sent",
            company_name=payout_company.title,
            amount=format_money(payout.amount_cents, payout.currency),
            link=app_url("sell.payouts.index"),
        )
    db.session.flush()
    return payout


# -- automatic payouts (the company's payout schedule) -------------------------------------------


def schedule_period(schedule: str, moment: datetime) -> str:
    """The period of `schedule` that `moment` falls in: 2026-11-30, 2026-W49 or 2026-11."""
    if schedule == "daily":
        return moment.strftime("%Y-%m-%d")
    if schedule == "weekly":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if schedule == "monthly":
        return moment.strftime("%Y-%m")
    raise ValueError(f"no periods for schedule {schedule!r}")


def companies_with_payout_schedules() -> Sequence[int]:
    """Ids of active seller companies paid out automatically (any schedule but manual)."""
    return db.session.scalars(
        select(Company.id)
        .where(
            Company.kind == "seller",
            Company.status == "active",
            Company.payout_schedule != "manual",
            Company.payouts_enabled.is_(True),
        )
        .order_by(Company.id)
    ).all()


def request_scheduled_payout(company_id: int) -> Payout | None:
    """Step one of this period's automatic payout of the whole available balance: the pending
    Payout (new, or this period's that is still pending), else None — already paid this
    period, nothing due (below the company's minimum), payouts frozen or not set up.

    The period's request token (`auto-<schedule>-<period>`, unique per company) makes it one
    payout per period however many workers run the schedule at once; the company row is
    locked first, as for withdrawals. The caller commits, then calls `complete_payout`.
    """
    company = db.session.get(Company, company_id)
    if company is None or company.payout_schedule == "manual":
        return None
    _lock_company(company)
    db.session.refresh(company)
    token = f"auto-{company.payout_schedule}-{schedule_period(company.payout_schedule, now())}"
    existing = db.session.execute(
        select(Payout)
        .where(Payout.company_id == company.id, Payout.request_token == token)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if existing is not None:
        return existing if existing.status == "pending" else None
    if company.is_suspended or not company.payouts_enabled or not company.stripe_account_id:
        return None
    pending = db.session.scalar(select(Payout.id).where(Payout.company_id == company.id, Payout.status == "pending"))
    available = company_balances(company.id)["available"]
    if pending is not None or available < max(1, company.payout_minimum(current_app.config["PAYOUT_MINIMUM_CENTS"])):
        return None
    return _add_pending_payout(company, available, token, None)


def money_with_code(cents: int, currency: str) -> str:
    """'$12.00 USD': the amount with the currency's code, so a refusal can't be misread."""
    return f"{format_money(cents, currency)} {currency.upper()}"


def pending_clearances(company_id: int) -> list[tuple[date, int]]:
    """[(day, cents)] of the company's pending money, by the day it becomes available (soonest
    first): each completed, not yet cleared order's pending balance, due CLEARANCE_DAYS after
    its completion (the clearance sweep moves it on its next run that day)."""
    rows = db.session.execute(
        select(Order.completed_at, sum_cents(LedgerEntry.amount_cents))
        .join(LedgerTransaction, LedgerTransaction.order_id == Order.id)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(
            Order.company_id == company_id,
            Order.status == "completed",
            Order.cleared_at.is_(None),
            LedgerEntry.account == "seller_pending",
        )
        .group_by(Order.id, Order.completed_at)
        .execution_options(skip_tenant_scope=True)
    ).all()
    days: dict[date, int] = {}
    clearance = timedelta(days=current_app.config["CLEARANCE_DAYS"])
    for completed_at, total in rows:
        if -total > 0:
            day = (completed_at + clearance).date()
            days[day] = days.get(day, 0) - total
    return sorted(days.items())


def clearing_note(clearances: Sequence[tuple[date, int]], currency: str) -> str:
    """' $12.00 USD clears on Dec 03, 2026.' for the soonest pending money, or '' when none is pending."""
    if not clearances:
        return ""
    day, cents = clearances[0]
    return f" {money_with_code(cents, currency)} clears on {day.strftime('%b %d, %Y')}."


def _lock_company(company: Company) -> None:
    db.session.execute(select(Company.id).where(Company.id == company.id).with_for_update())


def weekly_earnings(company_id: int, weeks: int = 12) -> list[tuple[date, int]]:
    """[(week start date, cents released to the seller that week)] for the last `weeks` weeks."""
    today = now().date()
    start = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    rows = db.session.execute(
        select(LedgerTransaction.created_at, LedgerEntry.amount_cents)
        .join(LedgerEntry)
        .where(
            LedgerTransaction.kind == "escrow_release",
            LedgerEntry.company_id == company_id,
            LedgerEntry.account == "seller_pending",
            LedgerTransaction.created_at
            >= now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=(today - start).days),
        )
    ).all()
    buckets = {start + timedelta(weeks=i): 0 for i in range(weeks)}
    for created_at, amount in rows:
        day = created_at.date()
        buckets[day - timedelta(days=day.weekday())] += -amount
    return sorted(buckets.items())


def payout_history(company_id: int, limit: int = 50) -> Sequence[Payout]:
    """The company's newest payouts."""
    return db.session.scalars(
        select(Payout).where(Payout.company_id == company_id).order_by(Payout.created_at.desc()).limit(limit)
    ).all()


def lifetime_paid_out(company_id: int) -> int:
    """Cents paid out to the company so far."""
    return db.session.execute(
        select(sum_cents(Payout.amount_cents)).where(Payout.company_id == company_id, Payout.status == "paid")
    ).scalar_one()
