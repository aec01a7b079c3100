"""The app and the sandbox as separate processes, talking real HTTP both ways."""

import re

import httpx
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Company, InboundEvent
from app.payments import LineItem, get_gateway, new_idempotency_key
from app.services.accounts import register_user
from app.services.companies import create_seller_company
from tests import loopback
from tests.waiting import wait_until

pytestmark = pytest.mark.committed
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def stored_events(app, event_type, object_id):
    with app.app_context():
        rows = db.session.scalars(select(InboundEvent).where(InboundEvent.type == event_type)).all()
        return [row for row in rows if row.data_object.get("id") == object_id]


def test_onboarding_verification_reaches_the_app_once(app, sandbox, run_jobs):
    with app.app_context():
        owner = register_user("seller@example.com", "long-enough-pw", "Sel Ler", "sell")
        company = create_seller_company(owner, "Sandbox Studio")
        account = get_gateway().create_connected_account(
            company.id, owner.email, idempotency_key=company.stripe_account_key
        )
        company.stripe_account_id = account.id
        company.kyc_status = "pending"
        db.session.commit()
        company_id = company.id
        link = get_gateway().create_onboarding_link(
            account.id,
            refresh_url=app.config["APP_BASE_URL"] + "/sell/onboarding/refresh",
            return_url=app.config["APP_BASE_URL"] + "/sell/onboarding/return",
            idempotency_key=new_idempotency_key(),
        )

    page = loopback.get(link.url)
    assert page.status_code == 200 and "Submit verification" in page.text
    verify_action = next(a for a in FORM_ACTION.findall(page.text) if a.endswith("verified"))
    submitted = loopback.post(httpx.URL(link.url).join(verify_action))
    assert submitted.status_code in (302, 303)
    assert submitted.headers["location"].endswith("/sell/onboarding/return")

    events = wait_until(
        lambda: stored_events(app, "account.updated", account.id), message="account.updated was not delivered"
    )
    assert len(events) == 1
    run_jobs()
    with app.app_context():
        event = db.session.get(InboundEvent, events[0].id)
        assert (event.status, event.attempts) == ("processed", 1)
        company = db.session.get(Company, company_id)
        assert (company.kyc_status, company.payouts_enabled) == ("verified", True)


def test_checkout_paid_on_the_hosted_page_delivers_completion(app, sandbox, run_jobs):
    base = app.config["APP_BASE_URL"]
    with app.app_context():
        session = get_gateway().create_gig_checkout(
            local_checkout_id="e2e-1",
            idempotency_key=new_idempotency_key(),
            line_items=[LineItem("Logo design — Standard", 5000, 1), LineItem("Extra revision", 1500, 2)],
            currency="usd",
            success_url=base + "/checkout/success?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=base + "/checkout/cancelled",
        )
    assert session.amount_total == 8000
    page = loopback.get(session.url)
    assert "$80.00" in page.text
    action = httpx.URL(session.url).join(FORM_ACTION.findall(page.text)[0])

    declined = loopback.post(
        action,
        data={
            "card_number": "4000 0000 0000 0002",
            "email": "b@example.com",
            "exp": "12 / 34",
            "cvc": "123",
            "name": "B",
        },
    )
    assert declined.status_code in (200, 402)
    assert "declined" in declined.text.lower()

    paid = loopback.post(
        action,
        data={
            "card_number": "4242 4242 4242 4242",
            "email": "b@example.com",
            "exp": "12 / 34",
            "cvc": "123",
            "name": "B",
        },
    )
    assert paid.status_code == 303
    assert paid.headers["location"] == f"{base}/checkout/success?session_id={session.id}"

    events = wait_until(
        lambda: stored_events(app, "checkout.session.completed", session.id),
        message="checkout.session.completed was not delivered",
    )
    assert len(events) == 1
    assert events[0].data_object["payment_status"] == "paid"
    run_jobs()
