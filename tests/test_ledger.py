"""The ledger is append-only and balanced, enforced by the database as well as the service."""

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from app.models import LedgerEntry, LedgerTransaction
from app.services.ledger import Entry, LedgerError, account_balance, company_balances, post_ledger_transaction


@pytest.fixture
def posted(db):
    transaction = post_ledger_transaction(
        "test:1", "test", [Entry("platform_cash", 1000), Entry("platform_fee_revenue", -1000)], currency="usd"
    )
    db.session.commit()
    return transaction


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount_cents = 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET description = 'edited'",
        "DELETE FROM ledger_transactions",
    ],
)
def test_updates_and_deletes_are_rejected_by_the_database(db, posted, statement):
    savepoint = db.session.begin_nested()
    with pytest.raises(DatabaseError, match="ledger_append_only"):
        db.session.execute(text(statement))
    savepoint.rollback()
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 2
    assert db.session.scalar(select(LedgerTransaction.description)) == ""


def test_unbalanced_or_unknown_accounts_are_refused_and_nothing_written(db):
    with pytest.raises(LedgerError, match="sum to zero"):
        post_ledger_transaction(
            "bad:1", "test", [Entry("platform_cash", 1000), Entry("platform_fee_revenue", -999)], currency="usd"
        )
    with pytest.raises(LedgerError, match="unknown ledger account"):
        post_ledger_transaction("bad:2", "test", [Entry("platform_cash", 5), Entry("petty_cash", -5)], currency="usd")
    with pytest.raises(LedgerError, match="at least two"):
        post_ledger_transaction("bad:3", "test", [Entry("platform_cash", 0)], currency="usd")
    assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == 0


def test_the_same_reference_posts_once(db, posted):
    again = post_ledger_transaction(
        "test:1", "test", [Entry("platform_cash", 1000), Entry("platform_fee_revenue", -1000)], currency="usd"
    )
    assert again is None
    assert account_balance("platform_cash") == 1000
    assert account_balance("platform_fee_revenue") == 1000


def test_company_balances_are_sums_of_entries(db, make_user):
    from app.services.companies import create_seller_company

    company = create_seller_company(make_user(intent="sell"), "Ledger Co")
    post_ledger_transaction(
        "t:1", "test", [Entry("platform_cash", 700), Entry("seller_escrow", -700, company.id)], currency="usd"
    )
    post_ledger_transaction(
        "t:2",
        "test",
        [Entry("seller_escrow", 300, company.id), Entry("seller_pending", -300, company.id)],
        currency="usd",
    )
    assert company_balances(company.id) == {"escrow": 400, "pending": 300, "available": 0}
