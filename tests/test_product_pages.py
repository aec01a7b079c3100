"""Product pages as buyers and sellers use them: the picture a seller uploads (checked like
gig images), the seller's card and shop page, and reviews by buyers who paid — once each."""

import io
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.models import Notification, Payment, Product, ProductReview
from app.services import storage
from tests.factories import make_membership, make_product
from tests.forms import csrf_token, image_bytes, post_form

FORM = {"title": "Icon Pack", "description": "400 icons.", "price": "29.00", "billing": "one_time", "active": "on"}


def post_product(client, path, fields=None, image=None, **kwargs):
    """POST the product form as a browser does (multipart), with `image` = (filename, bytes)."""
    data = MultiDict({**FORM, **(fields or {})})
    data.setdefault("csrf_token", csrf_token(client))
    if image is not None:
        data.add("image", FileStorage(io.BytesIO(image[1]), filename=image[0]))
    boundary, body = encode_multipart(data)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}", **kwargs)


def paid(db, product, buyer, status="succeeded", refunded_cents=0):
    """`buyer` holds `product` and paid for it (a membership and its payment)."""
    membership = make_membership(product, buyer)
    db.session.add(
        Payment(
            company_id=product.company_id,
            kind="product",
            buyer_id=buyer.id,
            membership_id=membership.id,
            amount_cents=product.price_cents,
            fee_cents=290,
            refunded_cents=refunded_cents,
            currency="usd",
            status=status,
        )
    )
    db.session.commit()
    return membership


def reviews(db):
    return db.session.scalar(select(func.count()).select_from(ProductReview))


# -- the picture -----------------------------------------------------------------------------


@pytest.mark.usefixtures("uploads")
def test_a_seller_uploads_a_picture_and_the_product_page_shows_it(db, cast, sign_in, client):
    owner = sign_in(cast.owner)
    assert 'enctype="multipart/form-data"' in owner.get("/sell/products/new").get_data(as_text=True)
    response = post_product(owner, "/sell/products/new", image=("cover.png", image_bytes("PNG", (640, 360))))
    assert response.status_code == 303
    product = db.session.scalars(select(Product)).one()
    assert product.image_key.startswith(f"products/{product.id}/") and product.image_key.endswith(".png")
    assert (product.image_content_type, product.image_width, product.image_height) == ("image/png", 640, 360)
    assert storage.file_exists(product.image_key)

    page = client.get(f"/products/{product.slug}").get_data(as_text=True)
    src = f"/sell/images/{product.image_key}"
    assert f'<img src="{src}" width="640" height="360" alt="Icon Pack">' in page
    picture = client.get(src)
    assert (
        picture.status_code == 200 and picture.mimetype == "image/png" and "public" in picture.headers["Cache-Control"]
    )
    picture.close()

    # Replacing and removing it.
    edit = f"/sell/products/{product.id}/edit"
    assert post_product(owner, edit, image=("new.jpg", image_bytes("JPEG"))).status_code == 303
    db.session.refresh(product)
    assert product.image_content_type == "image/jpeg" and product.image_key.endswith(".jpg")
    assert post_product(owner, edit, {"remove_image": "on"}).status_code == 303
    db.session.refresh(product)
    assert product.image_key is None
    assert "product-placeholder" in client.get(f"/products/{product.slug}").get_data(as_text=True)


@pytest.mark.usefixtures("uploads")
@pytest.mark.parametrize(
    "upload, message",
    [
        (("notes.txt", b"just text"), "notes.txt: Upload a JPEG, PNG or WebP image."),
        (("fake.png", b"\x89PNG\r\n\x1a\nnot really"), "fake.png: Upload a JPEG, PNG or WebP image."),
        (("anim.gif", image_bytes("GIF")), "anim.gif: Upload a JPEG, PNG or WebP image."),
        (("huge.png", b"\x89PNG" + b"\x00" * (5 * 1024 * 1024)), "huge.png: Images must be 5 MB or smaller."),
    ],
)
def test_bad_pictures_are_refused_naming_the_field_and_nothing_is_written(db, cast, sign_in, upload, message):
    owner = sign_in(cast.owner)
    response = post_product(owner, "/sell/products/new", image=upload)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert message in text and 'value="Icon Pack"' in text  # the form again, as typed
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0


@pytest.mark.usefixtures("uploads")
def test_only_the_sellers_managers_change_a_products_picture(db, cast, sign_in):
    product = make_product(cast.company)
    edit = f"/sell/products/{product.id}/edit"
    assert post_product(sign_in(cast.member), edit, image=("x.png", image_bytes())).status_code == 403
    assert post_product(sign_in(cast.other_seller), edit, image=("x.png", image_bytes())).status_code == 404
    db.session.refresh(product)
    assert product.image_key is None


@pytest.mark.usefixtures("uploads")
def test_the_picture_of_a_product_off_sale_is_only_for_its_seller(db, cast, sign_in, client):
    owner = sign_in(cast.owner)
    assert post_product(owner, "/sell/products/new", {"active": ""}, image=("c.png", image_bytes())).status_code == 303
    product = db.session.scalars(select(Product)).one()
    src = f"/sell/images/{product.image_key}"
    mine = owner.get(src)
    assert mine.status_code == 200 and "private" in mine.headers["Cache-Control"]
    mine.close()
    assert sign_in(cast.buyer).get(src).status_code == 404
    assert client.get("/sell/images/products/1/../../secret.png").status_code == 404


# -- seller card and shop ----------------------------------------------------------------------


def test_the_product_page_has_a_seller_card_linking_the_shop(db, cast, client):
    product = make_product(cast.company)
    page = client.get(f"/products/{product.slug}").get_data(as_text=True)
    assert "No reviews yet." in page and page.index('id="reviews"') > page.index('class="prose"')
    card = page[page.index('<div class="seller-card card">') :]
    assert '<a href="/shops/pixel-studio">Pixel Studio</a>' in card
    assert f"Member since {cast.company.created_at.strftime('%B %Y')}" in card
    assert "<dt>Live gigs</dt><dd>1</dd>" in card
    shop = client.get("/shops/pixel-studio").get_data(as_text=True)
    assert '<h1 class="shop-title">Pixel Studio</h1>' in shop
    assert f'href="/gigs/{cast.gig.slug}"' in shop and f'href="/products/{product.slug}"' in shop


def test_shops_that_are_not_sellers_or_do_not_exist_are_404(db, cast, client):
    assert client.get("/shops/no-such-shop").status_code == 404
    assert client.get("/shops/%00").status_code in (400, 404)
    cast.company.status = "suspended"
    db.session.commit()
    assert client.get("/shops/pixel-studio").status_code == 404


# -- reviews ---------------------------------------------------------------------------------------


def test_a_buyer_who_paid_reviews_once_and_the_page_shows_it(db, cast, sign_in, client):
    product = make_product(cast.company)
    paid(db, product, cast.buyer)
    buyer = sign_in(cast.buyer)
    page = buyer.get(f"/products/{product.slug}").get_data(as_text=True)
    assert f'action="/products/{product.slug}/reviews" class="ow-form product-review-form" hx-boost="false"' in page
    response = post_form(buyer, f"/products/{product.slug}/reviews", {"rating": "4", "body": "Crisp icons."})
    assert response.status_code == 303 and response.headers["Location"].endswith("#reviews")
    page = client.get(f"/products/{product.slug}").get_data(as_text=True)
    assert "Crisp icons." in page and "Bea Buyer" in page
    assert 'aria-label="Rated 4.0 out of 5 from 1 review"' in page
    note = db.session.scalars(select(Notification).where(Notification.kind == "product_review.created")).one()
    assert note.user_id == cast.owner.id and note.link == f"/products/{product.slug}"

    again = post_form(buyer, f"/products/{product.slug}/reviews", {"rating": "5", "body": "Even better"})
    assert again.status_code == 409 and "You have already reviewed this product." in again.get_data(as_text=True)
    assert reviews(db) == 1
    assert (
        'action="/products/'
        not in buyer.get(f"/products/{product.slug}").get_data(as_text=True).split('id="reviews"')[1]
    )  # no second form


@pytest.mark.parametrize("who", ["other_buyer", "owner", "member"])
def test_people_who_did_not_pay_cannot_review(db, cast, sign_in, who):
    product = make_product(cast.company)
    person = sign_in(getattr(cast, who))
    assert "Post review" not in person.get(f"/products/{product.slug}").get_data(as_text=True)
    response = post_form(person, f"/products/{product.slug}/reviews", {"rating": "5", "body": "Best ever"})
    assert response.status_code == 403
    assert "Only buyers who paid for this product can review it." in response.get_data(as_text=True)
    assert reviews(db) == 0


def test_trials_refunds_and_signed_out_visitors_cannot_review(app, db, cast, sign_in):
    product = make_product(cast.company, billing="month", trial_days=7)
    make_membership(product, cast.other_buyer, status="trialing")  # no payment yet
    paid(db, product, cast.buyer, status="refunded", refunded_cents=product.price_cents)
    for person in (cast.other_buyer, cast.buyer):
        assert (
            post_form(sign_in(person), f"/products/{product.slug}/reviews", {"rating": "5", "body": "x"}).status_code
            == 403
        )
    anonymous = app.test_client()
    response = post_form(anonymous, f"/products/{product.slug}/reviews", {"rating": "5", "body": "x"})
    assert response.status_code == 302 and "/signin" in response.headers["Location"]
    assert reviews(db) == 0


def test_a_review_without_stars_is_refused_next_to_the_stars_focused_and_in_view(db, cast, sign_in):
    product = make_product(cast.company)
    paid(db, product, cast.buyer)
    buyer = sign_in(cast.buyer)
    response = post_form(buyer, f"/products/{product.slug}/reviews", {"body": "Good pack"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    stars = text[text.index('<div class="ow-rating-field">') : text.index('<div class="field')]
    assert 'id="product-rating-error" data-field="rating" role="alert">Choose between 1 and 5 stars.' in stars
    assert re.search(r'id="product-rating-5" name="rating" value="5" autofocus', stars)
    assert "Good pack" in text and reviews(db) == 0


@pytest.mark.parametrize(
    "form, field",
    [
        ({"rating": "0", "body": "Zero"}, "rating"),
        ({"rating": "6", "body": "Six"}, "rating"),
        ({"rating": "-1", "body": "Negative"}, "rating"),
        ({"rating": "4.5", "body": "Half"}, "rating"),
        ({"rating": "9" * 400, "body": "Huge"}, "rating"),
        ({"rating": "٣", "body": "Arabic-Indic three"}, "rating"),
        ({"rating": "5", "body": "   "}, "body"),
        ({"rating": "5", "body": "x" * 2001}, "body"),
    ],
)
def test_hostile_review_input_is_422_naming_the_field(db, cast, sign_in, form, field):
    product = make_product(cast.company)
    paid(db, product, cast.buyer)
    response = post_form(sign_in(cast.buyer), f"/products/{product.slug}/reviews", form)
    assert response.status_code == 422 and f'data-field="{field}"' in response.get_data(as_text=True)
    assert reviews(db) == 0


def test_products_off_sale_take_no_reviews(db, cast, sign_in):
    product = make_product(cast.company)
    paid(db, product, cast.buyer)
    product.active = False
    db.session.commit()
    response = post_form(sign_in(cast.buyer), f"/products/{product.slug}/reviews", {"rating": "5", "body": "x"})
    assert response.status_code == 404 and reviews(db) == 0
