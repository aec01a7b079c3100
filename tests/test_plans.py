"""Plans: the seller manages a product's plans on its page in /sell; buyers compare them on the
product page and pick one at checkout; refusals write nothing. Existing products migrate to
one plan each (on SQLite and PostgreSQL)."""

import io

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select, text

from app import create_app
from app.extensions import db as _db
from app.models import Checkout, MemberFile, Plan, User
from tests.database import make_test_config
from tests.factories import make_membership, make_plan, make_product, make_seller, make_user
from tests.forms import csrf_token, post_form, sign_in_as
from tests.test_migrations import make_scratch_database  # noqa: F401  (fixture)


def plan_form(**overrides):
    data = {"name": "Pro", "billing": "month", "price": "19.00", "trial_days": "7", "tier_rank": "2"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def shop(db):
    seller, company = make_seller("seller@example.com", connected=True)
    product = make_product(company, "pro-plugin", "month", 1250, trial_days=7)
    other_seller, other_company = make_seller("other@example.com", "Other Studio", connected=True)
    other_product = make_product(other_company, "other-plugin", "month", 900)
    make_user("buyer@example.com")
    return {
        "seller": seller,
        "company": company,
        "product": product,
        "other_product": other_product,
        "other_seller": other_seller,
    }


def plans_of(db, product):
    return db.session.scalars(select(Plan).where(Plan.product_id == product.id).order_by(Plan.id)).all()


def checkouts(db):
    return db.session.scalar(select(func.count()).select_from(Checkout))


# -- the seller ---------------------------------------------------------------------------


def test_a_product_starts_with_one_plan_that_follows_its_form(client, db, shop):
    sign_in_as(client, shop["seller"])
    response = post_form(
        client,
        "/sell/products/new",
        {"title": "Icon pack", "description": "x", "price": "29.00", "billing": "one_time", "active": "on"},
    )
    assert response.status_code == 303
    from app.models import Product

    product = db.session.scalars(select(Product).where(Product.slug == "icon-pack")).one()
    (plan,) = plans_of(db, product)
    assert (plan.name, plan.billing, plan.price_cents, plan.trial_days, plan.enabled) == (
        "Standard",
        "one_time",
        2900,
        0,
        True,
    )
    edited = post_form(
        client,
        f"/sell/products/{product.id}/edit",
        {"title": "Icon pack", "price": "39.00", "billing": "month", "trial_days": "5", "active": "on"},
    )
    assert edited.status_code == 303
    db.session.expire_all()
    (plan,) = plans_of(db, product)
    assert (plan.billing, plan.price_cents, plan.trial_days) == ("month", 3900, 5)


def test_the_seller_adds_edits_disables_and_enables_plans_on_the_product_page(client, db, shop):
    product = shop["product"]
    sign_in_as(client, shop["seller"])
    page = client.get(f"/sell/products/{product.id}/edit").get_data(as_text=True)
    assert "Add a plan" in page and "Monthly" in page
    assert f"/sell/products/{product.id}/content" in page  # the member-content editor, from here

    added = post_form(client, f"/sell/products/{product.id}/plans", plan_form(name="Yearly", billing="year"))
    assert added.status_code == 303 and added.headers["Location"].endswith(f"/sell/products/{product.id}/edit#plans")
    yearly = plans_of(db, product)[-1]
    assert (yearly.name, yearly.billing, yearly.price_cents, yearly.trial_days, yearly.tier_rank) == (
        "Yearly",
        "year",
        1900,
        7,
        2,
    )
    assert client.get(f"/sell/products/{product.id}/plans/{yearly.id}/edit").status_code == 200
    edited = post_form(
        client,
        f"/sell/products/{product.id}/plans/{yearly.id}/edit",
        plan_form(name="Yearly", billing="year", price="120.00", trial_days="0", tier_rank=""),
    )
    assert edited.status_code == 303
    db.session.expire_all()
    assert (yearly.price_cents, yearly.trial_days, yearly.tier_rank) == (12000, 0, None)

    off = post_form(client, f"/sell/products/{product.id}/plans/{yearly.id}/status", {"enabled": "off"})
    assert off.status_code == 303
    db.session.expire_all()
    assert yearly.enabled is False
    assert "disabled" in client.get(f"/sell/products/{product.id}/edit").get_data(as_text=True)
    on = post_form(client, f"/sell/products/{product.id}/plans/{yearly.id}/status", {"enabled": "on"})
    assert on.status_code == 303
    db.session.expire_all()
    assert yearly.enabled is True


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"name": "\U0001f600" * 81}, "name"),
        ({"billing": "weekly"}, "billing"),
        ({"price": "-5"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": "99999999999999999999"}, "price"),
        ({"price": "0.50"}, "price"),
        ({"trial_days": "91"}, "trial_days"),
        ({"trial_days": "²"}, "trial_days"),
        ({"trial_days": "-1"}, "trial_days"),
        ({"billing": "one_time", "trial_days": "7"}, "trial_days"),
        ({"tier_rank": "0"}, "tier_rank"),
        ({"tier_rank": "101"}, "tier_rank"),
        ({"tier_rank": "1e3"}, "tier_rank"),
    ],
)
def test_bad_plan_input_is_refused_naming_the_field_and_writes_nothing(client, db, shop, overrides, field):
    product = shop["product"]
    sign_in_as(client, shop["seller"])
    before = len(plans_of(db, product))
    response = post_form(client, f"/sell/products/{product.id}/plans", plan_form(**overrides))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f'id="plan-{"tier" if field == "tier_rank" else "trial" if field == "trial_days" else field}"' in body
    assert 'class="error"' in body
    assert len(plans_of(db, product)) == before

    first = plans_of(db, product)[0]
    edit = post_form(client, f"/sell/products/{product.id}/plans/{first.id}/edit", plan_form(**overrides))
    assert edit.status_code == 422
    db.session.expire_all()
    assert (first.name, first.price_cents) == ("Monthly", 1250)


def test_nul_bytes_in_a_plan_are_refused(client, db, shop):
    product = shop["product"]
    sign_in_as(client, shop["seller"])
    response = post_form(client, f"/sell/products/{product.id}/plans", plan_form(name="Pro\x00"))
    assert response.status_code == 400 and "name" in response.get_data(as_text=True)
    assert len(plans_of(db, product)) == 1


@pytest.mark.parametrize("value", ["", "maybe", "ON", "\U0001f600", "1" * 5000])
def test_plan_status_takes_on_or_off_only(client, db, shop, value):
    product = shop["product"]
    plan = plans_of(db, product)[0]
    sign_in_as(client, shop["seller"])
    response = post_form(client, f"/sell/products/{product.id}/plans/{plan.id}/status", {"enabled": value})
    assert response.status_code == 422
    db.session.expire_all()
    assert plan.enabled is True


def test_another_sellers_plans_cannot_be_reached(client, db, shop):
    mine, theirs = shop["product"], shop["other_product"]
    their_plan = plans_of(db, theirs)[0]
    sign_in_as(client, shop["seller"])
    # Their product, and their plan under my product: both 404, nothing changes.
    assert client.get(f"/sell/products/{theirs.id}/edit").status_code == 404
    assert client.get(f"/sell/products/{mine.id}/plans/{their_plan.id}/edit").status_code == 404
    assert post_form(client, f"/sell/products/{theirs.id}/plans", plan_form()).status_code == 404
    assert (
        post_form(client, f"/sell/products/{mine.id}/plans/{their_plan.id}/status", {"enabled": "off"}).status_code
        == 404
    )
    db.session.expire_all()
    assert their_plan.enabled is True and len(plans_of(db, theirs)) == 1


# -- the buyer ----------------------------------------------------------------------------


def test_the_product_page_compares_plans_with_a_buy_button_each(client, db, shop):
    product = shop["product"]
    yearly = make_plan(product, "Yearly", "year", 12000, tier_rank=2)
    make_plan(product, "Retired", "year", 9000, enabled=False)
    anonymous = client.get("/products/pro-plugin").get_data(as_text=True)
    assert "Monthly" in anonymous and "Yearly" in anonymous and "Retired" not in anonymous
    assert "$12.50 / month" in anonymous and "$120.00 / year" in anonymous and "7 days" in anonymous
    assert "Sign in to buy" in anonymous
    sign_in_as(client, "buyer@example.com")
    page = client.get("/products/pro-plugin").get_data(as_text=True)
    assert f'name="plan" value="{yearly.id}"' in page
    assert page.count('name="plan"') == 2
    assert "Start free trial" in page and "Subscribe" in page


@pytest.mark.parametrize(
    "value, status",
    [
        ("abc", 422),
        ("-1", 422),
        ("0", 422),
        ("99999999999999999999", 422),
        ("1.5", 422),
        ("\U0001f600", 422),
        ("1" * 5000, 422),
    ],
)
def test_hostile_plan_values_are_refused_and_create_no_checkout(client, db, shop, value, status):
    sign_in_as(client, "buyer@example.com")
    response = post_form(client, "/products/pro-plugin/checkout", {"plan": value})
    assert response.status_code == status
    assert 'data-field="plan"' in response.get_data(as_text=True)
    assert checkouts(db) == 0


def test_a_nul_byte_plan_is_refused(client, db, shop):
    sign_in_as(client, "buyer@example.com")
    response = post_form(client, "/products/pro-plugin/checkout", {"plan": "1\x00"})
    assert response.status_code == 400 and "plan" in response.get_data(as_text=True)
    assert checkouts(db) == 0


def test_a_plan_of_another_product_is_refused(client, db, shop):
    foreign = plans_of(db, shop["other_product"])[0]
    sign_in_as(client, "buyer@example.com")
    response = post_form(client, "/products/pro-plugin/checkout", {"plan": str(foreign.id)})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'data-field="plan"' in body and "Choose one of this product&#39;s plans." in body
    assert checkouts(db) == 0


def test_a_plan_the_seller_disabled_is_refused(client, db, shop):
    retired = make_plan(shop["product"], "Retired", "year", 9000, enabled=False)
    sign_in_as(client, "buyer@example.com")
    response = post_form(client, "/products/pro-plugin/checkout", {"plan": str(retired.id)})
    assert response.status_code == 409
    assert "That plan isn&#39;t on sale any more." in response.get_data(as_text=True)
    assert checkouts(db) == 0


def test_a_product_with_every_plan_disabled_cannot_be_bought(client, db, shop):
    for plan in plans_of(db, shop["product"]):
        plan.enabled = False
    db.session.commit()
    sign_in_as(client, "buyer@example.com")
    response = post_form(client, "/products/pro-plugin/checkout")
    assert response.status_code == 409
    assert checkouts(db) == 0


# -- the migration ------------------------------------------------------------------------


def test_existing_products_migrate_to_one_plan_each(make_scratch_database, redis_url):  # noqa: F811
    app = create_app(make_test_config(make_scratch_database(), redis_url))
    with app.app_context():
        upgrade(revision="0013")
        with _db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, email, password_hash, display_name, intent, is_admin, active, created_at)"
                    " VALUES (1, 'b@example.com', 'x', 'B', 'hire', false, true, '2026-01-01 00:00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO companies (id, title, slug, kind, status, kyc_status, payouts_enabled, created_at,"
                    " stripe_account_key) VALUES (1, 'Studio', 'studio', 'seller', 'active', 'verified', true,"
                    " '2026-01-01 00:00:00', 'key-1')"
                )
            )
            for number, (billing, trial) in enumerate((("one_time", 0), ("month", 7), ("year", 0)), start=1):
                conn.execute(
                    text(
                        "INSERT INTO products (id, company_id, title, slug, description_md, description_html,"
                        " price_cents, billing, trial_days, active, created_at, updated_at) VALUES"
                        " (:id, 1, 'P', :slug, '', '', :price, :billing, :trial, true,"
                        " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                    ),
                    {"id": number, "slug": f"p{number}", "price": 1000 * number, "billing": billing, "trial": trial},
                )
            conn.execute(
                text(
                    "INSERT INTO memberships (id, company_id, product_id, buyer_id, status, source,"
                    " current_period_end, created_at, updated_at) VALUES (1, 1, 2, 1, 'active', 'stripe',"
                    " '2030-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
        upgrade(revision="heads")
        with _db.engine.connect() as conn:
            plans = conn.execute(
                text(
                    "SELECT product_id, name, billing, price_cents, trial_days, enabled FROM plans ORDER BY product_id"
                )
            ).all()
            membership = conn.execute(
                text("SELECT plan_id, paid_through, access_ends_at FROM memberships WHERE id = 1")
            ).one()
            monthly_plan = conn.execute(text("SELECT id FROM plans WHERE product_id = 2")).scalar()
        assert [tuple(row) for row in plans] == [
            (1, "Standard", "one_time", 1000, 0, True),
            (2, "Monthly", "month", 2000, 7, True),
            (3, "Yearly", "year", 3000, 0, True),
        ]
        assert membership.plan_id == monthly_plan
        assert str(membership.paid_through).startswith("2030-01-01")
        assert str(membership.access_ends_at).startswith("2030-01-02")
        _db.engine.dispose()


# -- tiers and the library ----------------------------------------------------------------


def test_member_content_with_a_minimum_tier_is_for_members_of_that_tier_and_up(client, db, shop):
    product, seller = shop["product"], shop["seller"]
    pro = make_plan(product, "Pro", "month", 2900, tier_rank=2)
    basic = product.plans[0]
    basic.tier_rank = 1
    db.session.commit()
    sign_in_as(client, seller)
    assert client.get(f"/sell/products/{product.id}/content").status_code == 200
    for title, tier in (("For everyone", ""), ("Pro only", "2")):
        response = post_form(
            client, f"/sell/products/{product.id}/content/posts", {"title": title, "body": "Hi", "min_tier_rank": tier}
        )
        assert response.status_code == 303
    refused = post_form(
        client, f"/sell/products/{product.id}/content/posts", {"title": "x", "body": "y", "min_tier_rank": "101"}
    )
    assert refused.status_code == 422 and "Minimum tier" in refused.get_data(as_text=True)
    for name, tier in (("all.pdf", ""), ("pro.pdf", "2")):
        response = client.post(
            f"/sell/products/{product.id}/content/files",
            data={
                "csrf_token": _token(client, product),
                "min_tier_rank": tier,
                "file": (io.BytesIO(b"%PDF-1.4"), name),
            },
            content_type="multipart/form-data",
        )
        assert response.status_code == 303
    bad_file = client.post(
        f"/sell/products/{product.id}/content/files",
        data={"csrf_token": _token(client, product), "min_tier_rank": "-1", "file": (io.BytesIO(b"%PDF"), "x.pdf")},
        content_type="multipart/form-data",
    )
    assert bad_file.status_code == 422
    files = {f.filename: f for f in db.session.scalars(select(MemberFile)).all()}
    assert set(files) == {"all.pdf", "pro.pdf"}

    buyer = db.session.scalars(select(User).where(User.email == "buyer@example.com")).one()
    make_membership(product, buyer, plan=basic)
    sign_in_as(client, buyer)
    area = client.get(f"/account/products/{product.id}").get_data(as_text=True)
    assert "For everyone" in area and "Pro only" not in area
    assert download_status(client, f"/account/products/{product.id}/files/{files['all.pdf'].id}") == 200
    assert download_status(client, f"/account/products/{product.id}/files/{files['pro.pdf'].id}") == 403
    library = client.get("/account/library").get_data(as_text=True)
    assert "Pro Plugin" in library and "Monthly plan" in library and "all.pdf" in library and "pro.pdf" not in library

    make_membership(product, buyer, plan=pro)
    area = client.get(f"/account/products/{product.id}").get_data(as_text=True)
    assert "Pro only" in area
    assert download_status(client, f"/account/products/{product.id}/files/{files['pro.pdf'].id}") == 200
    library = client.get("/account/library").get_data(as_text=True)
    assert "Pro plan" in library and "pro.pdf" in library
    assert 'href="/account/library"' in client.get("/account").get_data(as_text=True)  # the header link


def download_status(client, url):
    with client.get(url) as response:
        return response.status_code


def _token(client, product):
    return csrf_token(client)
