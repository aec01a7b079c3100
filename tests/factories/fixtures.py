"""The factories as fixtures (a pytest plugin registered in tests/conftest.py): each returns
the factory, to call in the test's app context, so a test asks for `make_gig` instead of
importing it; and two ready-made rows, `category` and `cast`. See tests/factories/__init__.py
for what every factory makes."""

import pytest

from app.clock import freeze, now
from tests.factories import catalogue, orders, people


@pytest.fixture
def make_user(db):
    """make_user(email=None, password=PASSWORD, display_name=None, intent="hire", **columns) → a User."""
    return people.make_user


@pytest.fixture
def make_seller(db):
    """make_seller(email=None, title=None, *, kyc="verified", connected=False, company=None,
    role="owner", **user_columns) → (user, company)."""
    return people.make_seller


@pytest.fixture
def make_category(db):
    """make_category(slug="design", name=None, position=0) → the Category, made if missing."""
    return catalogue.make_category


@pytest.fixture
def make_gig(db):
    """make_gig(company=None, title="A gig", *, status="published", ...) → a Gig; without a
    company, every gig of the test belongs to one verified seller made for it."""
    test_seller = []

    def make(company=None, *args, **options):
        if company is None:
            if not test_seller:
                test_seller.append(people.make_seller()[1])
            company = test_seller[0]
        return catalogue.make_gig(company, *args, **options)

    make.__doc__ = catalogue.make_gig.__doc__
    return make


@pytest.fixture
def category(make_category):
    """The "design" Category."""
    return make_category("design")


@pytest.fixture
def cast(db):
    """`make_cast()`: a seller's owner and member, their gig, a buyer, an admin and two outsiders."""
    return orders.make_cast()


@pytest.fixture
def clock():
    """Pin app time (app/clock.py) at now; `clock(delta)` moves it to `delta` after the start.
    Released afterwards. (Files whose tests set absolute times define their own `clock`.)"""
    start_at = now()
    freeze(start_at)
    yield lambda delta: freeze(start_at + delta)
    freeze(None)
