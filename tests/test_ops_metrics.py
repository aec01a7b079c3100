"""Prometheus metrics at /metrics: counted where things happen, read with prometheus_client's
own parser after real traffic; only for the bearer of METRICS_TOKEN."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.extensions import db
from app.services.outbound import endpoints, outbox
from app.services.outbound.catalogue import example_data
from tests.factories import make_logo_shop
from tests.factories.licensing import make_licensed_shop
from tests.forms import buy_order
from tests.license_api import LicenseApi


def scrape(client, **headers):
    """{(sample name, sorted labels): value} of one /metrics answer."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.mark.committed
def test_checkout_failed_delivery_and_license_call_are_counted(app, client, sandbox, sink, run_jobs):
    with app.app_context():
        shop = make_logo_shop(sandbox)
        licensed = make_licensed_shop("licenser@example.com", "holder@example.com", slug="metered-tool")
        company_id, key = shop.company.id, licensed["key"]
        db.session.commit()
    before = scrape(client)

    buy_order(app, client, run_jobs)

    with app.app_context():
        endpoints.create_endpoint(db.session.get(type(shop.company), company_id), sink.url + "/down")
        db.session.commit()
        sink.respond_with(500, "down", path="/down")
        outbox.record_event(company_id, "order.created", example_data("order.created", order_id=1))
        db.session.commit()
    run_jobs()
    sink.wait_for("/down")

    api = LicenseApi(client)
    assert api.validate(key=key)[1]["code"] == "VALID"
    assert api.validate(key="TP-NOPE")[1]["code"] == "NOT_FOUND"

    after = scrape(client)
    assert delta(before, after, "tradepost_payments_total", kind="gig", outcome="succeeded") == 1
    assert delta(before, after, "tradepost_inbound_events_total", provider="stripe", outcome="received") >= 1
    assert delta(before, after, "tradepost_inbound_events_total", provider="stripe", outcome="processed") >= 1
    assert delta(before, after, "tradepost_webhook_deliveries_total", outcome="retrying") == 1
    assert delta(before, after, "tradepost_webhook_delivery_lag_seconds_count") == 1
    assert delta(before, after, "tradepost_license_api_requests_total", action="validate", result="valid") == 1
    assert delta(before, after, "tradepost_license_api_requests_total", action="validate", result="not_found") == 1
    checkout = {"endpoint": "buy.start", "method": "POST"}
    assert delta(before, after, "tradepost_http_requests_total", status="303", **checkout) == 1
    assert delta(before, after, "tradepost_http_request_duration_seconds_count", **checkout) == 1
    assert delta(before, after, "tradepost_http_request_duration_seconds_bucket", le="+Inf", **checkout) == 1
    validate = {"endpoint": "license_api.validate", "method": "POST"}
    assert delta(before, after, "tradepost_http_request_duration_seconds_count", **validate) == 2
    # live figures, read from Redis when scraped
    assert value(after, "tradepost_redis_up") == 1
    for queue in ("default", "webhooks", "scheduled"):
        assert (("tradepost_queue_depth", (("queue", queue),))) in after
        assert (("tradepost_queue_lag_seconds", (("queue", queue),))) in after
    assert value(after, "tradepost_queue_scheduled", queue="webhooks") == 1  # the delivery's retry
    assert value(after, "tradepost_db_pool_connections_limit") > 0
    assert ("tradepost_db_pool_connections_in_use", ()) in after


def test_metrics_need_the_token_when_one_is_set(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "t0ken-for-prometheus-scrapes")
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.json["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Basic t0ken-for-prometheus-scrapes"}).status_code == 401
    samples = scrape(client, Authorization="Bearer t0ken-for-prometheus-scrapes")
    assert ("tradepost_redis_up", ()) in samples


def test_errors_and_refused_webhooks_are_counted(app, client, monkeypatch):
    before = scrape(client)
    assert client.post("/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=bad"}).status_code == 401

    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setitem(app.view_functions, "ops.healthz", broken)
    assert client.get("/healthz").status_code == 500
    after = scrape(client)
    assert delta(before, after, "tradepost_inbound_events_total", provider="stripe", outcome="rejected") == 1
    assert delta(before, after, "tradepost_errors_total", where="web") == 1
    assert (
        delta(before, after, "tradepost_http_requests_total", endpoint="ops.healthz", method="GET", status="500") == 1
    )


def test_metrics_can_be_turned_off(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_ENABLED", False)
    before = scrape(client)
    client.get("/gigs")
    after = scrape(client)
    assert (
        delta(before, after, "tradepost_http_requests_total", endpoint="browse.index", method="GET", status="200") == 0
    )
