"""Posting to the append-only ledger and reading balances from it.

Every movement of money is one ledger transaction with ≥ 2 entries summing to zero
(positive = debit, negative = credit). A transaction's `reference` is unique and derived from
the business object (e.g. `payment:12`), so posting the same movement twice is a no-op.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, ColumnElement, ColumnExpressionArgument, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.clock import now
from app.extensions import db
from app.models import LedgerEntry, LedgerTransaction
from app.models.ledger import ACCOUNTS

money_log = logging.getLogger("app.money")
CREDIT_NORMAL = {
    "platform_fee_revenue",
    "seller_escrow",
    "seller_pending",
    "seller_available",
    "affiliate_pending",
    "affiliate_available",
}


def sum_cents(column: ColumnExpressionArgument[int]) -> ColumnElement[int]:
    """SUM of a cents column as an integer on every database (PostgreSQL's SUM(bigint) is numeric)."""
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


class LedgerError(ValueError):
    """An unbalanced or malformed ledger transaction."""


@dataclass(frozen=True)
class Entry:
    account: str
    amount_cents: int
    company_id: int | None = None


def post_ledger_transaction(
    reference: str,
    kind: str,
    entries: Sequence[Entry],
    *,
    currency: str,
    description: str = "",
    order_id: int | None = None,
    payment_id: int | None = None,
) -> LedgerTransaction | None:
    """Write one balanced transaction unless `reference` was already posted.

    Returns the new LedgerTransaction, or None when the reference exists (a replay).
    Raises LedgerError, writing nothing, if the entries don't balance or name unknown accounts.
    """
    if len(entries) < 2:
        raise LedgerError("a ledger transaction needs at least two entries")
    if sum(entry.amount_cents for entry in entries) != 0:
        raise LedgerError(f"entries of {reference} do not sum to zero")
    for entry in entries:
        if entry.account not in ACCOUNTS:
            raise LedgerError(f"unknown ledger account {entry.account!r}")
        if not isinstance(entry.amount_cents, int):
            raise LedgerError("ledger amounts are integer cents")
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    transaction_id = db.session.execute(
        insert(LedgerTransaction)
        .values(
            reference=reference,
            kind=kind,
            description=description,
            order_id=order_id,
            payment_id=payment_id,
            created_at=now(),
        )
        .on_conflict_do_nothing(index_elements=["reference"])
        .returning(LedgerTransaction.id)
    ).scalar()
    if transaction_id is None:
        return None
    db.session.add_all(
        LedgerEntry(
            transaction_id=transaction_id,
            account=entry.account,
            company_id=entry.company_id,
            amount_cents=entry.amount_cents,
            currency=currency,
        )
        for entry in entries
        if entry.amount_cents != 0
    )
    db.session.flush()
    moved = sum(entry.amount_cents for entry in entries if entry.amount_cents > 0)
    money_log.info(
        "ledger %s %s: %s %s",
        kind,
        reference,
        moved,
        currency,
        extra={
            "event": "ledger.posted",
            "kind": kind,
            "reference": reference,
            "amount_cents": moved,
            "currency": currency,
            "order_id": order_id,
            "payment_id": payment_id,
        },
    )
    return db.session.get(LedgerTransaction, transaction_id)


def account_balance(account: str, company_id: int | None = None) -> int:
    """Balance of one account in cents, positive in the account's normal direction."""
    query = select(sum_cents(LedgerEntry.amount_cents)).where(LedgerEntry.account == account)
    if company_id is not None:
        query = query.where(LedgerEntry.company_id == company_id)
    total = db.session.execute(query).scalar_one()
    return -total if account in CREDIT_NORMAL else total


def company_balances(company_id: int) -> dict[str, int]:
    """A company's escrow, pending and available balances in cents (an affiliate payout
    company's pending and available are its affiliate_* accounts; a seller has none)."""
    rows = db.session.execute(
        select(LedgerEntry.account, sum_cents(LedgerEntry.amount_cents))
        .where(LedgerEntry.company_id == company_id)
        .group_by(LedgerEntry.account)
    ).all()
    sums = {account: -total for account, total in rows}
    return {
        name: sums.get(f"seller_{name}", 0) + sums.get(f"affiliate_{name}", 0)
        for name in ("escrow", "pending", "available")
    }


def unbalanced_transactions() -> Sequence[str]:
    """References of transactions whose entries don't sum to zero (should always be empty)."""
    return db.session.scalars(
        select(LedgerTransaction.reference)
        .join(LedgerEntry)
        .group_by(LedgerTransaction.id, LedgerTransaction.reference)
        .having(func.sum(LedgerEntry.amount_cents) != 0)
    ).all()
