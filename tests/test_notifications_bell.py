"""The bell, the notification list and marking notifications read."""

import pytest
from sqlalchemy import select

from app.models import Notification
from app.services.notifications import notify_user
from tests.factories import PASSWORD, make_user
from tests.forms import csrf_token, post_form


@pytest.fixture
def people(db):
    alice = make_user("alice@example.com", display_name="Alice")
    bob = make_user("bob@example.com", display_name="Bob")
    first = notify_user(alice, "order.deliver", "Order #1 delivered", link="/orders/1")
    notify_user(alice, "order.message", "New message on order #1", body="Hello")
    theirs = notify_user(bob, "order.message", "Bob's news")
    db.session.commit()
    return {"alice": alice, "bob": bob, "first": first, "theirs": theirs}


@pytest.fixture
def alice(client, people):
    assert post_form(client, "/signin", {"email": "alice@example.com", "password": PASSWORD}).status_code == 303
    return client


def test_bell_shows_the_unread_count_and_refreshes(alice):
    page = alice.get("/").get_data(as_text=True)
    assert 'id="nav-bell"' in page and 'data-unread="2"' in page and 'hx-trigger="every 30s"' in page
    fragment = alice.get("/notifications/bell", headers={"HX-Request": "true", "HX-Target": "nav-bell"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and 'data-unread="2"' in body


def test_mark_one_then_all_read(db, alice, people):
    assert post_form(alice, f"/notifications/{people['first'].id}/read").status_code == 303
    assert 'data-unread="1"' in alice.get("/").get_data(as_text=True)
    assert post_form(alice, f"/notifications/{people['first'].id}/read").status_code == 303  # idempotent
    assert post_form(alice, "/notifications/read-all").status_code == 303
    assert "data-unread" not in alice.get("/").get_data(as_text=True)
    unread = db.session.scalars(select(Notification).where(Notification.read_at.is_(None))).all()
    assert [n.id for n in unread] == [people["theirs"].id]


def test_someone_elses_notification_is_404_and_untouched(db, alice, people):
    assert post_form(alice, f"/notifications/{people['theirs'].id}/read").status_code == 404
    db.session.refresh(people["theirs"])
    assert people["theirs"].read_at is None


def test_signed_out_visitors_have_no_bell(client, people):
    assert 'id="nav-bell"' not in client.get("/").get_data(as_text=True)
    assert client.get("/notifications").status_code == 302
    assert client.post("/notifications/read-all", data={"csrf_token": csrf_token(client)}).status_code == 302
