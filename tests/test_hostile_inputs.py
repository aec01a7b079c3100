"""Hostile input through the doors people use: NUL bytes and lone surrogates in any field,
numbers that are not numbers, out-of-range ids, and bodies over the size limit.

Each refusal is a 4xx naming the field, with nothing written; never a 5xx. The
property-based sweep over every endpoint is tests/test_fuzz_inputs.py; these are the cases
found by hand and by that sweep, kept as plain examples.
"""

import html
import io
import json
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.models import Gig, LicensePolicy, MemberPost, Order, OrderEvent, OrderMessage, Payout, Product
from tests.factories import answers_for, make_licensed_shop, make_order, make_product
from tests.forms import csrf_token, gig_form, image_bytes, post_form, post_multipart
from tests.hostile import HUGE_NUMBER, NUL, changed_tables, table_counts
from tests.webhook_signing import stripe_event, stripe_signed, whop_signed

pytestmark = pytest.mark.usefixtures("uploads")


def count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


def assert_names_field(response, field, status=400):
    """The response is a `status` whose page (or JSON) names `field`; returns the unescaped text."""
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    text = html.unescape(response.get_data(as_text=True))
    assert field in text
    return text


@pytest.fixture
def seller_client(client, sign_in, make_seller):
    user, company = make_seller()
    sign_in(user)
    return client


# -- NUL bytes and lone surrogates, anywhere ------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        "title",
        "description_md",
        "tags",
        "basic-title",
        "basic-description",
        "extras-0-title",
        "questions-0-prompt",
        "faq-0-answer",
    ],
)
def test_nul_in_any_gig_editor_field_is_refused_naming_it(db, seller_client, category, field):
    data = gig_form(category.id)
    data[field] = data[field] + NUL + "tail"
    before = table_counts()
    response = post_multipart(seller_client, "/sell/gigs/new", data, files=[("cover.png", image_bytes())])
    assert "contains a character we can't accept" in assert_names_field(response, f"“{field}”")
    assert changed_tables(before, table_counts()) == {}


def test_nul_in_a_field_name_or_an_uploaded_file_name_is_refused(db, seller_client, category):
    data = gig_form(category.id)
    data["ti" + NUL + "tle"] = "x"
    assert_names_field(post_multipart(seller_client, "/sell/gigs/new", data), "“ti\\x00tle”")
    response = post_multipart(
        seller_client, "/sell/gigs/new", gig_form(category.id), files=[("cover" + NUL + ".png", image_bytes())]
    )
    assert_names_field(response, "“images”")
    assert count(db, Gig) == 0


def test_nul_in_an_order_message_a_note_or_an_answer_is_refused(db, cast, sign_in):
    order = make_order(cast, status="in_progress")
    fresh = make_order(cast)
    db.session.commit()
    valid_answers = answers_for(cast.gig)
    buyer = sign_in(cast.buyer)
    before = table_counts()
    assert_names_field(post_form(buyer, f"/orders/{order.id}/messages", {"body": "hi" + NUL}), "“body”")
    first = next(iter(valid_answers))
    answers = {**valid_answers, first: valid_answers[first] + NUL}
    assert_names_field(post_form(buyer, f"/orders/{fresh.id}/actions/submit_requirements", answers), f"“{first}”")
    assert_names_field(
        post_form(buyer, f"/orders/{fresh.id}/actions/submit_requirements", {**valid_answers, "notes": NUL}), "“notes”"
    )
    assert_names_field(post_form(buyer, f"/orders/{order.id}/actions/request_cancel", {"note": "stop" + NUL}), "“note”")
    assert changed_tables(before, table_counts()) == {}
    db.session.expire_all()
    assert (db.session.get(Order, order.id).status, db.session.get(Order, fresh.id).status) == (
        "in_progress",
        "awaiting_requirements",
    )
    assert count(db, OrderMessage) == 0 and count(db, OrderEvent) == 0


def test_nul_in_a_member_post_is_refused(db, client, sign_in, make_seller):
    user, company = make_seller()
    product = make_product(company, slug="course")
    db.session.commit()
    sign_in(user)
    for field in ("title", "body"):
        data = {"title": "Lesson one", "body": "Read this first."}
        data[field] += NUL
        assert_names_field(post_form(client, f"/sell/products/{product.id}/content/posts", data), f"“{field}”")
    assert count(db, MemberPost) == 0


@pytest.mark.parametrize(
    "path, field",
    [
        ("/categories/%00", "slug"),
        ("/gigs/logo%00", "slug"),
        ("/gigs?q=%00", "q"),
        ("/gigs?category=design%00", "category"),
        ("/products/x%00y", "slug"),
    ],
)
def test_nul_in_a_path_or_query_parameter_is_refused(client, path, field):
    assert_names_field(client.get(path), f"“{field}”")


def test_nul_in_a_post_query_string_is_refused(db, seller_client):
    response = post_form(seller_client, "/sell/products/new?next=%00", {"title": "Icon pack", "price": "9"})
    assert_names_field(response, "“next”")
    assert count(db, Product) == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"key": "TP-" + NUL}, "key"),
        ({"key": "TP-\ud800"}, "key"),
        ({"key": "TP-1", "fingerprint": "\udfff"}, "fingerprint"),
        ({"key": "TP-1", "nested": [{"deep": "a" + NUL}]}, "nested[0].deep"),
        ({"key": "TP-1", "k" + NUL: "v"}, "k\\x00"),
    ],
)
def test_nul_and_lone_surrogates_in_json_are_refused_naming_the_field(client, body, field):
    # json.dumps escapes both as \\u0000 / \\ud800: valid JSON that decodes to strings no database stores.
    response = client.post("/api/v1/licenses/validate", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field and f"“{field}”" in error["message"]
    assert response.headers["Tradepost-Signature"].startswith("ed25519 ")


def test_the_json_error_of_a_form_endpoint_names_the_field(client):
    response = client.get("/gigs?q=a%00", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "q"


def test_tabs_newlines_and_unicode_are_still_accepted(db, seller_client, category):
    data = gig_form(
        category.id,
        title="I will design a logo \u202eRTL\u202c 🎨 ✓",
        description_md="Line one\twith a tab\r\nline two — ünïcödé, emoji 🎉, Arabic العربية " * 2,
    )
    response = post_multipart(seller_client, "/sell/gigs/new", data, files=[("cover.png", image_bytes())])
    assert response.status_code == 303
    assert "🎨" in db.session.scalars(select(Gig)).one().title


# -- numbers that are not numbers, numbers too big for a column -----------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("basic-revisions", "abc", "Choose a number of revisions, or unlimited."),
        ("basic-revisions", "²", "Choose a number of revisions, or unlimited."),
        ("basic-revisions", "-" + HUGE_NUMBER, "Choose 0 to 10 revisions, or unlimited."),
        ("basic-revisions", HUGE_NUMBER, "Choose 0 to 10 revisions, or unlimited."),
        ("basic-price", "NaN", "Use a price like 49 or 49.99."),
        ("basic-price", "inf", "Use a price like 49 or 49.99."),
        ("basic-price", "-Infinity", "Use a price like 49 or 49.99."),
        ("basic-price", "1e999999", "Use a price like 49 or 49.99."),
        ("basic-price", "-25", "Use a price like 49 or 49.99."),
        ("basic-price", "²5", "Use a price like 49 or 49.99."),
        ("basic-price", HUGE_NUMBER, "Use a price like 49 or 49.99."),
        ("basic-price", "10000.01", "Price must be between $5.00 and $10,000.00."),
        ("extras-0-price", "nan", "Use a price like 49 or 49.99."),
        ("basic-delivery_days", HUGE_NUMBER, "Delivery must take 1 to 90 days."),
        ("extras-0-max_quantity", "-" + HUGE_NUMBER, "A buyer can order 1 to 10 of an extra."),
        ("category_id", HUGE_NUMBER, "Choose a category."),
        ("category_id", "-1", "Choose a category."),
        ("category_id", "٣", "Choose a category."),
    ],
)
def test_gig_editor_numbers_are_refused_on_their_field(db, seller_client, category, field, value, message):
    data = {**gig_form(category.id), field: value}
    response = post_multipart(seller_client, "/sell/gigs/new", data, files=[("cover.png", image_bytes())])
    assert response.status_code == 422, response.get_data(as_text=True)[:3000]
    page = response.get_data(as_text=True)
    # The message sits in the field's own block, next to the seller's input.
    block = re.search(rf'<div class="field[^"]*has-error">\s*<label for="{field}".*?</div>', page, re.S)
    assert block and message in block.group(0), page
    assert count(db, Gig) == 0


def test_a_huge_image_id_to_remove_is_ignored(db, seller_client, category):
    assert (
        post_multipart(
            seller_client, "/sell/gigs/new", gig_form(category.id), files=[("cover.png", image_bytes())]
        ).status_code
        == 303
    )
    gig = db.session.scalars(select(Gig)).one()
    response = post_multipart(
        seller_client, f"/sell/gigs/{gig.id}/edit", {**gig_form(category.id), "remove_image": HUGE_NUMBER}
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert len(db.session.get(Gig, gig.id).images) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/orders/99999999999999999999",
        "/sell/gigs/99999999999999999999/edit",
        "/sell/licenses/2147483648",
        "/notifications/99999999999999999999/read",
    ],
)
def test_ids_beyond_the_column_range_are_not_found(db, seller_client, path):
    token = csrf_token(seller_client)
    response = (
        seller_client.post(path, data={"csrf_token": token}) if path.endswith("/read") else seller_client.get(path)
    )
    assert response.status_code == 404


@pytest.mark.parametrize("value", ["²", HUGE_NUMBER, "-1"])
def test_license_filters_ignore_numbers_that_are_not_ids(seller_client, value):
    assert seller_client.get(f"/sell/licenses?product={value}").status_code == 200


@pytest.mark.parametrize("amount", ["²", "NaN", "inf", "-5", HUGE_NUMBER + ".00", "1e3", "١٢"])
def test_withdrawing_an_amount_that_is_not_money_is_refused(db, client, sign_in, make_seller, amount):
    user, company = make_seller()
    company.payouts_enabled = True
    db.session.commit()
    sign_in(user)
    response = post_form(client, "/sell/payouts/withdraw", {"amount": amount})
    assert response.status_code == 422
    assert "Enter an amount like 150.00." in response.get_data(as_text=True)
    assert count(db, Payout) == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_activations", "²"),
        ("max_activations", HUGE_NUMBER),
        ("duration_days", "³"),
        ("duration_days", "-" + HUGE_NUMBER),
    ],
)
def test_license_policy_numbers_are_refused_on_their_field(db, client, sign_in, field, value):
    shop = make_licensed_shop()
    sign_in(shop["owner"])
    policies = count(db, LicensePolicy)
    form = {
        "enabled": "on",
        "max_activations": "3",
        "duration_days": "",
        "key_prefix": "TP",
        "key_format": "grouped",
        field: value,
    }
    response = post_form(client, f"/sell/licenses/policy/{shop['product'].id}", form)
    assert response.status_code == 422
    assert count(db, LicensePolicy) == policies


@pytest.mark.parametrize("days", ["²", HUGE_NUMBER, "-3"])
def test_extending_a_license_by_a_non_number_is_refused(db, client, sign_in, days):
    shop = make_licensed_shop()
    sign_in(shop["owner"])
    before = table_counts()
    response = post_form(client, f"/sell/licenses/{shop['license'].id}/extend", {"days": days})
    assert response.status_code == 422
    assert changed_tables(before, table_counts()) == {}


@pytest.mark.parametrize("amount", ["²", "NaN", HUGE_NUMBER])
def test_a_partial_refund_amount_that_is_not_money_is_refused(db, cast, sign_in, amount):
    order = make_order(cast, status="disputed")
    db.session.commit()
    admin = sign_in(cast.admin)
    before = table_counts()
    response = post_form(admin, f"/orders/{order.id}/actions/resolve_partial", {"note": "Half", "amount": amount})
    assert response.status_code == 422
    assert changed_tables(before, table_counts()) == {}


def test_a_license_api_product_id_beyond_the_column_range_is_refused(client):
    response = client.post("/api/v1/licenses/validate", json={"key": "TP-1", "product_id": 2**31})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "product_id"


@pytest.mark.parametrize(
    "changes", [{"id": None}, {"id": ["evt_1"]}, {"type": "x" * 101}, {"type": 7}, {"id": "evt_" + "x" * 300}]
)
def test_a_signed_stripe_event_without_a_usable_id_or_type_is_refused(app, db, client, changes):
    event = {**stripe_event("checkout.session.completed", {"id": "cs_1"}), **changes}
    body, headers = stripe_signed(event, app.config["STRIPE_WEBHOOK_SECRET"])
    before = table_counts()
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_payload"
    assert changed_tables(before, table_counts()) == {}


@pytest.mark.parametrize("payload", [{"id": "msg_1", "type": "x" * 101}, {"id": "msg_" + "x" * 300, "type": "a.b"}])
def test_a_signed_whop_event_whose_id_or_type_does_not_fit_is_refused(app, db, client, payload):
    body, headers = whop_signed(payload, app.config["WHOP_WEBHOOK_SECRET"])
    before = table_counts()
    response = client.post("/webhooks/whop", data=body, headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_payload"
    assert changed_tables(before, table_counts()) == {}


# -- body size ----------------------------------------------------------------------------------------


def test_a_form_over_the_body_limit_gets_the_413_page(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/signin", data={"email": "a@example.com", "password": "x" * limit})
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "<html" in page and "too large" in page and f"{limit // (1024 * 1024)} MB" in page


def test_a_json_client_gets_a_json_413(app, client):
    body = json.dumps({"key": "x" * app.config["MAX_CONTENT_LENGTH"]})
    response = client.post("/api/v1/licenses/validate", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "REQUEST_ENTITY_TOO_LARGE"
    response = client.post(
        "/signin", data={"password": "x" * app.config["MAX_CONTENT_LENGTH"]}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_forms_with_uploads_get_a_larger_allowance_and_their_own_limit(app, db, seller_client, category):
    big = image_bytes()[:64] + b"\0" * (app.config["MAX_CONTENT_LENGTH"] + 1024)
    # Over the general limit, within the editor's: the upload is read and refused as an image.
    response = post_multipart(seller_client, "/sell/gigs/new", gig_form(category.id), files=[("big.png", big)])
    assert response.status_code == 422 and "Upload a JPEG, PNG or WebP image." in response.get_data(as_text=True)
    # Past the editor's own allowance: 413.
    files = [(f"{n}.png", b"\0" * (6 * 1024 * 1024)) for n in range(7)]
    assert post_multipart(seller_client, "/sell/gigs/new", gig_form(category.id), files=files).status_code == 413
    assert count(db, Gig) == 0


def test_a_delivery_may_carry_files_larger_than_the_form_limit(app, db, cast, sign_in):
    order = make_order(cast, status="in_progress")
    db.session.commit()
    seller = sign_in(cast.owner)
    fields = MultiDict({"csrf_token": csrf_token(seller), "note": "Here it is"})
    fields.add("files", FileStorage(io.BytesIO(b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)), filename="logo.ai"))
    boundary, body = encode_multipart(fields)  # in memory: the client's own encoder leaks a temp file
    response = seller.post(
        f"/orders/{order.id}/actions/deliver", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "delivered"
