"""Reviews: the buyer rates a completed order once, the seller replies once, the gig page shows them."""

import pytest
from sqlalchemy import func, select

from app.models import Review
from tests.factories import make_order
from tests.forms import post_form


def reviews(db):
    return db.session.scalar(select(func.count()).select_from(Review))


def test_buyer_reviews_once_seller_replies_once_and_the_gig_page_shows_it(db, cast, sign_in):
    order = make_order(cast, "completed")
    db.session.commit()
    buyer = sign_in(cast.buyer)
    assert (
        post_form(buyer, f"/orders/{order.id}/review", {"rating": "4", "body": "Great logo, fast."}).status_code == 303
    )
    db.session.refresh(cast.gig)
    assert (cast.gig.rating_sum, cast.gig.rating_count) == (4, 1)
    again = post_form(buyer, f"/orders/{order.id}/review", {"rating": "1", "body": "Changed my mind"})
    assert again.status_code == 409 and reviews(db) == 1

    seller = sign_in(cast.owner)
    assert post_form(seller, f"/orders/{order.id}/review/reply", {"reply": "Thank you!"}).status_code == 303
    assert post_form(seller, f"/orders/{order.id}/review/reply", {"reply": "Again"}).status_code == 409
    assert post_form(seller, f"/orders/{order.id}/review", {"rating": "5", "body": "Self-praise"}).status_code == 403

    page = sign_in(cast.other_buyer).get(f"/gigs/{cast.gig.slug}").get_data(as_text=True)
    assert "Great logo, fast." in page and "Thank you!" in page and "Bea Buyer" in page


@pytest.mark.parametrize(
    "form, field",
    [
        ({"rating": "6", "body": "Too many stars"}, "rating"),
        ({"rating": "zero", "body": "Not a number"}, "rating"),
        ({"rating": "5", "body": "  "}, "body"),
    ],
)
def test_bad_reviews_are_422_and_write_nothing(db, cast, sign_in, form, field):
    order = make_order(cast, "completed")
    db.session.commit()
    response = post_form(sign_in(cast.buyer), f"/orders/{order.id}/review", form)
    assert response.status_code == 422 and f'data-field="{field}"' in response.get_data(as_text=True)
    db.session.refresh(cast.gig)
    assert reviews(db) == 0 and cast.gig.rating_count == 0


def test_orders_that_are_not_completed_cannot_be_reviewed(db, cast, sign_in):
    order = make_order(cast, "delivered")
    db.session.commit()
    response = post_form(sign_in(cast.buyer), f"/orders/{order.id}/review", {"rating": "5", "body": "Early"})
    assert response.status_code == 409 and reviews(db) == 0
    reply = post_form(sign_in(cast.owner), f"/orders/{order.id}/review/reply", {"reply": "Nothing to reply to"})
    assert reply.status_code == 409
