"""Company settings (the owner's profile and payouts) and the admin's controls: companies with
search, the platform fee per company, suspension and reinstatement, the audit log viewer,
disputes in the admin navigation."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.clock import now
from app.extensions import db
from app.models import AuditEvent, Checkout, Company, Notification, Payout
from app.services.checkout import quote_gig
from app.services.payouts import request_scheduled_payout
from tests.factories import LOGO_GIG, fund_available, make_cast, make_gig, make_order, make_product
from tests.forms import post_form
from tests.hostile import NUL, changed_tables, table_counts

GOOD_SETTINGS = {
    "title": "Acme Studio",
    "logo_url": "https://cdn.example.com/acme.png",
    "website": "https://acme.example.com",
    "description": "We draw logos.\nSince 2010.",
    "payout_minimum": "50.00",
    "payout_schedule": "weekly",
}


def audit_rows(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


@pytest.fixture
def owner(client, make_seller, sign_in):
    user, company = make_seller("owner@example.com", "Old Name", connected=True)
    sign_in(user)
    return user, company


# -- company settings -------------------------------------------------------------------------------


def test_the_owner_saves_the_profile_shown_on_gig_and_product_pages(client, db, owner):
    user, company = owner
    make_gig(company, slug="logo-design", **LOGO_GIG)
    make_product(company, slug="icon-pack").active = True
    db.session.commit()
    assert client.get("/sell/settings").status_code == 200
    response = post_form(client, "/sell/settings", GOOD_SETTINGS)
    assert response.status_code == 303
    db.session.refresh(company)
    assert (company.title, company.payout_minimum_cents, company.payout_schedule) == ("Acme Studio", 5000, "weekly")
    [row] = audit_rows("company.settings_changed")
    assert row.actor_user_id == user.id and row.data["after"]["payout_schedule"] == "weekly"
    for page in (client.get("/gigs/logo-design"), client.get("/products/icon-pack")):
        body = page.get_data(as_text=True)
        assert page.status_code == 200
        assert 'src="https://cdn.example.com/acme.png"' in body and "https://acme.example.com" in body
        assert "We draw logos." in body and "Acme Studio" in body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ""),
        ("title", "x" * 121),
        ("logo_url", "http://cdn.example.com/a.png"),
        ("logo_url", "javascript:alert(1)"),
        ("logo_url", "https://x.example.com/" + "a" * 600),
        ("logo_url", 'https://x.example.com/"><script>'),
        ("website", "javascript:alert(1)"),
        ("website", "ftp://example.com"),
        ("description", "x" * 2001),
        ("payout_minimum", "-5"),
        ("payout_minimum", "NaN"),
        ("payout_minimum", "1e3"),
        ("payout_minimum", "99999999999999999999"),
        ("payout_minimum", "5.00"),  # below the platform's minimum
        ("payout_minimum", "١٢"),
        ("payout_schedule", "hourly"),
        ("payout_schedule", ""),
    ],
)
def test_bad_settings_are_refused_naming_the_field_and_nothing_changes(client, db, owner, field, value):
    _, company = owner
    before = table_counts()
    response = post_form(client, "/sell/settings", {**GOOD_SETTINGS, field: value})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f'<label for="{field}"' in body and 'role="alert"' in body
    db.session.refresh(company)
    assert company.title == "Old Name" and company.payout_schedule == "manual"
    assert changed_tables(before, table_counts(), ignore=("user_sessions",)) == {}


@pytest.mark.parametrize("field", sorted(GOOD_SETTINGS))
def test_nul_in_any_settings_field_is_refused(client, db, owner, field):
    before = table_counts()
    response = post_form(client, "/sell/settings", {**GOOD_SETTINGS, field: "a\x00b"})
    assert response.status_code == 400 and field in response.get_data(as_text=True)
    assert changed_tables(before, table_counts(), ignore=("user_sessions",)) == {}


def test_unicode_in_the_profile_is_kept(client, db, owner):
    _, company = owner
    text = "Ünïcødé 💥 العربية"
    assert post_form(client, "/sell/settings", {**GOOD_SETTINGS, "title": text, "description": text}).status_code == 303
    db.session.refresh(company)
    assert company.title == text and company.description == text


def test_the_payout_schedule_pays_once_a_period_above_the_minimum(db, make_seller):
    _, company = make_seller(connected=True)
    company.payout_schedule, company.payout_minimum_cents = "monthly", 5000
    db.session.commit()
    fund_available(company.id, 4999)
    assert request_scheduled_payout(company.id) is None  # below the minimum
    fund_available(company.id, 1, reference="test:more")
    payout = request_scheduled_payout(company.id)
    assert payout.amount_cents == 5000 and payout.request_token == f"auto-monthly-{now().strftime('%Y-%m')}"
    assert request_scheduled_payout(company.id) is payout  # still pending: the same one
    db.session.rollback()
    company.status = "suspended"
    db.session.commit()
    assert request_scheduled_payout(company.id) is None  # frozen
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0


# -- admin: companies, fee, suspension --------------------------------------------------------------


@pytest.fixture
def admin(client, make_user, sign_in):
    user = make_user("admin@example.com", is_admin=True)
    sign_in(user)
    return user


def test_admins_search_companies(client, db, admin, make_seller):
    make_seller("a@example.com", "Blue Pixel")
    make_seller("b@example.com", "Red Fox")
    page = client.get("/admin/companies?q=pixel").get_data(as_text=True)
    assert "Blue Pixel" in page and "Red Fox" not in page
    assert "Red Fox" in client.get("/admin/companies?q=B@EXAMPLE").get_data(as_text=True)
    for hostile in ("%", "_", "\\", "x" * 5000, "💥", "' OR 1=1 --"):
        response = client.get("/admin/companies", query_string={"q": hostile})
        assert response.status_code == 200 and "Blue Pixel" not in response.get_data(as_text=True)
    fragment = client.get("/admin/companies?q=red", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Red Fox" in fragment


def test_non_admins_cannot_use_the_admin_controls(client, db, make_seller, sign_in):
    owner, company = make_seller()
    sign_in(owner)
    assert client.get("/admin/companies").status_code == 403
    assert client.get("/admin/audit").status_code == 403
    assert post_form(client, f"/admin/companies/{company.id}/suspend", {"reason": "x"}).status_code == 403
    assert post_form(client, f"/admin/companies/{company.id}/fee", {"fee_bps": "0"}).status_code == 403
    db.session.refresh(company)
    assert company.status == "active" and company.platform_fee_bps is None


def test_an_admin_sets_the_fee_a_checkout_uses(client, db, admin, make_seller):
    _, company = make_seller(connected=True)
    gig = make_gig(company, slug="logo-design", **LOGO_GIG)
    assert client.get(f"/admin/companies/{company.id}").status_code == 200
    assert post_form(client, f"/admin/companies/{company.id}/fee", {"fee_bps": "250"}).status_code == 303
    db.session.refresh(company)
    assert company.platform_fee_bps == 250
    quote = quote_gig(gig, "basic", 1, {})
    assert (quote.fee_bps, quote.fee_cents) == (250, (quote.total_cents * 250 + 5000) // 10000)
    [row] = audit_rows("admin.company_fee_set")
    assert (row.actor_user_id, row.company_id, row.data["after"]) == (admin.id, company.id, 250)
    assert post_form(client, f"/admin/companies/{company.id}/fee", {"fee_bps": ""}).status_code == 303
    db.session.refresh(company)
    assert company.platform_fee_bps is None


@pytest.mark.parametrize("value", ["-1", "10001", "abc", "1e3", "2.5", "99999999999999999999", "²", "💥"])
def test_bad_fees_are_refused_naming_the_field(client, db, admin, make_seller, value):
    _, company = make_seller()
    before = table_counts()
    response = post_form(client, f"/admin/companies/{company.id}/fee", {"fee_bps": value})
    assert response.status_code == 422 and 'role="alert"' in response.get_data(as_text=True)
    assert changed_tables(before, table_counts(), ignore=("user_sessions",)) == {}
    assert post_form(client, f"/admin/companies/{company.id}/fee", {"fee_bps": NUL}).status_code == 400


def test_suspending_hides_listings_refuses_checkout_freezes_payouts_and_tells_members(
    client, db, admin, make_seller, make_user, sign_in
):
    owner, company = make_seller("owner@example.com", "Blue Pixel", connected=True)
    make_gig(company, slug="logo-design", **LOGO_GIG)
    make_product(company, slug="icon-pack").active = True
    db.session.commit()
    fund_available(company.id, 50000)
    assert "logo-design" in client.get("/gigs?q=logo").get_data(as_text=True)
    for bad in ("", " ", "x" * 501):
        assert post_form(client, f"/admin/companies/{company.id}/suspend", {"reason": bad}).status_code == 422
    assert post_form(client, f"/admin/companies/{company.id}/reinstate").status_code == 409
    response = post_form(client, f"/admin/companies/{company.id}/suspend", {"reason": "Unpaid chargebacks"})
    assert response.status_code == 303
    [row] = audit_rows("admin.company_suspended")
    assert (row.actor_user_id, row.company_id, row.data["reason"]) == (admin.id, company.id, "Unpaid chargebacks")
    assert "logo-design" not in client.get("/gigs?q=logo").get_data(as_text=True)

    buyer = make_user("buyer@example.com")
    sign_in(buyer)
    assert post_form(client, "/gigs/logo-design/checkout", {"package": "basic"}).status_code == 409
    assert post_form(client, "/products/icon-pack/checkout").status_code == 409
    assert db.session.scalar(select(func.count()).select_from(Checkout)) == 0
    refused = audit_rows("checkout.refused_suspended")
    assert [(r.actor_user_id, r.company_id, r.data["listing"]) for r in refused] == [
        (buyer.id, company.id, "gig"),
        (buyer.id, company.id, "product"),
    ]

    sign_in(owner)
    home = client.get("/sell/").get_data(as_text=True)
    assert "is suspended" in home and "Unpaid chargebacks" in home
    withdraw = post_form(
        client, "/sell/payouts/withdraw", {"amount": "100.00", "request_token": "a-fresh-form-token-1"}
    )
    assert withdraw.status_code == 409 and "frozen" in withdraw.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0

    sign_in(admin)
    assert post_form(client, f"/admin/companies/{company.id}/reinstate").status_code == 303
    assert "logo-design" in client.get("/gigs?q=logo").get_data(as_text=True)
    assert len(audit_rows("admin.company_reinstated")) == 1
    db.session.refresh(company)
    assert company.status == "active" and company.suspended_reason is None


def test_unknown_or_platform_companies_are_not_found(client, db, admin):
    platform = db.session.scalar(select(Company).where(Company.kind == "platform"))
    assert client.get("/admin/companies/2147483647").status_code == 404
    if platform is not None:
        assert client.get(f"/admin/companies/{platform.id}").status_code == 404


# -- audit log -----------------------------------------------------------------------------------------


def test_the_audit_log_filters_by_actor_action_company_and_date(client, db, admin, make_seller, sign_in):
    owner, company = make_seller("owner@example.com", "Blue Pixel")
    _, other = make_seller("other@example.com", "Red Fox")
    member, _ = make_seller("member@example.com", company=company, role="member")
    sign_in(member)
    assert client.get("/sell/settings").status_code == 403  # access.refused, company Blue Pixel
    sign_in(admin)
    assert post_form(client, f"/admin/companies/{other.id}/fee", {"fee_bps": "100"}).status_code == 303

    def rows(**query):
        page = client.get("/admin/audit", query_string=query)
        assert page.status_code == 200
        return page.get_data(as_text=True)

    everything = rows()
    assert "auth.sign_in" in everything and "access.refused" in everything and "admin.company_fee_set" in everything
    by_actor = rows(actor="member@")
    assert "<code>access.refused</code>" in by_actor and "<code>admin.company_fee_set</code>" not in by_actor
    by_action = rows(action="admin.company_fee_set")
    assert "admin.company_fee_set" in by_action and "<code>access.refused</code>" not in by_action
    assert "<code>auth.sign_in</code>" in rows(action="auth.")
    by_company = rows(company=str(company.id))
    assert "access.refused" in by_company and "<code>admin.company_fee_set</code>" not in by_company
    today = now().date()
    assert "access.refused" in rows(since=today.isoformat(), until=today.isoformat())
    assert "No audit rows match." in rows(since=(today + timedelta(days=1)).isoformat())
    assert "No audit rows match." in rows(until=(today - timedelta(days=1)).isoformat())
    for hostile in (
        {"since": "not-a-date"},
        {"company": "-1"},
        {"company": "99999999999999999999"},
        {"actor": "%"},
        {"action": "x" * 500},
        {"until": "2026-13-45"},
        {"page": "abc"},
    ):
        assert client.get("/admin/audit", query_string=hostile).status_code == 200
    fragment = client.get("/admin/audit", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="audit-rows"' in fragment


# -- disputes ------------------------------------------------------------------------------------------


def test_admins_are_told_of_disputes_and_see_the_count(client, db, sign_in):
    cast = make_cast()
    admin = cast.admin
    order = make_order(cast, "delivered")
    sign_in(cast.buyer)
    response = post_form(client, f"/orders/{order.id}/actions/open_dispute", {"note": "Not what I ordered"})
    assert response.status_code == 303
    told = db.session.scalars(select(Notification).where(Notification.kind == "dispute.opened")).all()
    assert [(n.user_id, n.link) for n in told] == [(admin.id, "/orders/disputed")]
    sign_in(admin)
    page = client.get("/admin/companies").get_data(as_text=True)
    assert 'aria-label="1 open"' in page and "/orders/disputed" in page
