"""Buying routes the other buy tests leave out: resuming and cancelling a checkout on the
sandbox's hosted page, the live quote's refusals, and product checkout refusals."""

import re
from html import unescape
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Checkout
from tests import loopback
from tests.factories import LOGO_GIG, PASSWORD, make_gig, make_product, make_seller, make_user
from tests.forms import post_form, sign_in_as

CANCEL_LINK = re.compile(r'<a href="([^"]+)">Cancel and return to Tradepost</a>')


def checkout_count():
    return db.session.scalar(select(func.count()).select_from(Checkout))


@pytest.fixture
def shop(db):
    _, company = make_seller("seller@example.com", connected=True)
    gig = make_gig(company, slug="logo-design", **LOGO_GIG)
    make_product(company, "retired-pack").active = False
    make_user("buyer@example.com")
    db.session.commit()
    return SimpleNamespace(company=company, gig=gig)


@pytest.fixture
def buyer(client, shop):
    return sign_in_as(client, "buyer@example.com")


@pytest.mark.committed
def test_buyer_resumes_an_open_checkout_then_cancels_it_on_the_hosted_page(app, client, sandbox):
    with app.app_context():
        _, company = make_seller("seller@example.com", connected=True)
        make_gig(company, slug="logo-design", **LOGO_GIG)
        make_user("buyer@example.com")
    assert post_form(client, "/signin", {"email": "buyer@example.com", "password": PASSWORD}).status_code == 303
    started = post_form(client, "/gigs/logo-design/checkout", {"package": "standard"})
    assert started.status_code == 303
    hosted_url = started.headers["Location"]
    with app.app_context():
        checkout = db.session.scalars(select(Checkout)).one()
        assert (checkout.status, checkout.total_cents, checkout.stripe_session_url) == ("open", 10000, hosted_url)

    resumed = client.get(f"/checkout/{checkout.id}/resume")
    assert resumed.status_code == 303
    assert resumed.headers["Location"] == hosted_url
    hosted = loopback.get(hosted_url)
    assert hosted.status_code == 200 and "$100.00" in hosted.text

    cancel_url = unescape(CANCEL_LINK.search(hosted.text).group(1))
    parts = urlsplit(cancel_url)
    assert parts.path == "/gigs/logo-design/checkout/cancelled"
    cancelled = client.get(parts.path)
    assert cancelled.status_code == 303 and cancelled.headers["Location"] == "/gigs/logo-design"
    page = client.get("/gigs/logo-design").get_data(as_text=True)
    assert "Checkout cancelled — you haven&#39;t been charged." in page
    with app.app_context():
        assert db.session.scalars(select(Checkout.status)).all() == ["open"]


def test_signed_out_visitor_returning_from_a_cancelled_checkout_is_asked_to_sign_in(client, shop):
    response = client.get("/gigs/logo-design/checkout/cancelled")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]


@pytest.mark.parametrize(
    "form, field",
    [
        ({"package": "basic", "quantity": "two"}, "quantity"),
        ({"package": "basic", "quantity": "0"}, "quantity"),
        ({"package": "premium"}, "package"),
    ],
)
def test_quote_refuses_a_bad_selection_naming_the_field(buyer, form, field):
    response = post_form(
        buyer, "/gigs/logo-design/checkout/quote", form, headers={"HX-Request": "true", "HX-Target": "checkout-summary"}
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f'data-field="{field}"' in body and "<html" not in body
    assert checkout_count() == 0


def test_quote_for_a_gig_that_is_not_published_is_404(buyer, db, shop):
    shop.gig.status = "paused"
    db.session.commit()
    response = post_form(buyer, "/gigs/logo-design/checkout/quote", {"package": "basic"})
    assert response.status_code == 404
    assert checkout_count() == 0


@pytest.mark.parametrize("slug", ["retired-pack", "no-such-pack"])
def test_product_checkout_of_a_hidden_or_unknown_product_is_404_and_starts_nothing(buyer, slug):
    response = post_form(buyer, f"/products/{slug}/checkout")
    assert response.status_code == 404
    assert checkout_count() == 0
