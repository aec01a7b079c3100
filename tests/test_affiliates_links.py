"""Affiliate links over HTTP: `?ref=` on listing pages and `/r/<code>` queue a click (hashed
IP, user agent, referrer, landing path) that the click job writes, and set the signed cookie;
bots, unknown or hostile codes, the rate limit, a forged cookie and a Redis outage never break
the page."""

import logging

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import AffiliateProgram, Company, Gig, ReferralClick, ReferralCode
from app.queue import get_redis
from app.services.affiliates.clicks import QUEUE_KEY, hash_ip
from app.services.affiliates.links import ANY_SHOP, COOKIE_NAME, dump_claims, load_claims, referral_code_for
from app.services.affiliates.programs import ProgramSettings, save_program
from app.tasks.referrals import flush_referral_clicks
from tests.affiliate_flows import referral_cookie
from tests.factories import LOGO_GIG, make_gig, make_product, make_seller, make_user
from tests.forms import sign_in_as
from tests.test_redis_down import down_app, down_client, settled  # noqa: F401, F811 (fixtures)

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36"
HOSTILE_CODES = ("abc\x00def12", "x" * 5000, "ünïcødé-code", "short", "../../etc", "%00%00%00%00", "a b c d e f")


def build_shop(program=True):
    """A seller with the logo gig and a product, an affiliate with a code; the program on."""
    owner, company = make_seller("seller@example.com", connected=True)
    make_gig(company, slug="logo-design", **LOGO_GIG)
    make_product(company, "icon-pack", "one_time", 2900)
    affiliate = make_user("aff@example.com")
    code = referral_code_for(affiliate).code
    if program:
        save_program(company, ProgramSettings(enabled=True, commission_bps=1000), owner)
    db.session.commit()
    return company.slug, code


@pytest.fixture
def shop(db):
    return build_shop()


def clicks():
    """The click rows, after the click job wrote what the pages queued."""
    flush_referral_clicks()
    return db.session.scalars(select(ReferralClick).execution_options(skip_tenant_scope=True)).all()


def land(client, path, agent=BROWSER, ip="203.0.113.7", **headers):
    return client.get(path, headers={"User-Agent": agent, **headers}, environ_overrides={"REMOTE_ADDR": ip})


def test_a_landing_records_a_click_and_sets_a_signed_first_party_cookie(client, shop):
    _, code = shop
    response = land(client, f"/gigs/logo-design?ref={code}", Referer="https://news.example/")
    assert response.status_code == 200
    cookie = referral_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    [click] = clicks()
    assert (click.listing_type, click.referrer, click.landing_path, click.user_agent) == (
        "gig",
        "https://news.example/",
        f"/gigs/logo-design?ref={code}",
        BROWSER,
    )
    assert click.ip_hash == hash_ip("203.0.113.7") and "203.0.113.7" not in click.ip_hash
    value = cookie.split(";")[0].split("=", 1)[1]
    [claim] = load_claims(value)
    assert (claim.shop, claim.code, claim.click_token) == ("gig:logo-design", code, click.token)
    # A second affiliate's link later does not take the listing over: the first click wins.
    other = referral_code_for(make_user("other@example.com")).code
    db.session.commit()
    assert referral_cookie(land(client, f"/gigs/logo-design?ref={other}")) is None
    assert len(clicks()) == 2


def test_a_forged_or_edited_cookie_is_ignored(client, shop):
    _, code = shop
    good = dump_claims([])
    assert load_claims(good) == []
    assert load_claims(good[:-2] + "xx") == []
    assert load_claims("not-a-cookie") == [] and load_claims("x" * 5000) == []
    forged = '[["1","' + code + '",0,null]]'
    assert load_claims(forged) == []


def test_bots_are_ignored_and_the_page_is_served(client, shop):
    _, code = shop
    for agent in (
        "Mozilla/5.0 (compatible; Googlebot/2.1)",
        "curl/8.1",
        "python-requests/2.31",
        "facebookexternalhit/1.1",
    ):
        response = land(client, f"/gigs/logo-design?ref={code}", agent=agent)
        assert response.status_code == 200 and referral_cookie(response) is None
    assert clicks() == []


def test_clicks_are_rate_limited_per_ip(app, client, shop):
    _, code = shop
    limit = app.config["REFERRAL_CLICKS_PER_MINUTE"]
    for _ in range(limit + 5):
        assert land(client, f"/gigs/logo-design?ref={code}").status_code == 200
    assert land(client, f"/gigs/logo-design?ref={code}", ip="198.51.100.9").status_code == 200
    flush_referral_clicks()
    counts = dict(
        db.session.execute(
            select(ReferralClick.ip_hash, func.count())
            .group_by(ReferralClick.ip_hash)
            .execution_options(skip_tenant_scope=True)
        ).all()
    )
    assert counts == {hash_ip("203.0.113.7"): limit, hash_ip("198.51.100.9"): 1}


def test_the_affiliates_own_clicks_are_not_counted(client, shop):
    _, code = shop
    sign_in_as(client, "aff@example.com")
    assert land(client, f"/gigs/logo-design?ref={code}").status_code == 200
    assert clicks() == []


def test_unknown_and_hostile_codes_serve_the_page_and_record_nothing(client, shop):
    slug, _ = shop
    unknown = land(client, "/products/icon-pack?ref=UnknownCode99")
    assert unknown.status_code == 200  # well formed: remembered, and refused where it counts
    for raw in HOSTILE_CODES:
        response = land(client, "/gigs/logo-design", query_string={"ref": raw})
        assert response.status_code == 200 and referral_cookie(response) is None, repr(raw[:20])
        # 404 for a code that cannot exist; 400 for a NUL byte (refused app-wide before routing)
        assert land(client, f"/r/{raw}").status_code in (400, 404), repr(raw[:20])
        assert land(client, f"/r/{raw}/{slug}").status_code in (400, 404)
    assert clicks() == [] and db.session.scalar(select(func.count()).select_from(ReferralCode)) == 1


def test_a_general_link_remembers_the_code_for_any_shop(client, shop):
    _, code = shop
    response = land(client, f"/r/{code}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    [claim] = load_claims(referral_cookie(response).split(";")[0].split("=", 1)[1])
    assert (claim.shop, claim.code) == (ANY_SHOP, code)
    assert clicks() == []  # no shop named: nothing to count for any seller
    assert referral_cookie(land(client, f"/r/{code}", agent="Googlebot")) is None


def test_a_shop_link_counts_for_a_shop_with_a_program_only(client, db, shop):
    slug, code = shop
    response = land(client, f"/r/{code}/{slug}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/shops/{slug}")
    assert [(c.listing_type, c.landing_path) for c in clicks()] == [(None, f"/r/{code}/{slug}")]
    assert land(client, f"/r/{code}/no-such-shop").status_code == 404
    assert land(client, f"/r/{code}/{'s' * 3000}").status_code == 404
    _, other = make_seller("plain@example.com", title="Plain Shop")
    response = land(client, f"/r/{code}/{other.slug}")
    assert response.status_code == 302 and referral_cookie(response) is None
    assert len(clicks()) == 1
    assert COOKIE_NAME not in (response.headers.get("Set-Cookie") or "")


@pytest.mark.committed
def test_redis_down_loses_the_click_serves_the_page_and_logs_a_warning(db, down_client, caplog):  # noqa: F811
    _, code = settled(db, build_shop)
    with caplog.at_level(logging.WARNING, logger="app.services.affiliates.clicks"):
        response = down_client.get(f"/gigs/logo-design?ref={code}", headers={"User-Agent": BROWSER})
    assert response.status_code == 200 and "I will design a modern logo" in response.get_data(as_text=True)
    assert referral_cookie(response)  # attribution survives; only the click count is lost
    assert "referral click not recorded: Redis unavailable" in caplog.text
    try:
        assert clicks() == []
    finally:
        db.session.remove()


def test_tracking_adds_no_sql_to_the_listing_page(app, client, shop):
    _, code = shop
    statements = []

    def count(*_):
        statements.append(1)

    engine = db.engine
    land(client, "/gigs/logo-design")  # the gig page is kept (pagecache.kept) from here on
    event.listen(engine, "before_cursor_execute", count)
    try:
        land(client, "/gigs/logo-design")
        plain, statements[:] = len(statements), []
        land(client, f"/gigs/logo-design?ref={code}")
        tracked = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert tracked == plain
    assert len(clicks()) == 1


def test_the_click_job_drops_clicks_that_do_not_count(client, shop):
    slug, code = shop
    company = db.session.scalar(select(Company).where(Company.slug == slug))
    program = db.session.scalar(select(AffiliateProgram))
    gig_id = db.session.scalar(select(Gig.id).where(Gig.slug == "logo-design"))
    owner = company.managers()[0]
    save_program(company, ProgramSettings(enabled=True, all_listings=False, listings=[("gig", gig_id)]), owner)
    db.session.commit()
    land(client, f"/products/icon-pack?ref={code}")  # outside the program
    land(client, f"/gigs/no-such-gig?ref={code}")  # 404 page, unknown listing
    get_redis().rpush(QUEUE_KEY, b"not json", b'{"c": "' + code.encode() + b'", "co": "1"}')
    assert clicks() == []
    land(client, f"/gigs/logo-design?ref={code}")
    assert [c.listing_id for c in clicks()] == [gig_id]
    save_program(company, ProgramSettings(enabled=False, all_listings=True), owner)
    db.session.commit()
    land(client, f"/gigs/logo-design?ref={code}", ip="198.51.100.1")  # program off
    assert len(clicks()) == 1 and program.id
