"""The affiliate pages over HTTP: the seller's /sell/affiliates (program settings, affiliates
table, ban and unban), the /affiliate dashboard with its CSV export, and the share box on gig
and product pages — each with its refusals (wrong person, other company, bad and hostile
input) next to its success, and a constant query count."""

import csv
import html
import io
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from app.clock import now
from app.extensions import db as _db
from app.models import AffiliateBan, AffiliateProgram, AuditEvent, Commission, Payment, Referral, ReferralClick
from app.services.affiliates.clicks import new_click_token
from app.services.affiliates.commissions import record_payment_commission
from app.services.affiliates.links import referral_code_for
from app.services.affiliates.programs import ProgramSettings, ban_affiliate, save_program
from tests.factories import make_order, make_product, make_seller, make_user
from tests.forms import post_form
from tests.hostile import HUGE_NUMBER, NUL, changed_tables, table_counts
from tests.test_browse_listing import count_queries

PROGRAM_FORM = {
    "enabled": "on",
    "commission_kind": "percent",
    "commission_percent": "12.5",
    "commission_amount": "",
    "attribution_days": "30",
    "recurring_rule": "first_n",
    "recurring_n": "3",
    "scope": "all",
    "terms": "No paid search on our brand name.",
}


def text_of(response):
    return html.unescape(response.get_data(as_text=True))


def run_program(cast, **overrides):
    """Turn the cast's company's program on (10 %, all listings) through the service."""
    settings = ProgramSettings(enabled=True, commission_bps=1000, terms="Be nice.", **overrides)
    program = save_program(cast.company, settings, cast.owner)
    _db.session.commit()
    return program


def click(program, affiliate, listing=None, *, at=None):
    """A stored click of `affiliate` for the program's company (on `listing`, a Gig)."""
    code = referral_code_for(affiliate)
    row = ReferralClick(
        company_id=program.company_id,
        code_id=code.id,
        token=new_click_token(),
        affiliate_user_id=affiliate.id,
        listing_type="gig" if listing is not None else None,
        listing_id=listing.id if listing is not None else None,
        ip_hash="0" * 64,
        user_agent="Mozilla/5.0",
        landing_path="/gigs/x",
        created_at=at or now(),
    )
    _db.session.add(row)
    _db.session.commit()
    return row


def refer_and_pay(cast, program, affiliate, buyer, total_cents=10000):
    """`buyer` orders the cast's gig through `affiliate`'s link and the payment is confirmed:
    the referral converts and the commission is recorded by the real service (ledger too)."""
    order = make_order(SimpleNamespace(company=cast.company, gig=cast.gig, buyer=buyer), "in_progress", total_cents)
    _db.session.add(
        Referral(
            company_id=cast.company.id,
            program_id=program.id,
            affiliate_user_id=affiliate.id,
            buyer_id=buyer.id,
            checkout_id=order.checkout_id,
            listing_type="gig",
            listing_id=cast.gig.id,
            status="pending",
            clicked_at=now(),
        )
    )
    paid = {name: getattr(order, name) for name in ("company_id", "buyer_id", "checkout_id", "fee_cents", "currency")}
    payment = Payment(kind="gig", order_id=order.id, amount_cents=total_cents, **paid)
    _db.session.add(payment)
    _db.session.flush()
    commission = record_payment_commission(payment)
    _db.session.commit()
    return commission


def queries(app, client, url):
    """The statements a GET of `url` runs with nothing loaded beforehand (the test's SAVEPOINT
    already open, so it is not counted)."""
    _db.session.expire_all()
    _db.session.execute(select(1))
    return count_queries(app, client, url)[0]


def make_program_with_affiliates(cast):
    """The cast's program (on, 10 %), an affiliate who clicked for it and one it banned (for
    the fuzz sweep's world): returns (affiliate, banned affiliate)."""
    program = run_program(cast)
    affiliate = make_user("fuzz-affiliate@example.com", display_name="Fay Affiliate")
    banned = make_user("fuzz-banned@example.com", display_name="Bo Banned")
    click(program, affiliate, cast.gig)
    click(program, banned, cast.gig)
    ban_affiliate(program, banned, cast.owner, "spam")
    _db.session.commit()
    return affiliate, banned


# -- /sell/affiliates: settings ---------------------------------------------------------------------


def test_owner_turns_the_program_on_and_sees_it_saved(client, db, cast, sign_in):
    sign_in(cast.owner)
    page = client.get("/sell/affiliates")
    assert page.status_code == 200
    assert 'value="30"' in text_of(page)  # the default window
    response = post_form(client, "/sell/affiliates", PROGRAM_FORM)
    assert response.status_code == 303
    program = db.session.scalar(select(AffiliateProgram).where(AffiliateProgram.company_id == cast.company.id))
    assert (program.enabled, program.commission_kind, program.commission_bps) == (True, "percent", 1250)
    assert (program.attribution_days, program.recurring_rule, program.recurring_n) == (30, "first_n", 3)
    assert program.all_listings and program.terms == "No paid search on our brand name."
    page = text_of(client.get("/sell/affiliates"))
    assert "Affiliate program saved. It is on." in page
    assert 'value="12.5"' in page and "No paid search" in page
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "affiliate_program.saved")) == 1


def test_a_fixed_commission_on_chosen_listings(client, db, cast, sign_in):
    product = make_product(cast.company)
    sign_in(cast.owner)
    form = {
        **PROGRAM_FORM,
        "commission_kind": "fixed",
        "commission_amount": "5.00",
        "recurring_rule": "every",
        "scope": "selected",
        "listings": [f"product:{product.id}"],
    }
    assert post_form(client, "/sell/affiliates", form).status_code == 303
    program = db.session.scalar(select(AffiliateProgram))
    assert (program.commission_kind, program.commission_cents, program.all_listings) == ("fixed", 500, False)
    assert [(row.listing_type, row.listing_id) for row in program.listings] == [("product", product.id)]
    page = text_of(client.get("/sell/affiliates"))
    assert re.search(rf'value="product:{product.id}"\s+checked', page)


# Each input with values of the wrong shape or out of range: refused naming that input.
BAD_SETTINGS = {
    "commission_percent": ["abc", "-5", "150", "12.345", "0"],
    "commission_amount": ["NaN"],
    "commission_kind": ["bitcoin"],
    "attribution_days": ["0", "366", HUGE_NUMBER, "1e3"],
    "recurring_rule": ["sometimes"],
    "recurring_n": ["0", "²"],
    "terms": ["x" * 5001],
    "scope": ["most"],
    "listings": ["gig:abc", "gig:99999999999"],
}


@pytest.mark.parametrize(
    ("field", "value"), [(field, value) for field, values in BAD_SETTINGS.items() for value in values]
)
def test_bad_settings_are_refused_naming_the_field_and_nothing_is_written(client, db, cast, sign_in, field, value):
    sign_in(cast.owner)
    before = table_counts()
    response = post_form(client, "/sell/affiliates", {**PROGRAM_FORM, field: value})
    assert response.status_code == 422, response.status_code
    assert f'data-field="{field}"' in response.get_data(as_text=True)
    assert "Nothing was saved" in text_of(response)
    assert changed_tables(before, table_counts()) == {}


def test_listings_of_another_company_are_refused(client, db, cast, sign_in):
    _, rival = make_seller()
    foreign = make_product(rival, slug="rival-pack")
    sign_in(cast.owner)
    form = {**PROGRAM_FORM, "scope": "selected", "listings": [f"product:{foreign.id}"]}
    response = post_form(client, "/sell/affiliates", form)
    assert response.status_code == 422
    assert 'data-field="listings"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AffiliateProgram)) == 0


def test_nul_in_the_terms_is_refused(client, db, cast, sign_in):
    sign_in(cast.owner)
    response = post_form(client, "/sell/affiliates", {**PROGRAM_FORM, "terms": "ok" + NUL})
    assert response.status_code == 400 and "terms" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(AffiliateProgram)) == 0


def test_members_admins_and_outsiders_cannot_open_or_change_the_program(client, db, cast, sign_in):
    admin, _ = make_seller(company=cast.company, role="admin")
    for person in (cast.member, admin):
        sign_in(person)
        assert client.get("/sell/affiliates").status_code == 403
        assert post_form(client, "/sell/affiliates", PROGRAM_FORM).status_code == 403
    sign_in(cast.buyer)  # no company: sent to become a seller; a POST is refused
    assert client.get("/sell/affiliates").status_code == 302
    assert post_form(client, "/sell/affiliates", PROGRAM_FORM).status_code == 403
    client.post("/signout")
    assert client.get("/sell/affiliates").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(AffiliateProgram)) == 0


def test_a_post_without_the_csrf_token_is_refused(client, db, cast, sign_in):
    sign_in(cast.owner)
    assert client.post("/sell/affiliates", data=PROGRAM_FORM).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(AffiliateProgram)) == 0


# -- /sell/affiliates: the affiliates table, ban and unban ---------------------------------------------


def test_the_affiliates_table_shows_each_affiliates_figures(client, db, cast, sign_in):
    program = run_program(cast)
    ann = make_user("ann@example.com", display_name="Ann Affiliate")
    bob = make_user("bob@example.com", display_name="Bob Booster")
    for _ in range(3):
        click(program, ann, cast.gig)
    click(program, bob)
    refer_and_pay(cast, program, ann, cast.buyer, 10000)
    sign_in(cast.owner)
    page = text_of(client.get("/sell/affiliates"))
    ann_row = re.search(rf'data-affiliate="{ann.id}">(.*?)</tr>', page, re.S).group(1)
    assert "Ann Affiliate" in ann_row
    assert re.findall(r'class="num">([^<]*)<', ann_row) == ["3", "1", "$100.00", "$10.00"]
    bob_row = re.search(rf'data-affiliate="{bob.id}">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'class="num">([^<]*)<', bob_row) == ["1", "0", "$0.00", "$0.00"]


def test_another_companys_affiliates_never_show(client, db, cast, sign_in):
    program = run_program(cast)
    ann = make_user("ann@example.com", display_name="Ann Affiliate")
    click(program, ann, cast.gig)
    rival_owner, rival = make_seller()
    save_program(rival, ProgramSettings(enabled=True), rival_owner)
    db.session.commit()
    sign_in(rival_owner)
    page = text_of(client.get("/sell/affiliates"))
    assert "Ann Affiliate" not in page and "No affiliates yet" in page
    assert client.get(f"/sell/affiliates/{ann.id}/ban").status_code == 404
    assert post_form(client, f"/sell/affiliates/{ann.id}/ban", {"confirm": "ban"}).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(AffiliateBan)) == 0


def test_the_table_is_paginated_with_a_constant_query_count(app, client, db, cast, sign_in):
    program = run_program(cast)
    click(program, make_user("first@example.com", display_name="First"), cast.gig)
    sign_in(cast.owner)
    few = queries(app, client, "/sell/affiliates")
    for n in range(30):
        person = make_user(f"aff{n}@example.com", display_name=f"Affiliate {n:02d}")
        click(program, person, cast.gig)
    many = queries(app, client, "/sell/affiliates")
    assert few == many
    page = text_of(client.get("/sell/affiliates"))
    assert page.count("data-affiliate=") == 25
    second = text_of(client.get("/sell/affiliates?page=2"))
    assert second.count("data-affiliate=") == 6 and "First" in second


def test_the_owner_bans_and_unbans_an_affiliate_after_confirming(client, db, cast, sign_in):
    program = run_program(cast)
    ann = make_user("ann@example.com", display_name="Ann Affiliate")
    click(program, ann, cast.gig)
    sign_in(cast.owner)
    confirm = client.get(f"/sell/affiliates/{ann.id}/ban")
    assert confirm.status_code == 200 and "Ban Ann Affiliate from your affiliate program?" in text_of(confirm)
    unconfirmed = post_form(client, f"/sell/affiliates/{ann.id}/ban", {"reason": "spam"})
    assert unconfirmed.status_code == 422 and "Confirm that you want to ban" in text_of(unconfirmed)
    assert db.session.scalar(select(func.count()).select_from(AffiliateBan)) == 0
    too_long = post_form(client, f"/sell/affiliates/{ann.id}/ban", {"confirm": "ban", "reason": "x" * 301})
    assert too_long.status_code == 422 and "under 300 characters" in text_of(too_long)
    response = post_form(client, f"/sell/affiliates/{ann.id}/ban", {"confirm": "ban", "reason": "Coupon spam"})
    assert response.status_code == 303
    ban = db.session.scalar(select(AffiliateBan))
    assert (ban.affiliate_user_id, ban.reason, ban.banned_by_user_id) == (ann.id, "Coupon spam", cast.owner.id)
    page = text_of(client.get("/sell/affiliates"))
    assert "Ann Affiliate is banned" in page and ">banned<" in page
    response = post_form(client, f"/sell/affiliates/{ann.id}/unban")
    assert response.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(AffiliateBan)) == 0
    again = post_form(client, f"/sell/affiliates/{ann.id}/unban")
    assert again.status_code == 409 and "is not banned" in text_of(again)


def test_ban_refusals_for_strangers_members_and_missing_programs(client, db, cast, sign_in):
    ann = make_user("ann@example.com", display_name="Ann Affiliate")
    sign_in(cast.owner)
    # No program yet: nothing to ban anyone from.
    assert client.get(f"/sell/affiliates/{ann.id}/ban").status_code == 404
    program = run_program(cast)
    # Someone who never promoted the shop, and ids that exist nowhere.
    assert client.get(f"/sell/affiliates/{ann.id}/ban").status_code == 404
    assert post_form(client, f"/sell/affiliates/{ann.id}/unban").status_code == 404
    assert post_form(client, "/sell/affiliates/99999999999/ban", {"confirm": "ban"}).status_code == 404
    click(program, ann, cast.gig)
    sign_in(cast.member)
    assert client.get(f"/sell/affiliates/{ann.id}/ban").status_code == 403
    assert post_form(client, f"/sell/affiliates/{ann.id}/ban", {"confirm": "ban"}).status_code == 403
    assert post_form(client, f"/sell/affiliates/{ann.id}/unban").status_code == 403
    assert db.session.scalar(select(func.count()).select_from(AffiliateBan)) == 0


# -- /affiliate: the dashboard and CSV -----------------------------------------------------------------


def test_the_dashboard_shows_links_figures_and_listings(client, db, cast, sign_in):
    program = run_program(cast)
    ann = make_user("ann@example.com", display_name="Ann Affiliate")
    for _ in range(4):
        click(program, ann, cast.gig)
    refer_and_pay(cast, program, ann, cast.buyer, 10000)
    code = referral_code_for(ann).code
    db.session.commit()
    sign_in(ann)
    page = text_of(client.get("/affiliate"))
    assert f'value="{code}"' in page
    assert f"/r/{code}" in page and f"/r/{code}/{cast.company.slug}" in page
    assert f"/gigs/{cast.gig.slug}?ref={code}" in page
    stats = dict(re.findall(r'data-stat="(\w+)">([^<]*)<', page))
    assert stats == {
        "clicks": "4",
        "conversions": "1",
        "rate": "25.0 %",
        "revenue": "$100.00",
        "pending": "$10.00",
        "available": "$0.00",
        "paid": "$0.00",
        "reversed": "$0.00",
    }
    assert "4 clicks and 1 conversions" in page  # the chart's description
    assert "Open my affiliate earnings" in page  # the payout company exists after a commission
    assert "Be nice." in page  # the program's terms


def test_a_new_user_gets_one_code_that_stays(client, db, sign_in):
    person = make_user("new@example.com")
    sign_in(person)
    first = re.search(r'id="aff-code" class="aff-copy-input" value="([^"]+)"', client.get("/affiliate").text).group(1)
    second = re.search(r'id="aff-code" class="aff-copy-input" value="([^"]+)"', client.get("/affiliate").text).group(1)
    assert first == second
    assert "No clicks yet" in client.get("/affiliate").text
    assert "Your earnings account opens with your first commission" in client.get("/affiliate").text


def test_the_dashboard_and_csv_need_a_signed_in_user(client, db):
    assert client.get("/affiliate").status_code == 302
    assert client.get("/affiliate/commissions.csv").status_code == 302


def test_the_dashboard_query_count_does_not_grow_with_activity(app, client, db, cast, sign_in):
    program = run_program(cast)
    ann = make_user("ann@example.com", display_name="Ann Affiliate")
    click(program, ann, cast.gig)
    refer_and_pay(cast, program, ann, cast.buyer)
    sign_in(ann)
    client.get("/affiliate")
    few = queries(app, client, "/affiliate")
    for n in range(5):
        buyer = make_user(f"b{n}@example.com")
        click(program, ann, cast.gig)
        refer_and_pay(cast, program, ann, buyer)
    many = queries(app, client, "/affiliate")
    assert few == many


def test_the_csv_lists_only_the_users_own_commissions(client, db, cast, sign_in):
    program = run_program(cast)
    ann = make_user("ann@example.com", display_name="Ann Affiliate")
    bob = make_user("bob@example.com", display_name="Bob Booster")
    mine = refer_and_pay(cast, program, ann, cast.buyer, 12345)
    theirs = refer_and_pay(cast, program, bob, cast.other_buyer, 20000)
    sign_in(ann)
    response = client.get("/affiliate/commissions.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(row["commission_id"]) for row in rows] == [mine.id]
    [row] = rows
    assert (row["seller"], row["listing_type"], row["listing"]) == (cast.company.title, "gig", cast.gig.title)
    assert (row["payment_cents"], row["commission_cents"], row["reversed_cents"], row["net_cents"]) == (
        "12345",
        "1234",
        "0",
        "1234",
    )
    assert (row["currency"], row["status"]) == ("USD", "pending")
    assert str(theirs.id) not in [r["commission_id"] for r in rows]
    sign_in(cast.other_buyer)  # someone with no commissions: the header only
    assert client.get("/affiliate/commissions.csv").get_data(as_text=True).strip() == ",".join(
        __import__("app.services.affiliates.reports", fromlist=["CSV_COLUMNS"]).CSV_COLUMNS
    )


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(client, db, cast, sign_in):
    cast.company.title = "=HYPERLINK(1)"
    db.session.commit()
    program = run_program(cast)
    ann = make_user("ann@example.com")
    refer_and_pay(cast, program, ann, cast.buyer)
    sign_in(ann)
    [row] = list(csv.DictReader(io.StringIO(client.get("/affiliate/commissions.csv").get_data(as_text=True))))
    assert row["seller"] == "'=HYPERLINK(1)"


# -- the share box --------------------------------------------------------------------------------------


def test_the_share_box_offers_a_link_when_the_program_includes_the_gig(client, db, cast, sign_in):
    run_program(cast)
    sign_in(cast.buyer)
    page = text_of(client.get(f"/gigs/{cast.gig.slug}"))
    code = referral_code_for(cast.buyer).code
    assert 'data-share="on"' in page
    assert re.search(
        rf'id="share-link" class="aff-copy-input" value="[^"]*/gigs/{cast.gig.slug}\?ref={code}" readonly', page
    )
    assert "10 % of each payment" in page and "within 30 days" in page and "Be nice." in page


def test_the_share_box_on_a_product_page(client, db, cast, sign_in):
    product = make_product(cast.company)
    run_program(cast, all_listings=False, listings=[("product", product.id)])
    sign_in(cast.buyer)
    assert f"/products/{product.slug}?ref=" in text_of(client.get(f"/products/{product.slug}"))
    # The gig is not in the program: the box says so and offers no link.
    page = text_of(client.get(f"/gigs/{cast.gig.slug}"))
    assert 'data-share="excluded"' in page and "not part of" in page and "?ref=" not in page


def test_the_share_box_says_when_there_is_no_program(client, db, cast, sign_in):
    sign_in(cast.buyer)
    page = text_of(client.get(f"/gigs/{cast.gig.slug}"))
    assert 'data-share="off"' in page and "runs no affiliate program" in page and "?ref=" not in page
    save_program(cast.company, ProgramSettings(enabled=False), cast.owner)
    db.session.commit()
    assert 'data-share="off"' in text_of(client.get(f"/gigs/{cast.gig.slug}"))


def test_the_seller_sees_their_own_program_not_a_link(client, db, cast, sign_in):
    run_program(cast)
    sign_in(cast.member)
    page = text_of(client.get(f"/gigs/{cast.gig.slug}"))
    assert 'data-share="own"' in page and "earn nothing" in page and "?ref=" not in page


def test_visitors_who_are_not_signed_in_see_no_share_box(client, db, cast):
    run_program(cast)
    assert "Share and earn" not in text_of(client.get(f"/gigs/{cast.gig.slug}"))


def test_the_share_box_adds_a_constant_number_of_queries(app, client, db, cast, sign_in):
    run_program(cast)
    sign_in(cast.buyer)
    client.get(f"/gigs/{cast.gig.slug}")  # the code is made on the first visit
    client.get(f"/gigs/{cast.gig.slug}")  # and the session is in the identity cache from the third
    with_box = queries(app, client, f"/gigs/{cast.gig.slug}")
    product = make_product(cast.company, slug="other")
    run_program(cast, all_listings=False, listings=[("product", product.id), ("gig", cast.gig.id)])
    client.get(f"/gigs/{cast.gig.slug}")  # the page is kept again, with the program as it is now
    assert queries(app, client, f"/gigs/{cast.gig.slug}") == with_box


def test_commission_rows_never_leak_into_the_seller_tenant_scope(client, db, cast, sign_in):
    """The seller's figures come from their own program only, never another program's."""
    program = run_program(cast)
    ann = make_user("ann@example.com", display_name="Ann Affiliate")
    refer_and_pay(cast, program, ann, cast.buyer, 10000)
    assert db.session.scalar(select(func.count()).select_from(Commission)) == 1
    rival_owner, rival = make_seller()
    save_program(rival, ProgramSettings(enabled=True), rival_owner)
    db.session.commit()
    sign_in(rival_owner)
    page = text_of(client.get("/sell/affiliates"))
    assert "$100.00" not in page and "$10.00" not in page


def test_a_page_shown_again_after_a_refused_post_makes_no_code(client, db, cast, sign_in):
    product = make_product(cast.company)
    run_program(cast)
    sign_in(cast.other_buyer)
    before = table_counts()
    response = post_form(client, f"/products/{product.slug}/checkout", {"plan": "not-a-plan"})
    assert 400 <= response.status_code < 500
    assert 'data-share="on"' in response.get_data(as_text=True) and "Reload this page to get your link" in text_of(
        response
    )
    assert changed_tables(before, table_counts()) == {}
    assert f"/products/{product.slug}?ref=" in text_of(client.get(f"/products/{product.slug}"))
