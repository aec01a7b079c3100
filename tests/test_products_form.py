"""The seller's product form (/sell/products/new and /edit), posted as a seller's browser would."""

import re

import pytest
from sqlalchemy import func, select

from app.models import Product
from tests.forms import post_form


def product_count(db):
    return db.session.scalar(select(func.count()).select_from(Product))


def product_form(**overrides):
    data = {
        "title": "Icon pack",
        "description": "**200** icons.",
        "price": "29.00",
        "billing": "one_time",
        "trial_days": "0",
        "active": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def seller_client(client, sign_in, make_seller):
    user, company = make_seller()
    sign_in(user)
    return client, company


def test_a_seller_creates_a_product_with_the_real_form(db, seller_client):
    client, company = seller_client
    assert client.get("/sell/products/new").status_code == 200

    response = post_form(client, "/sell/products/new", product_form())

    assert response.status_code == 303, response.get_data(as_text=True)[:1000]
    assert response.headers["Location"].endswith("/sell/products")
    product = db.session.scalars(select(Product)).one()
    assert (product.company_id, product.title, product.slug, product.price_cents) == (
        company.id,
        "Icon pack",
        "icon-pack",
        2900,
    )
    assert "<strong>200</strong>" in product.description_html
    assert "Icon pack" in client.get("/sell/products").get_data(as_text=True)


def test_a_second_product_with_the_same_title_gets_its_own_slug(db, seller_client):
    client, _ = seller_client
    for _ in range(2):
        assert post_form(client, "/sell/products/new", product_form()).status_code == 303
    assert sorted(db.session.scalars(select(Product.slug))) == ["icon-pack", "icon-pack-2"]


def test_editing_keeps_the_slug_unless_the_title_changes(db, seller_client):
    client, _ = seller_client
    post_form(client, "/sell/products/new", product_form())
    product = db.session.scalars(select(Product)).one()
    response = post_form(client, f"/sell/products/{product.id}/edit", product_form(price="35"))
    assert response.status_code == 303
    db.session.expire_all()
    assert (product.slug, product.price_cents) == ("icon-pack", 3500)


@pytest.mark.parametrize(
    "field, value",
    [
        ("title", ""),
        ("title", "x" * 121),
        ("price", "abc"),
        ("price", "0.50"),
        ("price", "-5"),
        ("price", "NaN"),
        ("price", "inf"),
        ("price", "1e3"),
        ("price", "99999999999999999999"),
        ("price", "²"),
        ("billing", "weekly"),
        ("trial_days", "-1"),
        ("trial_days", "99999999999999999999"),
        ("trial_days", "³"),
    ],
)
def test_bad_input_is_refused_with_the_field_named_and_nothing_saved(db, seller_client, field, value):
    client, _ = seller_client
    response = post_form(
        client,
        "/sell/products/new",
        product_form(**{field: value}, billing="month") if field == "trial_days" else product_form(**{field: value}),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(rf'<div class="field has-error">\s*<label for="{field}">', page), page
    assert product_count(db) == 0


def test_a_member_without_a_manager_role_cannot_create_products(db, client, sign_in, make_seller):
    _, company = make_seller()
    member, _ = make_seller(company=company, role="member")
    sign_in(member)
    assert post_form(client, "/sell/products/new", product_form()).status_code == 403
    assert product_count(db) == 0
