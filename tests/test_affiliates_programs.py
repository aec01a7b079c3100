"""Program settings, bans and the commission arithmetic, to the cent (the HTTP pages that use
them are tested with the pages; the money paths in test_affiliates_e2e.py)."""

import pytest

from app.models import AffiliateBan, AffiliateProgram, AuditEvent
from app.services.affiliates.programs import (
    ProgramError,
    ProgramSettings,
    ban_affiliate,
    commission_cents,
    is_banned,
    payment_earns,
    program_includes,
    save_program,
    unban_affiliate,
)
from tests.factories import make_gig, make_product, make_seller, make_user


@pytest.mark.parametrize(
    ("bps", "base", "share", "expected"),
    [
        (1250, 5000, 4500, 625),
        (1250, 1250, 1125, 156),  # 156.25 → 156: rounded down, the seller's favour
        (1, 9999, 8999, 0),  # 0.9999 → 0
        (3333, 100, 90, 33),  # 33.33 → 33
        (10000, 5000, 4500, 4500),  # never more than the seller's share
        (0, 5000, 4500, 0),
    ],
)
def test_percent_commission_rounds_down_and_is_capped_at_the_sellers_share(bps, base, share, expected):
    program = AffiliateProgram(commission_kind="percent", commission_bps=bps, commission_cents=0)
    assert commission_cents(program, base, share) == expected


def test_fixed_commission_is_capped_at_the_sellers_share():
    program = AffiliateProgram(commission_kind="fixed", commission_bps=0, commission_cents=700)
    assert commission_cents(program, 5000, 4500) == 700
    assert commission_cents(program, 500, 450) == 450
    assert commission_cents(program, 0, 0) == 0


@pytest.mark.parametrize(
    ("rule", "n", "earning"),
    [("first_only", None, [1]), ("first_n", 3, [1, 2, 3]), ("every", None, [1, 2, 3, 4, 5, 6])],
)
def test_recurring_rules(rule, n, earning):
    program = AffiliateProgram(recurring_rule=rule, recurring_n=n)
    assert [number for number in range(1, 7) if payment_earns(program, number)] == earning


def test_save_program_and_included_listings(db):
    owner, company = make_seller()
    gig, product = make_gig(company, slug="g1"), make_product(company, "p1")
    settings = ProgramSettings(enabled=True, commission_bps=1500, all_listings=False, listings=[("gig", gig.id)])
    program = save_program(company, settings, owner)
    assert (program.commission_bps, program.attribution_days, program.recurring_n) == (1500, 30, None)
    assert program_includes(program, "gig", gig.id) and not program_includes(program, "product", product.id)
    again = save_program(company, ProgramSettings(enabled=True, recurring_rule="first_n", recurring_n=12), owner)
    assert again.id == program.id and again.recurring_n == 12 and program_includes(again, "product", product.id)
    assert db.session.query(AuditEvent).filter_by(action="affiliate_program.saved").count() == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"commission_kind": "bitcoin"}, "commission_kind"),
        ({"commission_bps": -1}, "commission_bps"),
        ({"commission_bps": 10001}, "commission_bps"),
        ({"commission_bps": 0}, "commission_bps"),
        ({"commission_kind": "fixed", "commission_cents": 0}, "commission_cents"),
        ({"commission_kind": "fixed", "commission_cents": -5}, "commission_cents"),
        ({"commission_kind": "fixed", "commission_cents": 10**12}, "commission_cents"),
        ({"attribution_days": 0}, "attribution_days"),
        ({"attribution_days": 366}, "attribution_days"),
        ({"recurring_rule": "forever"}, "recurring_rule"),
        ({"recurring_rule": "first_n", "recurring_n": None}, "recurring_n"),
        ({"recurring_rule": "first_n", "recurring_n": 121}, "recurring_n"),
        ({"terms": "x" * 5001}, "terms"),
        ({"all_listings": False, "listings": []}, "listings"),
        ({"all_listings": False, "listings": [("gig", 999999)]}, "listings"),
        ({"all_listings": False, "listings": [("house", 1)]}, "listings"),
    ],
)
def test_bad_settings_are_refused_naming_the_field_and_write_nothing(db, changes, field):
    owner, company = make_seller()
    with pytest.raises(ProgramError) as refused:
        save_program(company, ProgramSettings(**{"enabled": True, **changes}), owner)
    assert (refused.value.status, refused.value.field) == (422, field)
    assert db.session.query(AffiliateProgram).count() == 0


def test_another_sellers_listing_is_refused(db):
    owner, company = make_seller()
    _, other = make_seller()
    foreign = make_gig(other, slug="theirs")
    settings = ProgramSettings(enabled=True, all_listings=False, listings=[("gig", foreign.id)])
    with pytest.raises(ProgramError) as refused:
        save_program(company, settings, owner)
    assert refused.value.field == "listings"


def test_ban_is_idempotent_and_unban_lifts_it(db):
    owner, company = make_seller()
    program = save_program(company, ProgramSettings(enabled=True), owner)
    affiliate = make_user()
    first = ban_affiliate(program, affiliate, owner, reason="spam")
    assert ban_affiliate(program, affiliate, owner).id == first.id
    assert is_banned(program.id, affiliate.id)
    with pytest.raises(ProgramError) as refused:
        ban_affiliate(program, make_user(), owner, reason="r" * 301)
    assert refused.value.field == "reason"
    assert unban_affiliate(program, affiliate, owner) is True
    assert unban_affiliate(program, affiliate, owner) is False
    assert not is_banned(program.id, affiliate.id) and db.session.query(AffiliateBan).count() == 0
