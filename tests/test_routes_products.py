"""The seller's product catalogue (/sell/products: list, new, edit) and the refusals of the
member-content delete buttons."""

import re
from io import BytesIO

import pytest
from sqlalchemy import func, select

from app.models import MemberFile, MemberPost, Product
from app.tenancy import without_tenant
from tests.factories import make_product
from tests.forms import post_form

pytestmark = pytest.mark.usefixtures("uploads")


@pytest.fixture
def catalogue(db, make_seller):
    """An owner with two products, and a rival seller with one."""
    owner, company = make_seller()
    kit = make_product(company, slug="maker-kit", price_cents=2900)
    make_product(company, slug="pro-plugin", billing="month", price_cents=1250, trial_days=7)
    rival, rival_company = make_seller()
    rival_product = make_product(rival_company, slug="rival-pack")
    db.session.commit()
    return type(
        "Catalogue",
        (),
        {"owner": owner, "company": company, "kit": kit, "rival": rival, "rival_product": rival_product},
    )


def product_count(db):
    with without_tenant():
        return db.session.scalar(select(func.count(Product.id)))


def test_seller_lists_their_own_products_only(client, catalogue, sign_in):
    sign_in(catalogue.owner)
    response = client.get("/sell/products")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Maker Kit" in page and "$29.00" in page and "One-time" in page
    assert "Pro Plugin" in page and "Monthly · 7-day trial" in page
    assert "Rival Pack" not in page


def test_new_product_form_is_for_owners_and_admins(client, db, catalogue, make_seller, sign_in):
    sign_in(catalogue.owner)
    page = client.get("/sell/products/new")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "New product" in body and 'action="/sell/products/new"' in body
    assert '<option value="one_time" selected>' in body

    member, _ = make_seller(company=catalogue.company, role="member")
    post_form(client, "/signout")
    sign_in(member)
    assert client.get("/sell/products/new").status_code == 403


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"title": "Kit", "price": "abc"}, "price", "Price must be between $1.00 and $10,000.00."),
        ({"title": "Kit", "price": "NaN"}, "price", "Price must be between $1.00 and $10,000.00."),
        ({"title": "Kit", "price": "0.50"}, "price", "Price must be between $1.00 and $10,000.00."),
        ({"title": "Ki", "price": "9.00"}, "title", "Give the product a title of 3 to 120 characters."),
        ({"title": "Kit", "price": "9.00", "billing": "weekly"}, "billing", "Choose one-time, monthly or yearly."),
        (
            {"title": "Kit", "price": "9.00", "billing": "month", "trial_days": "-1"},
            "trial_days",
            "Trial days must be between 0 and 90.",
        ),
    ],
)
def test_new_product_with_bad_input_is_refused_naming_the_field(client, db, catalogue, sign_in, form, field, message):
    sign_in(catalogue.owner)
    before = product_count(db)
    response = post_form(client, "/sell/products/new", {"description": "Kept *text*", **form})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(rf'class="field has-error">\s*<label for="{field}"', page)
    assert message in page and "Kept *text*" in page
    assert product_count(db) == before


def test_member_cannot_create_a_product(client, db, catalogue, make_seller, sign_in):
    member, _ = make_seller(company=catalogue.company, role="member")
    sign_in(member)
    before = product_count(db)
    response = post_form(client, "/sell/products/new", {"title": "Sneaky kit", "price": "9.00"})
    assert response.status_code == 403
    assert product_count(db) == before


def test_edit_form_shows_the_product_and_saving_updates_it(client, db, catalogue, sign_in):
    sign_in(catalogue.owner)
    kit = catalogue.kit
    page = client.get(f"/sell/products/{kit.id}/edit")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Edit Maker Kit" in body and 'value="29.00"' in body and "checked" in body

    response = post_form(
        client,
        f"/sell/products/{kit.id}/edit",
        {
            "title": "Maker Kit Deluxe",
            "description": "Now with **more**",
            "price": "39.50",
            "billing": "year",
            "trial_days": "14",
            "active": "on",
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == "/sell/products"
    db.session.refresh(kit)
    assert (kit.title, kit.price_cents, kit.billing, kit.trial_days, kit.active) == (
        "Maker Kit Deluxe",
        3950,
        "year",
        14,
        True,
    )
    assert "<strong>more</strong>" in kit.description_html
    listing = client.get("/sell/products").get_data(as_text=True)
    assert "“Maker Kit Deluxe” is updated." in listing and "$39.50" in listing
    assert client.get(f"/products/{kit.slug}").status_code == 200


def test_edit_with_bad_input_is_refused_and_changes_nothing(client, db, catalogue, sign_in):
    sign_in(catalogue.owner)
    kit = catalogue.kit
    response = post_form(client, f"/sell/products/{kit.id}/edit", {"title": "Maker Kit", "price": "-5"})
    assert response.status_code == 422
    assert "Price must be between $1.00 and $10,000.00." in response.get_data(as_text=True)
    db.session.refresh(kit)
    assert (kit.title, kit.price_cents) == ("Maker Kit", 2900)


def test_unhiding_a_product_puts_it_back_on_sale(client, db, catalogue, sign_in):
    kit = catalogue.kit
    kit.active = False
    db.session.commit()
    assert client.get(f"/products/{kit.slug}").status_code == 404
    sign_in(catalogue.owner)
    response = post_form(
        client,
        f"/sell/products/{kit.id}/edit",
        {"title": "Maker Kit", "price": "29.00", "billing": "one_time", "active": "on"},
    )
    assert response.status_code == 303
    assert client.get(f"/products/{kit.slug}").status_code == 200


def upload(client, product_id, name, data):
    return post_form(
        client,
        f"/sell/products/{product_id}/content/files",
        {"file": (BytesIO(data), name)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def content(client, db, catalogue, sign_in):
    """A post and a file in the owner's Maker Kit, added through the content page."""
    sign_in(catalogue.owner)
    pid = catalogue.kit.id
    posted = post_form(client, f"/sell/products/{pid}/content/posts", {"title": "Lesson 1", "body": "Hi"})
    assert posted.status_code == 303
    assert upload(client, pid, "kit.pdf", b"%PDF kit").status_code == 303
    post_form(client, "/signout")
    return db.session.scalar(select(MemberPost)), db.session.scalar(select(MemberFile))


def content_counts(db):
    with without_tenant():
        return (
            db.session.scalar(select(func.count(MemberPost.id))),
            db.session.scalar(select(func.count(MemberFile.id))),
        )


def test_another_seller_cannot_delete_posts_or_files(client, db, catalogue, content, sign_in, uploads):
    post, member_file = content
    pid = catalogue.kit.id
    sign_in(catalogue.rival)
    assert post_form(client, f"/sell/products/{pid}/content/posts/{post.id}/delete").status_code == 404
    assert post_form(client, f"/sell/products/{pid}/content/files/{member_file.id}/delete").status_code == 404
    # Nor through their own product's URL.
    theirs = catalogue.rival_product.id
    assert post_form(client, f"/sell/products/{theirs}/content/posts/{post.id}/delete").status_code == 404
    assert post_form(client, f"/sell/products/{theirs}/content/files/{member_file.id}/delete").status_code == 404
    assert content_counts(db) == (1, 1)
    assert (uploads / member_file.storage_key).is_file()


def test_posts_and_files_of_another_product_cannot_be_deleted_through_this_one(client, db, catalogue, content, sign_in):
    post, member_file = content
    other = db.session.scalar(select(Product).where(Product.slug == "pro-plugin"))
    sign_in(catalogue.owner)
    assert post_form(client, f"/sell/products/{other.id}/content/posts/{post.id}/delete").status_code == 404
    assert post_form(client, f"/sell/products/{other.id}/content/files/{member_file.id}/delete").status_code == 404
    assert content_counts(db) == (1, 1)


def test_members_of_the_company_cannot_delete_content(client, db, catalogue, content, make_seller, sign_in):
    post, member_file = content
    member, _ = make_seller(company=catalogue.company, role="member")
    sign_in(member)
    pid = catalogue.kit.id
    assert post_form(client, f"/sell/products/{pid}/content/posts/{post.id}/delete").status_code == 403
    assert post_form(client, f"/sell/products/{pid}/content/files/{member_file.id}/delete").status_code == 403
    assert content_counts(db) == (1, 1)
