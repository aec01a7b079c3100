"""Notification badges clear when the notifications are read: opening the list, or opening
the page a notification links to. Polls don't read anything, and nobody reads someone else's."""

import pytest
from sqlalchemy import select

from app.models import Notification
from app.services.notifications import notify_user
from tests.factories import make_order
from tests.forms import post_form


def unread(db, user):
    return db.session.scalars(
        select(Notification.title).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ).all()


@pytest.fixture
def order(db, cast):
    order = make_order(cast, "in_progress")
    notify_user(cast.buyer, "order.deliver", f"Order #{order.id}: delivered", link=f"/orders/{order.id}")
    notify_user(cast.buyer, "kyc.verified", "Elsewhere", link="/account")
    notify_user(cast.other_buyer, "order.deliver", "Not yours", link=f"/orders/{order.id}")
    db.session.commit()
    return order


def test_opening_the_list_reads_what_it_shows_and_the_badge_in_that_page_clears(db, cast, order, sign_in):
    buyer = sign_in(cast.buyer)
    assert 'data-unread="2"' in buyer.get("/").get_data(as_text=True)
    page = buyer.get("/notifications").get_data(as_text=True)
    assert page.count('<span class="badge">New</span>') == 2
    assert "data-unread" not in page  # the bell of this very page
    assert unread(db, cast.buyer) == []
    assert unread(db, cast.other_buyer) == ["Not yours"]
    again = buyer.get("/notifications").get_data(as_text=True)
    assert '<span class="badge">New</span>' not in again


def test_opening_the_linked_page_reads_its_notifications_only(db, cast, order, sign_in):
    buyer = sign_in(cast.buyer)
    page = buyer.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'data-unread="1"' in page
    assert unread(db, cast.buyer) == ["Elsewhere"]
    assert unread(db, cast.other_buyer) == ["Not yours"]
    buyer.get("/account")
    assert unread(db, cast.buyer) == []


def test_polls_and_refused_pages_read_nothing(db, cast, order, sign_in):
    buyer = sign_in(cast.buyer)
    poll = buyer.get(f"/orders/{order.id}/messages", headers={"HX-Request": "true"})
    assert poll.status_code == 200
    bell = buyer.get("/notifications/bell", headers={"HX-Request": "true"})
    assert 'data-unread="2"' in bell.get_data(as_text=True)
    assert post_form(buyer, f"/orders/{order.id}/messages", {"body": ""}).status_code == 422
    assert len(unread(db, cast.buyer)) == 2
    # Someone else opening the order (a 404 for them) reads nothing of the buyer's.
    stranger = sign_in(cast.other_seller)
    assert stranger.get(f"/orders/{order.id}").status_code == 404
    assert len(unread(db, cast.buyer)) == 2


def test_seller_actions_are_announced_in_the_shops_name(db, cast, sign_in):
    order = make_order(cast, "in_progress")
    seller = sign_in(cast.owner)
    response = post_form(seller, f"/orders/{order.id}/actions/deliver", {"note": "Here it is."})
    assert response.status_code == 303
    titles = db.session.scalars(select(Notification.title).where(Notification.user_id == cast.buyer.id)).all()
    assert titles == [f"Order #{order.id}: Pixel Studio delivered the work"]
    assert "Sally Seller" not in titles[0]
    page = sign_in(cast.buyer).get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Pixel Studio delivered the work" in page  # the timeline names the shop too


def test_pages_no_notification_links_to_read_nothing_and_write_nothing(db, cast, order, sign_in):
    buyer = sign_in(cast.buyer)
    notify_user(cast.buyer, "misc", "About the listing", link="/gigs")
    db.session.commit()
    assert buyer.get("/gigs").status_code == 200
    assert "About the listing" in unread(db, cast.buyer)  # /gigs is no notification's page
