"""Account routes that take no input: what they refuse (a cross-site POST without the CSRF
token, a Whop profile refresh with no Whop link), and cancelling a pending Whop link."""

from sqlalchemy import func, select

from app.models import Notification, WhopIdentity
from app.services.notifications import notify_user
from tests.factories import PASSWORD
from tests.forms import post_form, sign_in_with_whop


def unread(db, user):
    return db.session.scalar(
        select(func.count(Notification.id)).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )


def test_marking_all_read_from_another_site_is_refused(client, db, make_user, sign_in):
    user = make_user()
    notify_user(user, "order.message", "New message on order #1")
    db.session.commit()
    sign_in(user)
    response = client.post("/notifications/read-all")
    assert response.status_code == 400
    assert unread(db, user) == 1
    assert 'data-unread="1"' in client.get("/").get_data(as_text=True)


def test_starting_a_whop_link_from_another_site_is_refused(client, db, make_user, sign_in):
    sign_in(make_user())
    response = client.post("/whop/link")
    assert response.status_code == 400 and "Location" not in response.headers
    with client.session_transaction() as session:
        assert "whop_intent" not in session
    assert db.session.scalar(select(func.count(WhopIdentity.id))) == 0


def test_unlinking_whop_from_another_site_is_refused(client, db, make_user, sign_in):
    user = make_user()
    db.session.add(WhopIdentity(user_id=user.id, whop_user_id="user_kept", created_via="oauth"))
    db.session.commit()
    sign_in(user)
    response = client.post("/whop/unlink")
    assert response.status_code == 400
    assert db.session.scalar(select(WhopIdentity.whop_user_id)) == "user_kept"
    assert "Whop id user_kept" in client.get("/whop/settings").get_data(as_text=True)


def test_refreshing_a_whop_profile_without_a_whop_link_is_404(client, db, make_user, sign_in):
    user = make_user()
    sign_in(user)
    response = post_form(client, "/whop/sync")
    assert response.status_code == 404
    assert db.session.scalar(select(func.count(WhopIdentity.id))) == 0


def test_cancelling_a_pending_whop_link_links_nothing(client, db, whop, make_user):
    make_user(email="owner@example.com")
    whop_user = whop.make_user(email="owner@example.com")
    assert sign_in_with_whop(client, whop_user).headers["Location"] == "/whop/confirm"
    assert "already have an account" in client.get("/whop/confirm").get_data(as_text=True)

    cross_site = client.post("/whop/confirm/cancel")
    assert cross_site.status_code == 400
    assert client.get("/whop/confirm").status_code == 200  # still pending

    response = post_form(client, "/whop/confirm/cancel")
    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert "Nothing was linked." in client.get("/signin").get_data(as_text=True)
    again = client.get("/whop/confirm")
    assert again.status_code == 303 and again.headers["Location"] == "/signin"
    assert db.session.scalar(select(func.count(WhopIdentity.id))) == 0
    # The password step that would have linked it is gone with the pending link.
    late = post_form(client, "/whop/confirm", {"password": PASSWORD})
    assert late.status_code == 303 and late.headers["Location"] == "/signin"
    assert db.session.scalar(select(func.count(WhopIdentity.id))) == 0
