"""Money state: a seller's Stripe account in the sandbox, and an available balance to withdraw."""
import httpx

from app.extensions import db
from app.payments import get_gateway
from app.services.ledger import Entry, post_ledger_transaction


def make_connected_account(sandbox_url, company):
    """A verified Stripe Connect account for `company`, made through the app's gateway (with the
    company's idempotency key) and verified on the sandbox at `sandbox_url`; stored as the
    company's `stripe_account_id` (returned), payouts enabled."""
    account = get_gateway().create_connected_account(company.id, company.email,
                                                     idempotency_key=company.stripe_account_key)
    response = httpx.post(f"{sandbox_url}/_sandbox/accounts/{account.id}/verify", json={"outcome": "verified"})
    assert response.status_code == 200, response.text
    company.stripe_account_id, company.payouts_enabled = account.id, True
    db.session.commit()
    return account.id


def fund_available(company_id, cents, reference="test:seed"):
    """Give a seller `cents` of available balance, as if orders had completed and cleared (a
    balanced ledger transaction `reference`)."""
    post_ledger_transaction(reference, "test_seed", [Entry("platform_cash", cents),
                                                      Entry("seller_available", -cents, company_id)],
                            currency="usd")
    db.session.commit()
