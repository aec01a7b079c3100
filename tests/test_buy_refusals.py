"""Checkout refusals: nothing is created, and the server alone decides the price."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.clock import now
from app.models import Checkout, GigPackage
from tests.factories import LOGO_GIG, PASSWORD, make_gig, make_product, make_seller, make_user
from tests.forms import post_form, sign_in_as


@pytest.fixture
def shop(db):
    _, company = make_seller("seller@example.com", connected=True)
    gig = make_gig(company, slug="logo-design", **LOGO_GIG)
    other_company = make_seller("other@example.com", "Other Studio", connected=True)[1]
    other_gig = make_gig(other_company, slug="other-gig", **LOGO_GIG)
    buyer = make_user("buyer@example.com")
    return {"gig": gig, "company": company, "other_gig": other_gig, "buyer": buyer}


@pytest.fixture
def buyer_client(client, shop):
    return sign_in_as(client, shop["buyer"])


def checkouts(db):
    return db.session.scalar(select(func.count()).select_from(Checkout))


def test_checkout_drawer_prices_on_the_server(buyer_client, shop):
    page = buyer_client.get(f"/gigs/logo-design/checkout?package=standard&extra_{shop['gig'].extras[0].id}=2")
    assert page.status_code == 200
    assert "$130.00" in page.get_data(as_text=True)
    drawer = buyer_client.get("/gigs/logo-design/checkout", headers={"HX-Request": "true", "HX-Target": "drawer"})
    body = drawer.get_data(as_text=True)
    assert "<html" not in body and 'id="checkout-drawer"' in body
    assert "HX-Request" in drawer.headers["Vary"]


def test_quote_endpoint_returns_the_summary(buyer_client, shop):
    extra = shop["gig"].extras[1]
    response = post_form(
        buyer_client,
        "/gigs/logo-design/checkout/quote",
        {"package": "basic", "quantity": "2", f"extra_{extra.id}": "1", "total_cents": "1"},
        headers={"HX-Request": "true", "HX-Target": "checkout-summary"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "$120.00" in body and 'id="checkout-summary"' in body and "<html" not in body


@pytest.mark.parametrize(
    "form, field, status",
    [
        ({"package": "premium"}, "package", 422),
        ({"package": "basic", "quantity": "0"}, "quantity", 422),
        ({"package": "basic", "quantity": "11"}, "quantity", 422),
        ({"package": "basic", "quantity": "two"}, "quantity", 422),
        ({"package": "basic", "extra_999999": "1"}, "extra_999999", 422),
    ],
)
def test_bad_selections_are_refused_and_create_nothing(buyer_client, db, shop, form, field, status):
    response = post_form(buyer_client, "/gigs/logo-design/checkout", form)
    assert response.status_code == status
    assert f'data-field="{field}"' in response.get_data(as_text=True)
    assert checkouts(db) == 0


def test_extra_quantity_above_its_limit_is_refused(buyer_client, db, shop):
    express = shop["gig"].extras[1]
    response = post_form(buyer_client, "/gigs/logo-design/checkout", {"package": "basic", f"extra_{express.id}": "2"})
    assert response.status_code == 422
    assert "choose between 0 and 1" in response.get_data(as_text=True)
    assert checkouts(db) == 0


def test_package_of_another_gig_is_refused(buyer_client, db, shop):
    foreign = db.session.scalars(select(GigPackage).where(GigPackage.gig_id == shop["other_gig"].id)).first()
    response = post_form(buyer_client, "/gigs/logo-design/checkout", {"package": str(foreign.id)})
    assert response.status_code == 422
    assert "Choose one of this gig&#39;s packages." in response.get_data(as_text=True)
    assert checkouts(db) == 0


def test_extra_of_another_gig_is_refused(buyer_client, db, shop):
    foreign_extra = shop["other_gig"].extras[0]
    response = post_form(
        buyer_client, "/gigs/logo-design/checkout", {"package": "basic", f"extra_{foreign_extra.id}": "1"}
    )
    assert response.status_code == 422
    assert checkouts(db) == 0


@pytest.mark.parametrize("status", ["draft", "review", "paused", "rejected"])
def test_gigs_not_published_cannot_be_bought(buyer_client, db, shop, status):
    shop["gig"].status = status
    db.session.commit()
    assert buyer_client.get("/gigs/logo-design/checkout").status_code == 404
    assert post_form(buyer_client, "/gigs/logo-design/checkout", {"package": "basic"}).status_code == 404
    assert checkouts(db) == 0


def test_seller_cannot_buy_their_own_gig(client, db, shop):
    assert post_form(client, "/signin", {"email": "seller@example.com", "password": PASSWORD}).status_code == 303
    response = post_form(client, "/gigs/logo-design/checkout", {"package": "basic"})
    assert response.status_code == 403
    assert "You can&#39;t buy your own gig." in response.get_data(as_text=True)
    assert checkouts(db) == 0


def test_signed_out_buyer_keeps_the_chosen_options_through_sign_in(client, shop):
    response = client.get("/gigs/logo-design/checkout?package=standard&quantity=2")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "/signin" in location and "package%3Dstandard" in location and "quantity%3D2" in location
    from urllib.parse import parse_qs, quote, urlsplit

    next_url = parse_qs(urlsplit(location).query)["next"][0]
    sign_in_page = client.get(location).get_data(as_text=True)
    assert "package%3Dstandard%26quantity%3D2" in sign_in_page
    signed_in = post_form(
        client, f"/signin?next={quote(next_url)}", {"email": "buyer@example.com", "password": PASSWORD}
    )
    assert signed_in.headers["Location"] == next_url
    assert "$200.00" in client.get(next_url).get_data(as_text=True)


def test_expired_checkout_cannot_be_resumed(buyer_client, db, shop):
    checkout = Checkout(
        kind="gig",
        buyer_id=shop["buyer"].id,
        company_id=shop["company"].id,
        gig_id=shop["gig"].id,
        package_id=shop["gig"].packages[0].id,
        title="x",
        unit_price_cents=5000,
        subtotal_cents=5000,
        extras_cents=0,
        total_cents=5000,
        fee_bps=1000,
        fee_cents=500,
        currency="usd",
        delivery_days=3,
        stripe_session_id="cs_test_old",
        stripe_session_url="http://127.0.0.1:1/old",
        expires_at=now() - timedelta(minutes=1),
    )
    db.session.add(checkout)
    db.session.commit()
    response = buyer_client.get(f"/checkout/{checkout.id}/resume")
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)


def test_another_buyer_cannot_see_a_checkout(client, db, shop):
    other = make_user("nosy@example.com")
    checkout = Checkout(
        kind="gig",
        buyer_id=shop["buyer"].id,
        company_id=shop["company"].id,
        gig_id=shop["gig"].id,
        package_id=shop["gig"].packages[0].id,
        title="x",
        unit_price_cents=5000,
        subtotal_cents=5000,
        extras_cents=0,
        total_cents=5000,
        fee_bps=1000,
        fee_cents=500,
        currency="usd",
        delivery_days=3,
        stripe_session_id="cs_test_mine",
        stripe_session_url="http://127.0.0.1:1/x",
        expires_at=now() + timedelta(minutes=30),
    )
    db.session.add(checkout)
    db.session.commit()
    post_form(client, "/signin", {"email": other.email, "password": PASSWORD})
    assert client.get(f"/checkout/{checkout.id}/resume").status_code == 404
    assert client.get("/checkout/success?session_id=cs_test_mine").status_code == 404


def test_another_seller_cannot_edit_a_product(client, db, shop):
    product = make_product(shop["company"])
    db.session.commit()
    assert post_form(client, "/signin", {"email": "other@example.com", "password": PASSWORD}).status_code == 303
    assert client.get(f"/sell/products/{product.id}/edit").status_code == 404
    response = post_form(client, f"/sell/products/{product.id}/edit", {"title": "Hijacked", "price": "1.00"})
    assert response.status_code == 404
    db.session.refresh(product)
    assert product.title != "Hijacked"
