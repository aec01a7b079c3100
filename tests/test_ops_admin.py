"""The admin operations page: the alert targets over the last hour and day, from the database,
and the live metrics."""

import re
from datetime import timedelta

from sqlalchemy import update

from app.clock import now
from app.models import InboundEvent, Payment, WebhookMessage
from app.services.companies import create_seller_company
from app.services.operations import quantile
from app.services.outbound import endpoints, outbox
from app.services.outbound.catalogue import example_data
from tests.factories.orders import make_order


def add_inbound(db, event_id, event_type, status, provider="stripe", hours_ago=0.0):
    db.session.add(
        InboundEvent(
            provider=provider,
            event_id=event_id,
            type=event_type,
            payload={},
            status=status,
            attempts=1,
            received_at=now() - timedelta(hours=hours_ago),
        )
    )


def test_operations_page_shows_the_targets_over_the_hour_and_the_day(
    client, db, cast, sign_in, make_user, sink, run_jobs
):
    order = make_order(cast)
    for n, hours_ago in enumerate((0.1, 0.2, 5.0)):
        payment = Payment(
            company_id=cast.company.id,
            kind="gig",
            buyer_id=cast.buyer.id,
            order_id=order.id if n == 0 else None,
            amount_cents=1000,
            fee_cents=100,
            currency="usd",
        )
        db.session.add(payment)
        db.session.flush()
        payment.created_at = now() - timedelta(hours=hours_ago)
    add_inbound(db, "evt_fail_1", "invoice.payment_failed", "processed", hours_ago=3)
    add_inbound(db, "evt_ok_1", "checkout.session.completed", "processed", hours_ago=0.5)
    add_inbound(db, "wh_1", "payment.succeeded", "failed", provider="whop", hours_ago=0.5)
    owner = make_user(intent="sell")
    company = create_seller_company(owner, "Ops Studio")
    endpoints.create_endpoint(company, sink.url + "/ops")
    db.session.commit()
    sink.respond_with(500, "down", path="/ops", times=2)
    outbox.record_event(company.id, "order.created", example_data("order.created", order_id=1))
    outbox.record_event(company.id, "order.created", example_data("order.created", order_id=2))
    db.session.commit()
    run_jobs()
    sink.wait_for("/ops", 2)
    first = db.session.scalars(WebhookMessage.__table__.select().with_only_columns(WebhookMessage.id)).first()
    db.session.execute(update(WebhookMessage).where(WebhookMessage.id == first).values(status="failed"))
    db.session.commit()

    sign_in(cast.admin)
    response = client.get("/admin/operations")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", page):
        cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        if cells:
            rows[cells[0]] = cells[1:]
    assert rows["Payments succeeded"][:2] == ["2", "3"]
    assert rows["Payments failed"][:2] == ["0", "1"]
    assert rows["Payment success"][:2] == ["100.00 % on target", "75.00 % below target"]
    assert rows["Webhook messages failed for good"][:2] == ["1", "1"]
    assert rows["Webhook delivery"][:2] == ["0.00 % below target", "0.00 % below target"]
    assert rows["Delivery attempts that succeeded"][:2] == ["0 / 2 (0.00 %)", "0 / 2 (0.00 %)"]
    assert rows["whop"] == ["failed", "1", "1"] and rows["stripe"][0] == "processed"
    assert rows["stripe"][1:] == ["1", "2"]
    assert "Live metrics" in page and "Error rate (5xx)" in page and "webhooks" in page


def test_operations_page_is_for_admins_only(client, cast, sign_in):
    assert client.get("/admin/operations").status_code == 302
    sign_in(cast.buyer)
    assert client.get("/admin/operations").status_code == 403


def test_p95_is_interpolated_as_prometheus_does():
    buckets = {0.25: 10.0, 0.5: 20.0, 1.0: 100.0, float("inf"): 100.0}
    assert round(quantile(0.95, buckets), 4) == 0.9688  # as alerts_test.yml's 968.8ms
    assert quantile(0.95, {}) is None and quantile(0.5, {1.0: 0.0, float("inf"): 0.0}) is None
    assert quantile(0.5, {0.1: 0.0, float("inf"): 4.0}) == 0.1
