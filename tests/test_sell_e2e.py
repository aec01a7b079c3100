"""Seller onboarding to a published gig, through the real sandbox over HTTP."""

import re

import httpx
import pytest
from flask import url_for
from sqlalchemy import select

from app.extensions import db
from app.models import Category, Company, Gig, InboundEvent, User
from app.services.accounts import register_user
from tests import loopback
from tests.factories import PASSWORD
from tests.forms import csrf_token, gig_form, image_bytes, post_form, post_multipart
from tests.mailbox import last_mail_id, link_in, mail_json, path_of
from tests.waiting import wait_until

pytestmark = [pytest.mark.committed, pytest.mark.usefixtures("uploads")]
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def sign_up_seller(client, email, sandbox, run_jobs):
    """Sign up over the form, then confirm the address with the link the app emailed."""
    since = last_mail_id(sandbox)
    response = post_form(
        client, "/signup", {"email": email, "password": PASSWORD, "display_name": "Sam Seller", "intent": "sell"}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/sell/")
    assert client.get("/sell/").headers["Location"].endswith("/sell/become")
    run_jobs()
    [message] = mail_json(sandbox, to=email, since=since)
    assert client.get(path_of(link_in(message, "/email/verify/"))).status_code == 303


def become_seller(client, title):
    """POST the "Become a seller" form; returns the hosted onboarding URL it redirects to."""
    response = post_form(client, "/sell/become", {"title": title, "country": "US"})
    assert response.status_code == 303, response.get_data(as_text=True)[:1000]
    return response.headers["Location"]


def submit_hosted_onboarding(link, outcome):
    page = loopback.get(link)
    assert page.status_code == 200 and "Submit verification" in page.text
    action = next(a for a in FORM_ACTION.findall(page.text) if a.endswith(outcome))
    response = loopback.post(httpx.URL(link).join(action))
    assert response.status_code in (302, 303)
    return response.headers["location"]


def account_events(app, account_id):
    with app.app_context():
        rows = db.session.scalars(select(InboundEvent).where(InboundEvent.type == "account.updated")).all()
        return [row for row in rows if row.data_object.get("id") == account_id]


def company_of(app, email):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        return user.seller_company


def test_from_sign_up_to_a_published_gig(app, sandbox, run_jobs):
    with app.app_context():
        db.session.add(Category(slug="design", name="Graphics & Design"))
        admin = register_user("admin@example.com", PASSWORD, "Ada Admin")
        admin.is_admin = True
        db.session.commit()
        category_id = db.session.scalar(select(Category.id))

    seller = app.test_client()
    sign_up_seller(seller, "sam@example.com", sandbox, run_jobs)
    link = become_seller(seller, "Sam's Studio")
    assert link.startswith(sandbox + "/")
    company = company_of(app, "sam@example.com")
    assert company.kyc_status == "pending" and company.stripe_account_id.startswith("acct_")

    refreshed = seller.get("/sell/onboarding/refresh")
    assert refreshed.status_code == 303 and refreshed.headers["Location"] not in (link, "")
    back = submit_hosted_onboarding(refreshed.headers["Location"], "verified")
    assert back == app.config["APP_BASE_URL"] + "/sell/onboarding/return"

    wait_until(lambda: account_events(app, company.stripe_account_id), message="account.updated not delivered")
    run_jobs()
    company = company_of(app, "sam@example.com")
    assert (company.kyc_status, company.payouts_enabled) == ("verified", True)
    page = seller.get("/sell/onboarding/return").get_data(as_text=True)
    assert "You're verified" in page and ">verified<" in page

    created = post_multipart(seller, "/sell/gigs/new", gig_form(category_id), files=[("cover.png", image_bytes())])
    assert created.status_code == 303, created.get_data(as_text=True)[:2000]
    gig_id = int(re.search(r"/sell/gigs/(\d+)/edit", created.headers["Location"]).group(1))
    assert post_form(seller, f"/sell/gigs/{gig_id}/submit").status_code == 303

    reviewer = app.test_client()
    assert post_form(reviewer, "/signin", {"email": "admin@example.com", "password": PASSWORD}).status_code == 303
    assert "I will design a minimalist logo" in reviewer.get("/admin/gigs/").get_data(as_text=True)
    assert post_form(reviewer, f"/admin/gigs/{gig_id}/approve").status_code == 303

    with app.app_context():
        gig = db.session.get(Gig, gig_id)
        assert gig.status == "published"
        slug, title = gig.slug, gig.title
    home = seller.get("/sell/").get_data(as_text=True)
    assert "Verified seller" in home and "Live" in home
    with app.test_request_context():
        detail_url = url_for("browse.detail", slug=slug)
    assert title in app.test_client().get(detail_url).get_data(as_text=True)


def test_failed_verification_can_be_restarted(app, sandbox, run_jobs):
    seller = app.test_client()
    sign_up_seller(seller, "fay@example.com", sandbox, run_jobs)
    link = become_seller(seller, "Fay Films")
    company = company_of(app, "fay@example.com")
    submit_hosted_onboarding(link, "failed")
    wait_until(lambda: account_events(app, company.stripe_account_id), message="account.updated not delivered")
    run_jobs()
    assert company_of(app, "fay@example.com").kyc_status == "failed"
    assert ">failed<" in seller.get("/sell/onboarding/return").get_data(as_text=True)
    assert "Restart verification" in seller.get("/sell/").get_data(as_text=True)

    restart = seller.post("/sell/onboarding", data={"csrf_token": csrf_token(seller, "/sell/")})
    assert restart.status_code == 303 and restart.headers["Location"].startswith(sandbox + "/")
    again = company_of(app, "fay@example.com")
    assert (again.kyc_status, again.stripe_account_id) == ("pending", company.stripe_account_id)
    assert post_form(seller, "/sell/become", {"title": "Second", "country": "US"}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Company.id).where(Company.title == "Second")) is None
