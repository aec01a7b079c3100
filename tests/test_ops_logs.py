"""Structured logs: a request id on every line of a request, in its jobs and its webhooks;
one line per money action, auth event and webhook outcome; JSON in production, text in
development."""

import json
import logging
import re

import pytest

from app.logs import JsonFormatter, TextFormatter, bind_context, clean_request_id
from app.queue import get_queue
from app.services.companies import create_seller_company
from app.services.outbound import endpoints, outbox
from app.services.outbound.catalogue import example_data
from tests.factories import PASSWORD
from tests.forms import csrf_token, post_form


@pytest.fixture
def records(caplog):
    """Every record of every logger from DEBUG up, as the test goes."""
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    return caplog


def test_request_id_is_the_callers_or_a_new_one_and_is_echoed(client):
    given = client.get("/gigs", headers={"X-Request-ID": "lb-7f3a.01:x"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.01:x"
    fresh = client.get("/gigs")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["X-Request-ID"])
    assert client.get("/gigs").headers["X-Request-ID"] != fresh.headers["X-Request-ID"]
    for hostile in ("a b", "x" * 129, "évil", "a\x00b", "id\r\nSet-Cookie: x=1"):
        assert clean_request_id(hostile) != hostile
    refused = client.get("/no-such-page", headers={"X-Request-ID": "x" * 500})
    assert refused.status_code == 404 and re.fullmatch(r"[0-9a-f]{32}", refused.headers["X-Request-ID"])


def test_every_log_line_of_a_request_carries_its_id(client, make_user, records):
    user = make_user(email="logs@example.com")
    token = csrf_token(client)
    records.clear()
    response = client.post(
        "/signin",
        data={"email": "logs@example.com", "password": PASSWORD, "csrf_token": token},
        headers={"X-Request-ID": "req-sign-in-1"},
    )
    assert response.status_code == 303
    lines = records.records
    assert len(lines) >= 2
    assert {r.request_id for r in lines} == {"req-sign-in-1"}, [(r.name, r.getMessage()) for r in lines]
    [audit] = [r for r in lines if r.name == "app.audit"]
    assert audit.getMessage() == "auth.sign_in" and audit.actor_user_id == user.id
    [access] = [r for r in lines if r.name == "app.access"]
    entry = json.loads(JsonFormatter().format(access))
    assert entry["request_id"] == "req-sign-in-1"
    assert entry["user_id"] == user.id
    assert (entry["method"], entry["path"], entry["status"], entry["route"]) == ("POST", "/signin", 303, "auth.sign_in")
    assert entry["duration_ms"] >= 0 and entry["level"] == "info" and entry["ts"].endswith("+00:00")
    assert "email" not in json.loads(JsonFormatter().format(audit))  # personal data stays in the audit row


def test_failed_sign_in_is_one_audit_line(client, make_user, records):
    make_user(email="who@example.com")
    records.clear()
    post_form(client, "/signin", {"email": "who@example.com", "password": "wrong-password"})
    failed = [r for r in records.records if r.name == "app.audit"]
    assert [r.getMessage() for r in failed] == ["auth.sign_in_failed"]


def test_jobs_and_outbound_webhooks_carry_the_request_id(client, db, make_user, sign_in, sink, run_jobs, records):
    owner = make_user(intent="sell")
    company = create_seller_company(owner, "Traced Studio")
    endpoint = endpoints.create_endpoint(company, sink.url + "/traced")
    db.session.commit()
    sign_in(owner)
    sink.respond_with(500, "down", path="/traced")
    response = client.post(
        f"/sell/webhooks/{endpoint.id}/test",
        data={"csrf_token": csrf_token(client)},
        headers={"X-Request-ID": "req-test-event"},
    )
    assert response.status_code == 303
    [job] = get_queue("webhooks").get_jobs()
    assert job.meta["request_id"] == "req-test-event"
    records.clear()
    run_jobs()
    [received] = sink.wait_for("/traced")
    assert received.headers["X-Request-Id"] == "req-test-event"  # as the receiver's WSGI server spells it
    ours = [r for r in records.records if r.name.startswith("app.")]
    assert ours and {r.request_id for r in ours} == {"req-test-event"}
    [outcome] = [r for r in ours if r.name == "app.webhooks"]
    assert outcome.levelno == logging.WARNING
    assert (outcome.event, outcome.status_code, outcome.attempt) == ("webhook.retrying", 500, 1)
    assert outcome.job_id == job.id


def test_a_job_without_a_request_gets_an_id_of_its_own(db, make_user, sink, run_jobs, records):
    owner = make_user(intent="sell")
    company = create_seller_company(owner, "Cron Studio")
    endpoints.create_endpoint(company, sink.url + "/cron")
    db.session.commit()
    outbox.record_event(
        company.id, "order.created", example_data("order.created", order_id=3)
    )  # as a sweep would: no request
    db.session.commit()
    [job] = get_queue("webhooks").get_jobs()
    assert "request_id" not in job.meta
    records.clear()
    run_jobs()
    [received] = sink.wait_for("/cron")
    [outcome] = [r for r in records.records if r.name == "app.webhooks"]
    assert outcome.event == "webhook.delivered" and re.fullmatch(r"[0-9a-f]{32}", outcome.request_id)
    assert received.headers["X-Request-Id"] == outcome.request_id  # dispatch passed it to delivery


def test_formats_json_for_machines_and_text_for_people():
    logger = logging.getLogger("app.test_format")
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "paid %s", ("x",), None, extra={"cents": 5})
    assert getattr(record, "request_id", None) is None
    # Outside a bound context a caller may name a context field itself (RQ's worker logs a failed
    # job with extra={"job_id": ...}): the record takes it instead of refusing to be made.
    rq_style = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "failed", (), None, extra={"job_id": "j1"})
    assert json.loads(JsonFormatter().format(rq_style))["job_id"] == "j1"
    with bind_context(request_id="abc", route="buy.checkout"):
        bound = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "paid %s", ("x",), None, extra={"cents": 5})
    entry = json.loads(JsonFormatter().format(bound))
    assert (entry["message"], entry["request_id"], entry["route"], entry["cents"]) == (
        "paid x",
        "abc",
        "buy.checkout",
        5,
    )
    assert "user_id" not in entry  # unset fields are left out
    line = TextFormatter().format(bound)
    assert "INFO [app.test_format] paid x" in line and "request_id=abc" in line and "cents=5" in line
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failed))["exc"]
    assert TextFormatter().format(failed).splitlines()[0].endswith("failed")


def test_production_logs_json_and_development_text(monkeypatch):
    from app.config import DevelopmentConfig, ProductionConfig

    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert ProductionConfig.LOG_FORMAT.resolve(None) == "json"
    assert DevelopmentConfig.LOG_FORMAT.resolve(None) == "text"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        DevelopmentConfig.LOG_FORMAT.resolve(None)
