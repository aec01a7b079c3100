"""The emails the marketplace sends, read from the sandbox's mail catcher after the outbox job
sent them over SMTP: multipart text + HTML from templates/email, with absolute links; and the
outbox's retries when the SMTP server cannot be reached."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.models import OutgoingEmail
from app.services.checkout import record_invoice_failed, record_invoice_upcoming, sync_subscription
from app.services.mail import (
    EMAIL_MAX_ATTEMPTS,
    RETRY_SCHEDULE,
    TEMPLATES,
    render_email,
    send_team_invitation,
    send_template,
)
from app.services.orders import Actor, Params, transition_order
from app.tasks.mail import deliver_emails, send_email
from tests.factories import fund_available, make_logo_shop, make_membership, make_order, make_product, make_user
from tests.forms import buy_order, post_form, sign_in_as
from tests.mailbox import last_mail_id, link_in, mail_json
from tests.processes import free_port


def one_mail(sandbox, to, since):
    messages = mail_json(sandbox, to=to, since=since)
    assert len(messages) == 1, [m["subject"] for m in messages]
    return messages[0]


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders_a_subject_text_and_html(app, db, make_user, name):
    user = make_user(display_name="Rosa <b>Ruiz</b>")
    context = {
        "user": user,
        "to_email": user.email,
        "link": "http://127.0.0.1/x?a=1&b=2",
        "reset_link": "http://127.0.0.1/reset",
        "valid_for": "1 hour",
        "new_email": "new@example.com",
        "order": type("O", (), {"id": 7, "title": "Logo <script>"})(),
        "title": "Order #7: Sam delivered",
        "note": "Files & notes",
        "buyer_name": "Bea",
        "seller_name": "Sam's Studio",
        "amount": "$50.00",
        "item": "Logo",
        "paid_on": "November 30, 2026",
        "reference": "TP-000001",
        "company_name": "Sam's Studio",
        "product_title": "Icon Pack",
        "renews_on": "December 30, 2026",
        "inviter_name": "Sam",
        "role": "admin",
    }
    subject, text, html = render_email(name, **context)
    assert subject and "\n" not in subject and len(subject) <= 200
    assert "<!doctype html>" in html and "Tradepost" in text
    assert "<script>" not in html and "<b>Ruiz</b>" not in html  # HTML escapes what people typed


def test_unknown_templates_are_refused(app, db):
    with pytest.raises(ValueError):
        render_email("nope")


def test_delivered_and_completed_orders_are_emailed(db, cast, sandbox, run_jobs):
    since = last_mail_id(sandbox)
    order = make_order(cast, "in_progress")
    transition_order(order, "deliver", Actor("seller", cast.owner), Params(note="All files attached"))
    transition_order(order, "accept", Actor("buyer", cast.buyer))
    db.session.commit()
    run_jobs()
    delivered = mail_json(sandbox, to=cast.buyer.email, since=since)
    assert [m["subject"] for m in delivered] == [f"Order #{order.id} was delivered"]
    completed = mail_json(sandbox, to=cast.owner.email, since=since)
    assert [m["subject"] for m in completed] == [f"Order #{order.id} is complete"]
    assert link_in(completed[0], f"/orders/{order.id}").startswith("http://127.0.0.1:")


def test_subscription_events_email_the_buyer(db, make_seller, sandbox, run_jobs):
    _, company = make_seller(connected=True)
    product = make_product(company, "icon-club", billing="month")
    buyer = make_user()
    membership = make_membership(product, buyer)
    membership.stripe_subscription_id = "sub_mail_1"
    db.session.commit()
    since = last_mail_id(sandbox)
    invoice = {"id": "in_1", "subscription": "sub_mail_1", "amount_due": 2900, "currency": "usd"}
    record_invoice_upcoming({**invoice, "next_payment_attempt": 1798675200})
    record_invoice_failed(invoice)
    sync_subscription({"id": "sub_mail_1", "status": "canceled"}, deleted=True)
    db.session.commit()
    run_jobs()
    subjects = [m["subject"] for m in reversed(mail_json(sandbox, to=buyer.email, since=since))]
    assert subjects == [
        "Icon Club renews on December 31, 2026",
        "Payment for Icon Club failed",
        "Your subscription to Icon Club ended",
    ]


def test_team_invitation_goes_to_an_address_without_an_account(db, make_seller, sandbox, run_jobs):
    _, company = make_seller(title="Sam's Studio")
    since = last_mail_id(sandbox)
    send_team_invitation(
        "invitee@example.com",
        company_name=company.title,
        inviter_name="Sam",
        role="admin",
        accept_url="http://127.0.0.1:5000/teams/invitations/abc",
        valid_for="7 days",
    )
    db.session.commit()
    run_jobs()
    message = one_mail(sandbox, "invitee@example.com", since)
    assert message["subject"] == "Sam invited you to Sam's Studio on Tradepost"
    assert link_in(message, "/teams/invitations/") == "http://127.0.0.1:5000/teams/invitations/abc"


def test_a_rolled_back_change_sends_nothing(db, make_user, run_jobs):
    user = make_user()
    send_template(user, "order_update", title="Never", note="", link="http://x")
    db.session.rollback()
    assert db.session.scalars(select(OutgoingEmail)).all() == []


def test_an_unreachable_smtp_server_is_retried_on_schedule_then_given_up(app, db, make_user, clock, monkeypatch):
    monkeypatch.setattr(app.extensions["mailman"], "port", free_port())  # nothing listens there
    user = make_user()
    email = send_template(user, "order_update", title="Hello", note="", link="http://x")
    db.session.commit()
    assert send_email(email.id) == "retry"
    db.session.refresh(email)
    assert (email.status, email.attempts) == ("pending", 1) and "Error" in email.last_error
    assert send_email(email.id) == "not due"  # the retry waits its turn
    for attempt in range(1, len(RETRY_SCHEDULE) + 1):
        clock(sum(RETRY_SCHEDULE[:attempt], timedelta()))
        assert send_email(email.id) == ("failed" if attempt + 1 == EMAIL_MAX_ATTEMPTS else "retry")
    db.session.refresh(email)
    assert (email.status, email.attempts) == ("failed", EMAIL_MAX_ATTEMPTS)
    assert deliver_emails() == 0


def test_the_sweep_sends_what_a_lost_job_left(app, db, make_user, sandbox):
    user = make_user()
    since = last_mail_id(sandbox)
    send_template(user, "order_update", title="Swept up", note="", link="http://x")
    db.session.commit()
    app.extensions["redis"].flushdb()  # the job is lost
    assert deliver_emails() == 1
    assert one_mail(sandbox, user.email, since)["subject"] == "Swept up"
    assert deliver_emails() == 0


@pytest.mark.committed
def test_buying_refunding_and_paying_out_are_emailed(app, client, sandbox, run_jobs):
    with app.app_context():
        shop = make_logo_shop(sandbox)
        make_user("admin@example.com", display_name="Ada Admin", is_admin=True)
        company_id = shop.company.id
    since = last_mail_id(sandbox)
    order_id, _ = buy_order(app, client, run_jobs)
    run_jobs()
    receipt = one_mail(sandbox, "buyer@example.com", since)
    assert receipt["subject"] == "Receipt: $50.00 for I will design a modern logo — Basic"
    placed = one_mail(sandbox, "seller@example.com", since)
    assert placed["subject"] == f"New order #{order_id}: I will design a modern logo — Basic"

    since = last_mail_id(sandbox)
    sign_in_as(client, "admin@example.com")
    assert post_form(client, f"/orders/{order_id}/actions/cancel", {"note": "Seller unreachable"}).status_code == 303
    run_jobs()
    subjects = [m["subject"] for m in mail_json(sandbox, to="buyer@example.com", since=since)]
    assert "Refund of $50.00 for I will design a modern logo — Basic" in subjects, subjects

    with app.app_context():
        fund_available(company_id, 12_345)
    since = last_mail_id(sandbox)
    sign_in_as(client, "seller@example.com")
    assert post_form(client, "/sell/payouts/withdraw", {"amount": "100.00"}).status_code == 303
    run_jobs()
    assert one_mail(sandbox, "seller@example.com", since)["subject"] == "Payout of $100.00 sent"
