"""Inbound webhooks: verified on the raw body, stored once, processed once, reprocessable."""

import concurrent.futures

import pytest
from sqlalchemy import func, select

from app.models import AuditEvent, Company, InboundEvent
from app.services.companies import create_seller_company
from app.services.inbound import handle_inbound_event
from app.services.inbound_handlers import HANDLERS
from tests import loopback
from tests.forms import post_form
from tests.webhook_signing import stripe_event, stripe_signed, whop_signed

VERIFIED_ACCOUNT = {
    "id": "acct_verified1",
    "object": "account",
    "charges_enabled": True,
    "payouts_enabled": True,
    "details_submitted": True,
    "requirements": {"currently_due": [], "disabled_reason": None},
}


def count_events(db):
    return db.session.scalar(select(func.count()).select_from(InboundEvent))


def post_stripe(client, app, event, secret=None):
    body, headers = stripe_signed(event, secret or app.config["STRIPE_WEBHOOK_SECRET"])
    return client.post("/webhooks/stripe", data=body, headers=headers)


@pytest.fixture
def seller_company(db, make_user):
    owner = make_user(intent="sell")
    company = create_seller_company(owner, "Acme Studio")
    company.stripe_account_id = VERIFIED_ACCOUNT["id"]
    company.kyc_status = "pending"
    db.session.commit()
    return company


def test_bad_stripe_signature_is_refused_and_nothing_stored(client, app, db):
    response = post_stripe(client, app, stripe_event("account.updated", VERIFIED_ACCOUNT), secret="whsec_wrong")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "bad_signature"
    assert client.post("/webhooks/stripe", data=b"{}").status_code == 401
    assert count_events(db) == 0


def test_tampered_stripe_body_is_refused(client, app, db):
    body, headers = stripe_signed(
        stripe_event("account.updated", VERIFIED_ACCOUNT), app.config["STRIPE_WEBHOOK_SECRET"]
    )
    response = client.post("/webhooks/stripe", data=body.replace(b"true", b"false"), headers=headers)
    assert response.status_code == 401
    assert count_events(db) == 0


def test_account_updated_is_stored_once_and_processed_once(client, app, db, seller_company, run_jobs):
    event = stripe_event("account.updated", VERIFIED_ACCOUNT)
    first = post_stripe(client, app, event)
    assert first.status_code == 200 and first.json == {"received": True, "duplicate": False}
    replay = post_stripe(client, app, event)
    assert replay.status_code == 200 and replay.json["duplicate"] is True
    assert count_events(db) == 1
    assert run_jobs() == 1
    stored = db.session.scalars(select(InboundEvent)).one()
    assert (stored.status, stored.attempts, stored.type) == ("processed", 1, "account.updated")
    company = db.session.get(Company, seller_company.id)
    assert (company.kyc_status, company.payouts_enabled) == ("verified", True)
    assert handle_inbound_event(stored.id) is None
    kyc_audits = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "seller.kyc_updated")
    )
    assert kyc_audits == 1


def test_failed_verification_marks_company_failed(client, app, db, seller_company, run_jobs):
    account = {
        **VERIFIED_ACCOUNT,
        "charges_enabled": False,
        "payouts_enabled": False,
        "requirements": {"currently_due": ["individual.id_number"], "disabled_reason": "rejected.other"},
    }
    post_stripe(client, app, stripe_event("account.updated", account))
    run_jobs()
    assert db.session.get(Company, seller_company.id).kyc_status == "failed"


def test_unknown_event_type_is_stored_and_ignored(client, app, db, run_jobs):
    post_stripe(client, app, stripe_event("customer.created", {"id": "cus_1", "object": "customer"}))
    run_jobs()
    assert db.session.scalars(select(InboundEvent)).one().status == "ignored"


def test_failing_handler_records_error_and_admin_can_reprocess(
    client, app, db, make_user, sign_in, run_jobs, monkeypatch
):
    calls = []

    def flaky(data):
        calls.append(data["id"])
        if len(calls) == 1:
            raise RuntimeError("upstream hiccup")

    monkeypatch.setitem(HANDLERS, ("stripe", "test.flaky"), flaky)
    post_stripe(client, app, stripe_event("test.flaky", {"id": "obj_1"}))
    stored_id = db.session.scalars(select(InboundEvent.id)).one()
    with pytest.raises(RuntimeError):
        handle_inbound_event(stored_id)
    stored = db.session.get(InboundEvent, stored_id)
    assert stored.status == "failed" and "upstream hiccup" in stored.last_error
    admin = make_user(is_admin=True)
    sign_in(admin)
    page = client.get("/admin/events?status=failed").get_data(as_text=True)
    assert "test.flaky" in page and "upstream hiccup" in page
    assert post_form(client, f"/admin/events/{stored_id}/reprocess").status_code == 303
    run_jobs()
    db.session.expire_all()
    assert db.session.get(InboundEvent, stored_id).status == "processed"
    assert len(calls) == 2


def test_admin_event_pages_refuse_non_admins(client, db, make_user, sign_in):
    assert client.get("/admin/events").status_code == 302
    sign_in(make_user())
    assert client.get("/admin/events").status_code == 403
    assert post_form(client, "/admin/events/1/reprocess").status_code == 403


def test_whop_webhook_verified_with_base64_secret(client, app, db, run_jobs):
    payload = {"id": "msg_abc123", "api_version": "v1", "type": "membership.activated", "data": {"id": "mem_1"}}
    body, headers = whop_signed(payload, app.config["WHOP_WEBHOOK_SECRET"])
    assert client.post("/webhooks/whop", data=body, headers=headers).status_code == 200
    assert client.post("/webhooks/whop", data=body, headers=headers).json["duplicate"] is True
    stored = db.session.scalars(select(InboundEvent)).one()
    assert (stored.provider, stored.event_id, stored.type) == ("whop", "msg_abc123", "membership.activated")


def test_whop_webhook_with_bad_signature_is_refused(client, app, db):
    payload = {"id": "msg_bad", "type": "membership.activated", "data": {}}
    body, headers = whop_signed(payload, "ws_some_other_secret")
    assert client.post("/webhooks/whop", data=body, headers=headers).status_code == 401
    assert count_events(db) == 0


@pytest.mark.committed
def test_same_event_delivered_concurrently_is_stored_and_processed_once(app, live_server, run_jobs):
    with app.app_context():
        from app.extensions import db

        owner_company = _committed_seller(db)
    event = stripe_event("account.updated", VERIFIED_ACCOUNT)
    body, headers = stripe_signed(event, app.config["STRIPE_WEBHOOK_SECRET"])

    def deliver(_):
        return loopback.post(f"{live_server}/webhooks/stripe", content=body, headers=headers, timeout=10).json()

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(deliver, range(8)))
    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 7
    assert run_jobs() == 1
    with app.app_context():
        from app.extensions import db

        assert db.session.scalar(select(func.count()).select_from(InboundEvent)) == 1
        assert db.session.get(Company, owner_company).kyc_status == "verified"


def _committed_seller(db):
    from app.services.accounts import register_user

    owner = register_user("owner@example.com", "long-enough-pw", "Owner", "sell")
    company = create_seller_company(owner, "Concurrent Co")
    company.stripe_account_id = VERIFIED_ACCOUNT["id"]
    db.session.commit()
    return company.id
