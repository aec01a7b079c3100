"""Factories: rows the tests need, made the way the app makes them where it matters.

Each factory works in the current app context, makes what it says, commits it (inside a
rolled-back test that releases a SAVEPOINT, so a view's rollback cannot undo it) and returns
it. Tests take the common ones as fixtures (tests/factories/fixtures.py: `make_user`,
`make_seller`, `make_gig`, `make_category`, `category`, `cast`); code that runs outside a
test's fixtures — a committed test's `with app.app_context():`, a module-scoped world —
imports the same functions from here.

people       PASSWORD, make_user, make_seller
catalogue    make_category, make_gig (LOGO_GIG, LOGO_QUESTIONS), make_product, make_plan
orders       make_cast, make_order, answers_for, request_cancel_event
licensing    make_policy, make_membership, make_licensed_shop
money        make_connected_account, make_logo_shop, fund_available
"""

from tests.factories.catalogue import LOGO_GIG, LOGO_QUESTIONS, make_category, make_gig, make_plan, make_product
from tests.factories.licensing import make_licensed_shop, make_membership, make_policy
from tests.factories.money import fund_available, make_connected_account, make_logo_shop
from tests.factories.orders import answers_for, make_cast, make_order, request_cancel_event
from tests.factories.people import PASSWORD, make_seller, make_user

__all__ = [
    "LOGO_GIG",
    "LOGO_QUESTIONS",
    "PASSWORD",
    "answers_for",
    "fund_available",
    "make_cast",
    "make_category",
    "make_connected_account",
    "make_gig",
    "make_licensed_shop",
    "make_logo_shop",
    "make_membership",
    "make_order",
    "make_policy",
    "make_plan",
    "make_product",
    "make_seller",
    "make_user",
    "request_cancel_event",
]
