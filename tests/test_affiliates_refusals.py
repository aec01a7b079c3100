"""Referrals that pay nothing, decided on the server when the checkout starts (and re-checked
when the payment arrives): self-referral, the seller's own team or the seller itself, a
banned affiliate, an expired window, a listing outside the program. Each is recorded with its
reason next to a referral that succeeds. Through the sandbox's checkout over HTTP."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.clock import freeze, now
from app.extensions import db
from app.models import AffiliateProgram, Company, ReferralClick, User
from app.payments import get_gateway
from app.services.affiliates.links import referral_code_for
from app.services.affiliates.programs import ProgramSettings, ban_affiliate, save_program, unban_affiliate
from app.tasks.referrals import flush_referral_clicks
from tests.affiliate_flows import (
    commissions,
    last_checkout,
    make_program_shop,
    pay,
    referral_cookie,
    referrals,
    start_checkout,
)
from tests.factories import make_seller
from tests.forms import sign_in_as

pytestmark = pytest.mark.committed


@pytest.fixture
def world(app, sandbox):
    with app.app_context():
        return make_program_shop(sandbox)


def land_and_buy_gig(client, code, who="buyer@example.com"):
    """Land on the gig through `code`'s link, sign in as `who` and start buying it."""
    assert client.get(f"/gigs/logo-design?ref={code}").status_code == 200
    sign_in_as(client, who)
    response = start_checkout(client, "/gigs/logo-design/checkout", {"package": "basic"})
    assert response.status_code == 303
    return response


def outcome(app):
    with app.app_context():
        return [(r.status, r.refusal_reason) for r in referrals()]


def test_a_valid_referral_is_pending_and_in_the_stripe_metadata(app, client, world):
    land_and_buy_gig(client, world.code)
    assert outcome(app) == [("pending", None)]


def test_self_referral_is_refused_recorded_and_pays_nothing(app, client, world, run_jobs):
    response = land_and_buy_gig(client, world.code, who="aff@example.com")
    assert outcome(app) == [("refused", "self_referral")]
    with app.app_context():
        metadata = get_gateway().retrieve_checkout_session(last_checkout().stripe_session_id).metadata
        assert "referral_id" not in metadata.to_dict()
    pay(app, run_jobs, response)
    with app.app_context():
        assert commissions() == []
    assert outcome(app) == [("refused", "self_referral")]


def test_the_sellers_own_team_and_the_seller_itself_are_refused(app, client, world):
    with app.app_context():
        company = db.session.get(Company, world.company_id)
        member, _ = make_seller("member@example.com", company=company, role="member")
        member_code = referral_code_for(member).code
        owner_code = referral_code_for(db.session.get(User, world.owner_id)).code
        db.session.commit()
    land_and_buy_gig(client, member_code)
    client.delete_cookie("tp_ref")
    assert client.get(f"/r/{owner_code}").status_code == 302  # the seller's own link, any shop
    sign_in_as(client, "buyer@example.com")
    assert start_checkout(client, "/products/pro-plugin/checkout").status_code == 303
    assert outcome(app) == [("refused", "own_team"), ("refused", "own_team")]


def test_a_banned_affiliate_is_refused_and_unbanning_restores_them(app, client, world):
    with app.app_context():
        program = db.session.scalar(select(AffiliateProgram))
        owner, affiliate = db.session.get(User, world.owner_id), db.session.get(User, world.affiliate_id)
        ban_affiliate(program, affiliate, owner, reason="coupon sites")
        db.session.commit()
    land_and_buy_gig(client, world.code)
    with app.app_context():
        program = db.session.scalar(select(AffiliateProgram))
        unban_affiliate(program, db.session.get(User, world.affiliate_id), db.session.get(User, world.owner_id))
        db.session.commit()
    assert start_checkout(client, "/products/pro-plugin/checkout").status_code == 303
    assert outcome(app) == [("refused", "banned"), ("pending", None)]


def test_a_ban_between_checkout_and_payment_refuses_the_conversion(app, client, world, run_jobs):
    response = land_and_buy_gig(client, world.code)
    with app.app_context():
        program = db.session.scalar(select(AffiliateProgram))
        ban_affiliate(program, db.session.get(User, world.affiliate_id), db.session.get(User, world.owner_id))
        db.session.commit()
    pay(app, run_jobs, response)
    assert outcome(app) == [("refused", "banned")]
    with app.app_context():
        assert commissions() == []


def test_a_click_older_than_the_window_is_refused_as_expired(app, client, world):
    freeze(now() - timedelta(days=31))
    try:
        landing = client.get(f"/gigs/logo-design?ref={world.code}")
    finally:
        freeze(None)
    assert referral_cookie(landing)
    sign_in_as(client, "buyer@example.com")
    assert start_checkout(client, "/gigs/logo-design/checkout", {"package": "basic"}).status_code == 303
    assert outcome(app) == [("refused", "expired")]


def test_a_listing_outside_the_program_records_no_click_and_is_refused(app, client, world):
    with app.app_context():
        program = db.session.scalar(select(AffiliateProgram))
        settings = ProgramSettings(enabled=True, commission_bps=1250, all_listings=False)
        settings.listings = [("product", world.product_id)]
        save_program(program.company, settings, db.session.get(User, world.owner_id))
        db.session.commit()
    assert client.get(f"/gigs/logo-design?ref={world.code}").status_code == 200  # first, outside
    assert referral_cookie(client.get(f"/products/pro-plugin?ref={world.code}"))  # included
    sign_in_as(client, "buyer@example.com")
    assert start_checkout(client, "/gigs/logo-design/checkout", {"package": "basic"}).status_code == 303
    assert outcome(app) == [("refused", "outside_program")]
    with app.app_context():
        flush_referral_clicks()
        clicks = db.session.scalars(select(ReferralClick).execution_options(skip_tenant_scope=True)).all()
        assert [c.listing_type for c in clicks] == ["product"]
