"""Events and docs agree: every outbound event type has a JSON Schema, shown on the docs page,
that its documented example follows; the schemas refuse what the docs promise never to send.
(Every event the suite causes is checked against them by the tests/event_schemas.py plugin.)"""

import html
import json
import re

import pytest

from app.models import OutboxEvent
from app.services.outbound.catalogue import EVENT_CATALOGUE, TEST_EVENT_TYPE, example_payload
from app.services.outbound.schemas import event_schema
from tests import event_schemas
from tests.event_schemas import check_outbox_row, schema_errors

ALL_TYPES = sorted((*EVENT_CATALOGUE, TEST_EVENT_TYPE))


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_each_documented_example_follows_its_schema(event_type):
    assert schema_errors(event_type, example_payload(event_type)) == []


def test_the_docs_page_shows_every_schema(client):
    page = client.get("/docs/webhooks").get_data(as_text=True)
    shown = dict(re.findall(r'<pre class="code" data-schema="([^"]+)"><code>(.*?)</code></pre>', page, re.S))
    assert sorted(shown) == ALL_TYPES
    for event_type, text in shown.items():
        assert json.loads(html.unescape(text)) == event_schema(event_type)


def body(event_type="membership.activated", **data):
    payload = example_payload(event_type)
    payload["data"] = {**payload["data"], **data}
    return payload


def test_schemas_refuse_what_the_docs_promise_never_to_send():
    assert schema_errors("membership.activated", body(renews_at="2027-01-01T00:00:00+00:00"))
    assert schema_errors("membership.activated", body(renews_at="2027-01-01"))
    assert schema_errors("membership.activated", body(status="inactive"))
    assert schema_errors("membership.activated", body(status="canceled"))  # activation never says canceled
    assert schema_errors("membership.activated", body(surprise=1))
    assert schema_errors("order.created", body("order.created", amount_cents=12.5))
    assert schema_errors("order.created", body("order.created", currency="USD"))
    assert schema_errors("order.created", body("order.created", package="platinum"))
    missing = body("payment.succeeded")
    del missing["data"]["kind"]
    assert schema_errors("payment.succeeded", missing) == ["data: 'kind' is a required property"]
    envelope = body()
    envelope["created"] = "2026-11-22T17:00:00.000000+00:00"
    assert schema_errors("membership.activated", envelope)
    assert schema_errors("membership.activated", body()) == []


def test_the_plugin_reports_a_bad_event_row():
    start = len(event_schemas.VIOLATIONS)
    good = OutboxEvent(company_id=3, public_id="evt_" + "a" * 24, type="gig.published", data={"gig_id": 1})
    check_outbox_row(good)
    bad = event_schemas.VIOLATIONS[start:]
    del event_schemas.VIOLATIONS[start:]
    assert len(bad) == 2 and all(line.startswith("gig.published data: ") for line in bad)
    ok = OutboxEvent(
        company_id=3,
        public_id="evt_" + "a" * 24,
        type="gig.published",
        data={"gig_id": 1, "slug": "logo", "status": "published"},
    )
    check_outbox_row(ok)
    assert event_schemas.VIOLATIONS[start:] == []
