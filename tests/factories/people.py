"""People: users, and sellers (a user owning, or belonging to, a seller company)."""

import itertools

from app.clock import now
from app.extensions import db
from app.models import CompanyMember
from app.services.accounts import register_user
from app.services.companies import create_seller_company

# Every user the factories make signs in with this password.
PASSWORD = "correct-horse-battery"

_numbers = itertools.count(1)


def make_user(email=None, password=PASSWORD, display_name=None, intent="hire", verified=True, **columns):
    """A User signed up through `register_user` (so with its `auth.sign_up` audit row), then
    given `columns` (`is_admin=True`...). Email and name default to unique ones. Its email
    address is confirmed unless `verified=False` (selling and withdrawing need it)."""
    number = next(_numbers)
    user = register_user(email or f"user{number}@example.com", password, display_name or f"User {number}", intent)
    if verified:
        user.email_verified_at = now()
    for name, value in columns.items():
        setattr(user, name, value)
    db.session.commit()
    return user


def make_seller(email=None, title=None, *, kyc="verified", connected=False, company=None, role="owner", **user_columns):
    """(user, company): a user (intent "sell") who owns a new seller company `title` whose KYC
    is `kyc` — or, given `company`, a user who joins it as `role` ("member", "admin"...).

    connected=True: the company is a Stripe merchant as far as our rows go — payouts enabled
    and a `stripe_account_id` ("acct_test_<id>", an account no sandbox knows; for a real one see
    `make_connected_account`). `user_columns` go to `make_user`.
    """
    user = make_user(email, intent="sell", **user_columns)
    if company is not None:
        db.session.add(CompanyMember(company_id=company.id, user_id=user.id, role=role))
        db.session.commit()
        return user, company
    company = create_seller_company(user, title or f"Studio {next(_numbers)}")
    company.kyc_status = kyc
    if connected:
        company.payouts_enabled, company.stripe_account_id = True, f"acct_test_{company.id}"
    db.session.commit()
    return user, company
