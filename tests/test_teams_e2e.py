"""Teams for real: the invitation email read from the sandbox's mail catcher over HTTP and its
link followed; twenty accepts of one invitation at once make one membership; twenty runs of
the payout schedule at once make one payout. (Run on PostgreSQL with TEST_DATABASE_URL.)"""

import re
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, CompanyInvitation, CompanyMember, LedgerTransaction, Payout
from app.payments import get_gateway
from app.services.ledger import company_balances, unbalanced_transactions
from app.tasks.mail import deliver_emails
from app.tasks.payouts import run_payout_schedule
from tests.factories import fund_available, make_connected_account, make_seller, make_user
from tests.forms import csrf_token, post_form, sign_in_as
from tests.mailbox import last_mail_id, wait_for_mail
from tests.racing import all_at_once

pytestmark = pytest.mark.committed
LINK = re.compile(r"(https?://\S+/sell/team/join/[A-Za-z0-9_-]+)")


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _invite_by_mail(app, client, sandbox, email, role="member"):
    """The owner (signed in on `client`) invites `email`; the link from the email caught."""
    since = last_mail_id(sandbox)
    assert post_form(client, "/sell/team/invitations", {"email": email, "role": role}).status_code == 303
    with app.app_context():
        assert deliver_emails() >= 1
    [mail] = wait_for_mail(sandbox, email, since=since)
    assert "invited you to" in mail["subject"]
    return LINK.search(mail["text"]).group(1)


def test_the_invitee_follows_the_emailed_link_signs_up_and_joins(app, client, sandbox):
    with app.app_context():
        owner, company = make_seller("owner@example.com", "Acme Studio")
        company_id = company.id
    sign_in_as(client, "owner@example.com")
    link = _invite_by_mail(app, client, sandbox, "newbie@example.com")
    assert link.startswith(app.config["APP_BASE_URL"])
    path = urlsplit(link).path
    post_form(client, "/signout")
    page = client.get(path)
    assert page.status_code == 200 and "Acme Studio" in page.get_data(as_text=True)
    signup = post_form(
        client,
        f"/signup?next={path}",
        {"display_name": "Newbie", "email": "newbie@example.com", "password": "long-enough-pw", "intent": "hire"},
    )
    assert signup.headers["Location"] == path
    assert post_form(client, path).status_code == 303
    assert client.get("/sell/orders").status_code == 200
    assert client.get("/sell/gigs").status_code == 403  # a member
    with app.app_context():
        member = db.session.scalars(select(CompanyMember).where(CompanyMember.role == "member")).one()
        assert (member.company_id, member.user.email) == (company_id, "newbie@example.com")
        assert count(AuditEvent, AuditEvent.action == "team.joined") == 1
    assert client.get(path).status_code == 404  # the link works once


def test_an_emailed_invitation_opened_by_another_account_is_refused(app, client, sandbox):
    with app.app_context():
        owner, company = make_seller("owner@example.com")
        make_user("intruder@example.com")
        company_id = company.id
    sign_in_as(client, "owner@example.com")
    link = _invite_by_mail(app, client, sandbox, "invited@example.com")
    sign_in_as(client, "intruder@example.com")
    assert post_form(client, urlsplit(link).path).status_code == 403
    with app.app_context():
        assert count(CompanyMember, CompanyMember.company_id == company_id) == 1
        row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "team.invitation_refused")).one()
        assert row.company_id == company_id


def test_twenty_accepts_of_one_invitation_at_once_make_one_membership(app, client, live_server, sandbox):
    with app.app_context():
        owner, company = make_seller("owner@example.com")
        make_user("invited@example.com")
        company_id = company.id
    sign_in_as(client, "owner@example.com")
    path = urlsplit(_invite_by_mail(app, client, sandbox, "invited@example.com")).path
    sign_in_as(client, "invited@example.com")
    data = {"csrf_token": csrf_token(client)}
    cookies = {cookie.key: cookie.value for cookie in client._cookies.values()}

    def accept(_):
        with httpx.Client(base_url=live_server, cookies=cookies, timeout=60) as http:
            return http.post(path, data=data).status_code

    statuses = all_at_once(20, accept)
    assert sorted(statuses).count(303) == 1 and set(statuses) <= {303, 404}, statuses
    with app.app_context():
        assert count(CompanyMember, CompanyMember.company_id == company_id) == 2
        invitation = db.session.scalars(select(CompanyInvitation)).one()
        assert invitation.accepted_at is not None
        assert count(AuditEvent, AuditEvent.action == "team.joined") == 1


def test_twenty_runs_of_the_payout_schedule_at_once_pay_out_once(app, sandbox):
    with app.app_context():
        _, company = make_seller("owner@example.com")
        account_id = make_connected_account(sandbox, company)
        company.payout_schedule = "daily"
        db.session.commit()
        company_id = company.id
        fund_available(company_id, 12345)

    def run(_):
        with app.app_context():
            return run_payout_schedule()

    assert set(all_at_once(20, run)) <= {0, 1}
    with app.app_context():
        payout = db.session.scalars(select(Payout)).one()
        assert (payout.status, payout.amount_cents, payout.requested_by_user_id) == ("paid", 12345, None)
        assert payout.request_token.startswith("auto-daily-")
        assert count(LedgerTransaction, LedgerTransaction.kind == "payout") == 1
        assert count(AuditEvent, AuditEvent.action == "payout.created") == 1
        assert company_balances(company_id)["available"] == 0
        assert unbalanced_transactions() == []
        transfers = get_gateway().client.v1.transfers.list(params={"destination": account_id, "limit": 100}).data
        assert [t.amount for t in transfers] == [12345]
        assert run_payout_schedule() == 0  # the period is paid
