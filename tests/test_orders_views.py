"""The order workspace over HTTP: who sees it, what each party can do, refusals and files."""

import io

import pytest
from sqlalchemy import func, select

from app.models import Notification, OrderEvent, OrderFile, OrderMessage
from tests.factories import answers_for, make_order
from tests.forms import post_form

pytestmark = pytest.mark.usefixtures("uploads")


def events(db, order):
    return db.session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order.id))


def act(client, order, action, data=None, **kwargs):
    return post_form(client, f"/orders/{order.id}/actions/{action}", data, **kwargs)


def test_buyer_submits_requirements_with_an_attachment_and_the_seller_sees_them(db, cast, sign_in):
    order = make_order(cast)
    db.session.commit()
    buyer = sign_in(cast.buyer)
    page = buyer.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Business name" in page and 'data-action="submit_requirements"' in page
    data = {**answers_for(cast.gig), "notes": "Green, please", "files": (io.BytesIO(b"%PDF-1.4 brief"), "brief.pdf")}
    response = act(buyer, order, "submit_requirements", data, content_type="multipart/form-data")
    assert response.status_code == 303
    db.session.refresh(order)
    assert order.status == "in_progress"
    stored = db.session.scalars(select(OrderFile)).one()
    assert stored.filename == "brief.pdf" and stored.storage_key.startswith(f"orders/{order.id}/")

    seller = sign_in(cast.member)
    page = seller.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Acme Bakery" in page and "Green, please" in page and "brief.pdf" in page
    assert 'data-action="deliver"' in page and 'data-action="accept"' not in page
    download = seller.get(f"/orders/{order.id}/files/{stored.id}")
    assert download.status_code == 200 and download.data == b"%PDF-1.4 brief"
    assert "attachment" in download.headers["Content-Disposition"]
    download.close()


def test_seller_delivers_and_buyer_accepts(db, cast, sign_in):
    order = make_order(cast, "in_progress")
    db.session.commit()
    seller = sign_in(cast.owner)
    response = act(
        seller,
        order,
        "deliver",
        {"note": "Three concepts attached.", "files": (io.BytesIO(b"PNG"), "logo.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    buyer = sign_in(cast.buyer)
    page = buyer.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Three concepts attached." in page and "logo.png" in page
    assert 'data-action="accept"' in page and 'data-action="request_revision"' in page
    assert act(buyer, order, "accept").status_code == 303
    db.session.refresh(order)
    assert order.status == "completed"
    assert "How did it go?" in buyer.get(f"/orders/{order.id}").get_data(as_text=True)


def test_wrong_state_is_409_and_writes_nothing(db, cast, sign_in):
    order = make_order(cast, "in_progress")
    db.session.commit()
    buyer = sign_in(cast.buyer)
    response = act(buyer, order, "accept")
    assert response.status_code == 409
    assert "data-refused" in response.get_data(as_text=True)
    db.session.refresh(order)
    assert order.status == "in_progress" and events(db, order) == 0


def test_an_action_the_role_never_has_is_403(db, cast, sign_in):
    order = make_order(cast, "disputed")
    db.session.commit()
    buyer = sign_in(cast.buyer)
    assert act(buyer, order, "resolve_release", {"note": "Mine now"}).status_code == 403
    assert act(buyer, order, "auto_complete").status_code == 404
    assert act(buyer, order, "no_such_action").status_code == 404
    db.session.refresh(order)
    assert order.status == "disputed" and events(db, order) == 0


def test_missing_reason_is_422_with_the_field_and_nothing_written(db, cast, sign_in):
    order = make_order(cast, "delivered")
    db.session.commit()
    buyer = sign_in(cast.buyer)
    response = act(buyer, order, "request_revision", {"note": "  "})
    assert response.status_code == 422
    assert 'data-field="note"' in response.get_data(as_text=True)
    db.session.refresh(order)
    assert order.status == "delivered" and order.revisions_used == 0 and events(db, order) == 0


def test_bad_requirements_are_422_and_keep_the_input(db, cast, sign_in):
    order = make_order(cast)
    db.session.commit()
    buyer = sign_in(cast.buyer)
    first = cast.gig.questions[0]
    style = cast.gig.questions[1]
    response = act(buyer, order, "submit_requirements", {f"q_{first.id}": "Acme", f"q_{style.id}": "Gothic"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'data-field="q_{style.id}"' in body and 'value="Acme"' in body
    db.session.refresh(order)
    assert order.status == "awaiting_requirements" and events(db, order) == 0


def test_cancellation_request_and_answer(db, cast, sign_in):
    order = make_order(cast, "in_progress")
    db.session.commit()
    buyer = sign_in(cast.buyer)
    assert act(buyer, order, "request_cancel", {"note": "No longer needed"}).status_code == 303
    page = buyer.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'data-action="withdraw_cancel"' in page and 'data-action="accept_cancel"' not in page
    assert act(buyer, order, "accept_cancel").status_code == 409
    seller = sign_in(cast.owner)
    page = seller.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "No longer needed" in page and 'data-action="decline_cancel"' in page
    assert act(seller, order, "decline_cancel").status_code == 303
    db.session.refresh(order)
    assert (order.status, order.previous_status) == ("in_progress", None)


def test_admin_sees_resolution_actions_only_on_disputes(db, cast, sign_in):
    order = make_order(cast, "disputed")
    db.session.commit()
    admin = sign_in(cast.admin)
    page = admin.get(f"/orders/{order.id}").get_data(as_text=True)
    for action in ("resolve_refund", "resolve_partial", "resolve_release", "cancel"):
        assert f'data-action="{action}"' in page
    assert "Not as described" in page
    assert f"#{order.id}" in admin.get("/orders/disputed").get_data(as_text=True)


@pytest.mark.parametrize("who", ["other_buyer", "other_seller"])
def test_other_users_get_404_for_workspace_files_actions_and_messages(db, cast, sign_in, who):
    order = make_order(cast, "delivered")
    db.session.commit()
    stranger = sign_in(getattr(cast, who))
    assert stranger.get(f"/orders/{order.id}").status_code == 404
    assert stranger.get(f"/orders/{order.id}/messages").status_code == 404
    assert stranger.get(f"/orders/{order.id}/files/1").status_code == 404
    assert act(stranger, order, "accept").status_code == 404
    assert post_form(stranger, f"/orders/{order.id}/messages", {"body": "hi"}).status_code == 404
    assert post_form(stranger, f"/orders/{order.id}/review", {"rating": "5", "body": "x"}).status_code == 404
    assert stranger.get("/orders/999999").status_code == 404
    db.session.refresh(order)
    assert order.status == "delivered" and events(db, order) == 0


def test_signed_out_visitors_are_sent_to_sign_in(db, cast, client):
    order = make_order(cast, "delivered")
    db.session.commit()
    response = client.get(f"/orders/{order.id}")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]
    assert post_form(client, f"/orders/{order.id}/actions/accept").status_code == 302
    assert client.get(f"/orders/{order.id}/files/1").status_code == 302
    db.session.refresh(order)
    assert order.status == "delivered"


def test_messages_post_with_htmx_and_the_list_polls(db, cast, sign_in):
    order = make_order(cast, "in_progress")
    db.session.commit()
    buyer = sign_in(cast.buyer)
    page = buyer.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in page
    htmx = {"HX-Request": "true", "HX-Target": "message-list"}
    response = post_form(buyer, f"/orders/{order.id}/messages", {"body": "Quick question about colours"}, headers=htmx)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "Quick question about colours" in body and 'hx-swap-oob="true"' in body
    seller_note = db.session.scalars(select(Notification).where(Notification.kind == "order.message")).all()
    assert [n.user_id for n in seller_note] == [cast.owner.id]
    polled = buyer.get(f"/orders/{order.id}/messages", headers=htmx)
    assert "Quick question about colours" in polled.get_data(as_text=True) and "<html" not in polled.get_data(
        as_text=True
    )
    empty = post_form(buyer, f"/orders/{order.id}/messages", {"body": " "}, headers=htmx)
    assert empty.status_code == 422 and "Write a message first." in empty.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(OrderMessage)) == 1
    plain = post_form(buyer, f"/orders/{order.id}/messages", {"body": "Without JS"})
    assert plain.status_code == 303


def test_seller_order_list_filters_by_status_within_the_company(db, cast, sign_in):
    delivered = make_order(cast, "delivered")
    make_order(cast, "in_progress")
    db.session.commit()
    seller = sign_in(cast.member)
    page = seller.get("/sell/orders?status=delivered").get_data(as_text=True)
    assert f"#{delivered.id}" in page and page.count('href="/orders/') == 1
    rival = sign_in(cast.other_seller)
    assert "No orders yet" in rival.get("/sell/orders").get_data(as_text=True)
    fragment = seller.get("/sell/orders?status=in_progress", headers={"HX-Request": "true", "HX-Target": "orders"})
    assert "<html" not in fragment.get_data(as_text=True)
