"""Money state: a seller's Stripe account in the sandbox, a shop ready to be paid, and an
available balance to withdraw."""

from types import SimpleNamespace

from app.extensions import db
from app.payments import get_gateway
from app.services.ledger import Entry, post_ledger_transaction
from tests import loopback
from tests.factories.catalogue import LOGO_GIG, make_gig
from tests.factories.people import make_seller, make_user


def make_connected_account(sandbox_url, company):
    """A verified Stripe Connect account for `company`, made through the app's gateway (with the
    company's idempotency key) and verified on the sandbox at `sandbox_url`; stored as the
    company's `stripe_account_id` (returned), payouts enabled."""
    account = get_gateway().create_connected_account(
        company.id, company.email, idempotency_key=company.stripe_account_key
    )
    response = loopback.post(f"{sandbox_url}/_sandbox/accounts/{account.id}/verify", json={"outcome": "verified"})
    assert response.status_code == 200, response.text
    company.stripe_account_id, company.payouts_enabled = account.id, True
    db.session.commit()
    return account.id


def make_logo_shop(sandbox_url):
    """What buying the logo gig for real needs: seller@example.com (`owner`) whose `company` is
    verified with a Stripe account in the sandbox at `sandbox_url`, selling LOGO_GIG (`gig`) at
    /gigs/logo-design, and buyer@example.com (`buyer`); as a SimpleNamespace."""
    owner, company = make_seller("seller@example.com")
    make_connected_account(sandbox_url, company)
    gig = make_gig(company, slug="logo-design", **LOGO_GIG)
    return SimpleNamespace(owner=owner, company=company, gig=gig, buyer=make_user("buyer@example.com"))


def fund_available(company_id, cents, reference="test:seed"):
    """Give a seller `cents` of available balance, as if orders had completed and cleared (a
    balanced ledger transaction `reference`)."""
    post_ledger_transaction(
        reference,
        "test_seed",
        [Entry("platform_cash", cents), Entry("seller_available", -cents, company_id)],
        currency="usd",
    )
    db.session.commit()
