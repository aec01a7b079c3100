"""List pages show one page at a time with page links (app.web.paginate), never a silent cut:
the seller's orders, the buyer's orders, disputed orders, admin events, notifications and the
gig review queue. A page number that is not one shows the first page; one past the end, the
last."""

import re
from datetime import timedelta

import pytest

from app.blueprints import account, admin, notifications, orders, review
from app.blueprints.sell import orders as sell_orders
from app.clock import now
from app.models import InboundEvent
from app.services.notifications import notify_user
from tests.factories import make_gig, make_order
from tests.forms import sign_in_as


def order_links(page):
    return [int(n) for n in re.findall(r'href="/orders/(\d+)">#\1<', page)]


def pager_pages(page):
    """The page numbers the pager links to, and the current one."""
    links = {int(n) for n in re.findall(r'class="page-link" href="[^"]*[?;]page=(\d+)"', page)}
    current = re.search(r'class="page-link current" aria-current="page">(\d+)<', page)
    return links, int(current.group(1)) if current else None


@pytest.fixture
def five_orders(db, cast):
    made = [make_order(cast, status="in_progress") for _ in range(5)]
    db.session.commit()
    return sorted((order.id for order in made), reverse=True)  # newest first, as the lists show them


def test_the_sellers_orders_come_a_page_at_a_time(client, cast, five_orders, monkeypatch):
    monkeypatch.setattr(sell_orders, "ORDERS_PER_PAGE", 2)
    sign_in_as(client, cast.owner)
    first = client.get("/sell/orders").get_data(as_text=True)
    assert order_links(first) == five_orders[:2]
    assert pager_pages(first) == ({2, 3}, 1) and 'rel="next"' in first
    third = client.get("/sell/orders?page=3&status=in_progress")
    assert third.status_code == 200 and order_links(third.get_data(as_text=True)) == five_orders[4:]
    assert "status=in_progress" in third.get_data(as_text=True).split('class="pagination"')[1]  # filter kept


@pytest.mark.parametrize(
    "page, shown", [("abc", 1), ("0", 1), ("-2", 1), ("99999999999999999999", 1), ("4", 3), ("2147483647", 3)]
)
def test_a_page_that_is_not_one_shows_the_first_and_past_the_end_the_last(
    client, cast, five_orders, monkeypatch, page, shown
):
    monkeypatch.setattr(sell_orders, "ORDERS_PER_PAGE", 2)
    sign_in_as(client, cast.owner)
    response = client.get(f"/sell/orders?page={page}")
    assert response.status_code == 200
    assert pager_pages(response.get_data(as_text=True))[1] == shown


def test_one_page_of_orders_needs_no_page_links(client, cast, five_orders):
    sign_in_as(client, cast.owner)
    page = client.get("/sell/orders").get_data(as_text=True)
    assert order_links(page) == five_orders and 'class="pagination"' not in page


def test_the_buyers_and_the_disputed_orders_are_paged_too(client, db, cast, monkeypatch):
    ids = sorted((make_order(cast, status="disputed").id for _ in range(3)), reverse=True)
    db.session.commit()
    monkeypatch.setattr(account, "ORDERS_PER_PAGE", 2)
    monkeypatch.setattr(orders, "ORDERS_PER_PAGE", 2)
    sign_in_as(client, cast.buyer)
    assert order_links(client.get("/account?page=2").get_data(as_text=True)) == ids[2:]
    client.post("/signout", data={})
    admin_client = client.application.test_client()
    sign_in_as(admin_client, cast.admin)
    oldest_first = sorted(ids)
    assert order_links(admin_client.get("/orders/disputed").get_data(as_text=True)) == oldest_first[:2]
    assert order_links(admin_client.get("/orders/disputed?page=2").get_data(as_text=True)) == oldest_first[2:]


def test_admin_events_notifications_and_the_review_queue_are_paged(client, db, cast, monkeypatch):
    for n in range(3):
        db.session.add(
            InboundEvent(
                provider="stripe",
                event_id=f"evt_page_{n}",
                type="account.updated",
                payload={"id": f"evt_page_{n}"},
                status="processed",
            )
        )
        notify_user(cast.admin, "test", f"Notice number {n}")
        gig = make_gig(cast.company, slug=f"waiting-{n}", status="draft")
        gig.title = f"Waiting gig {n}"
        db.session.flush()
        gig.status, gig.submitted_at = "review", now() + timedelta(minutes=n)
    db.session.commit()
    for module, name in (
        (admin, "EVENTS_PER_PAGE"),
        (notifications, "NOTIFICATIONS_PER_PAGE"),
        (review, "GIGS_PER_PAGE"),
    ):
        monkeypatch.setattr(module, name, 2)
    sign_in_as(client, cast.admin)
    events = client.get("/admin/events?page=2").get_data(as_text=True)
    assert "evt_page_0" in events and "evt_page_2" not in events and pager_pages(events)[1] == 2
    notices = client.get("/notifications?page=2").get_data(as_text=True)
    assert "Notice number 0" in notices and "Notice number 2" not in notices
    queue = client.get("/admin/gigs/?page=2").get_data(as_text=True)
    assert "3 waiting" in queue and "Waiting gig 2" in queue and "Waiting gig 0" not in queue
