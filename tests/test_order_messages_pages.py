"""What people read and type on the order page: clickable links in messages (safely), the
5,000-character limit said rather than cut, and a review without stars answered next to the
stars, scrolled into view and focused."""

import re

import pytest
from sqlalchemy import func, select

from app.models import Notification, OrderMessage, Review
from tests.factories import make_order
from tests.forms import post_form

HTMX = {"HX-Request": "true", "HX-Target": "message-list"}


def messages(db):
    return db.session.scalar(select(func.count()).select_from(OrderMessage))


def test_links_in_messages_are_clickable_and_marked_user_content(db, cast, sign_in):
    order = make_order(cast, "in_progress")
    buyer = sign_in(cast.buyer)
    body = "Brief: https://example.com/brief?v=2&lang=en. Also (https://example.org/x)"
    assert post_form(buyer, f"/orders/{order.id}/messages", {"body": body}).status_code == 303
    page = sign_in(cast.owner).get(f"/orders/{order.id}").get_data(as_text=True)
    links = re.findall(r'<a href="(https://example\.[^"]+)" target="_blank" rel="([^"]+)">', page)
    assert links == [
        ("https://example.com/brief?v=2&amp;lang=en", "nofollow noopener ugc"),
        ("https://example.org/x", "nofollow noopener ugc"),
    ]


@pytest.mark.parametrize(
    "hostile, forbidden",
    [
        ("javascript:alert(document.cookie)", '<a href="javascript'),
        ('<a href="javascript:alert(1)">click</a>', '<a href="javascript'),
        ('<img src=x onerror="alert(1)">', "<img"),
        ('https://evil.test/"onmouseover="alert(1)', '/" onmouseover'),
        ("data:text/html;base64,PHNjcmlwdD4=", '<a href="data:'),
        ("https://evil.test/<script>alert(1)</script>", "<script>alert"),
    ],
)
def test_hostile_messages_stay_text(db, cast, sign_in, hostile, forbidden):
    order = make_order(cast, "in_progress")
    buyer = sign_in(cast.buyer)
    assert post_form(buyer, f"/orders/{order.id}/messages", {"body": hostile}).status_code == 303
    page = buyer.get(f"/orders/{order.id}").get_data(as_text=True)
    conversation = page[page.index('id="message-list"') : page.index('id="message-form"')]
    assert forbidden not in conversation
    assert "ow-message-meta" in conversation  # the message is there, as text


def test_a_message_over_the_limit_is_refused_naming_the_field_and_the_limit(db, cast, sign_in):
    order = make_order(cast, "in_progress")
    buyer = sign_in(cast.buyer)
    page = buyer.get(f"/orders/{order.id}").get_data(as_text=True)
    assert re.search(r'<textarea id="message-body" name="body" rows="2" maxlength="5000"', page)
    assert "Up to 5,000 characters." in page
    long = "x" * 5001
    response = post_form(buyer, f"/orders/{order.id}/messages", {"body": long})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Message is too long: 5,001 characters, and a message can have at most 5,000." in text
    assert long in text  # kept for the writer to shorten, not cut
    assert 'aria-invalid="true" autofocus' in text
    assert messages(db) == 0
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_with_htmx_the_refusal_comes_back_in_the_form_out_of_band(db, cast, sign_in):
    order = make_order(cast, "in_progress")
    buyer = sign_in(cast.buyer)
    response = post_form(buyer, f"/orders/{order.id}/messages", {"body": "y" * 6000}, headers=HTMX)
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in text
    form = text[text.index('<form id="message-form"') :]
    assert 'hx-swap-oob="true"' in form and 'id="message-error"' in form and "y" * 6000 in form
    assert messages(db) == 0
    exactly = post_form(buyer, f"/orders/{order.id}/messages", {"body": "z" * 5000}, headers=HTMX)
    assert exactly.status_code == 200 and messages(db) == 1


def test_messages_are_refused_to_others_and_in_hostile_shapes(db, cast, sign_in):
    order = make_order(cast, "in_progress")
    rival = sign_in(cast.other_seller)
    assert post_form(rival, f"/orders/{order.id}/messages", {"body": "https://spam.test"}).status_code == 404
    buyer = sign_in(cast.buyer)
    assert post_form(buyer, f"/orders/{order.id}/messages", {"body": "nul\x00byte"}).status_code == 400
    assert post_form(buyer, f"/orders/{order.id}/messages", {"body": "\u200b \n\t"}).status_code in (303, 422)
    assert messages(db) <= 1
    assert (
        db.session.scalar(select(func.count()).select_from(OrderMessage).where(OrderMessage.body.contains("spam"))) == 0
    )


def test_message_notifications_name_the_shop_for_the_seller_side(db, cast, sign_in):
    order = make_order(cast, "in_progress")
    assert post_form(sign_in(cast.member), f"/orders/{order.id}/messages", {"body": "Started!"}).status_code == 303
    assert post_form(sign_in(cast.buyer), f"/orders/{order.id}/messages", {"body": "Thanks"}).status_code == 303
    titles = dict(db.session.execute(select(Notification.user_id, Notification.title)).all())
    assert titles[cast.buyer.id] == f"Pixel Studio sent a message on order #{order.id}"
    assert titles[cast.owner.id] == f"Bea Buyer sent a message on order #{order.id}"
    page = sign_in(cast.buyer).get(f"/orders/{order.id}").get_data(as_text=True)
    assert '<strong>Pixel Studio</strong> <span class="muted">Max Member</span>' in page


def test_a_review_without_stars_is_refused_next_to_the_stars_in_view_and_focused(db, cast, sign_in):
    order = make_order(cast, "completed")
    buyer = sign_in(cast.buyer)
    page = buyer.get(f"/orders/{order.id}").get_data(as_text=True)
    assert f'action="/orders/{order.id}/review" class="ow-form" hx-boost="false"' in page
    response = post_form(buyer, f"/orders/{order.id}/review", {"body": "Lovely work"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    stars = text[text.index('<div class="ow-rating-field"') : text.index('<div class="field')]
    assert 'id="rating-error" data-field="rating" role="alert">Choose between 1 and 5 stars.' in stars
    assert 'aria-describedby="rating-error"' in stars
    assert re.search(r'id="rating-5" name="rating" value="5" autofocus', stars)
    assert text.count("autofocus") == 1
    assert "Lovely work" in text  # the text is kept
    assert db.session.scalar(select(func.count()).select_from(Review)) == 0
    body_missing = post_form(buyer, f"/orders/{order.id}/review", {"rating": "4", "body": ""})
    assert body_missing.status_code == 422
    assert re.search(r'<textarea id="review-body"[^>]* autofocus>', body_missing.get_data(as_text=True))
