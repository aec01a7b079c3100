"""A Legends class's commission bonus, end to end over HTTP through the sandbox: once the seller
opts in (the game's settings), an affiliate playing the seller's game as a Sage (+500 bps) earns
`C + C × 500 // 10000` on a commission C, from the seller's share; the program terms on the
affiliate pages say so; a refund claws back with the usual ceil rule, to the cent."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AffiliateProgram, Company, Payment, User
from app.payments import get_gateway, new_idempotency_key
from app.services.affiliates.commissions import affiliate_company_for
from app.services.affiliates.programs import commission_cents
from app.services.ledger import account_balance, company_balances, unbalanced_transactions
from app.services.legends.game import open_game
from tests.affiliate_flows import (
    BPS,
    GIG_FEE,
    GIG_TOTAL,
    commissions,
    dispute_and_refund_part,
    make_program_shop,
    pay,
    start_checkout,
)
from tests.factories import make_product, make_user
from tests.forms import post_form, sign_in_as
from tests.legends_game import class_id
from tests.waiting import wait_for_inbound

pytestmark = pytest.mark.committed

SAGE_BPS = 500
GIG_BASE = GIG_TOTAL * BPS // 10000  # 625
GIG_WITH_BONUS = GIG_BASE + GIG_BASE * SAGE_BPS // 10000  # 625 + 31 = 656
TERMS = "Sage (+5 % of the commission)"


@pytest.fixture
def world(app, sandbox):
    with app.app_context():
        make_user("admin@example.com", display_name="Ada Admin", is_admin=True)
        world = make_program_shop(sandbox)
        open_game(db.session.get(Company, world.company_id))
        db.session.commit()
        world.sage = class_id(db.session.get(Company, world.company_id), "Sage")
        return world


def opt_in(client, world, on=True):
    """The seller funds (or stops funding) the class bonuses in the game's settings."""
    sign_in_as(client, "seller@example.com")
    settings = {
        "name": "Logo Legends",
        "terms": "",
        "class_change_days": "30",
        "guild_member_cap": "20",
        "enabled": "1",
    }
    response = post_form(
        client, "/sell/legends/settings", {**settings, **({"class_commission_bonus": "1"} if on else {})}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:300]


def play_as_sage(client, world):
    """The affiliate joins the shop's game as a Sage; the join page they saw."""
    sign_in_as(client, "aff@example.com")
    page = client.get(f"/legends/{world.shop_slug}").get_data(as_text=True)
    response = post_form(client, f"/legends/{world.shop_slug}/join", {"class_id": str(world.sage)})
    assert response.status_code == 303
    return page


def buy_gig_through_link(app, client, world, run_jobs):
    assert client.get(f"/gigs/logo-design?ref={world.code}").status_code == 200
    sign_in_as(client, "buyer@example.com")
    pay(app, run_jobs, start_checkout(client, "/gigs/logo-design/checkout", {"package": "basic"}))


def test_a_sage_earns_the_class_bonus_and_a_partial_refund_claws_it_back_to_the_cent(app, client, world, run_jobs):
    opt_in(client, world)
    assert "+5 % commission funded by" in play_as_sage(client, world)
    dashboard = client.get("/affiliate").get_data(as_text=True)
    assert TERMS in dashboard and "paid by the seller" in dashboard
    buy_gig_through_link(app, client, world, run_jobs)
    assert TERMS in client.get("/gigs/logo-design").get_data(as_text=True)  # the share box's terms
    with app.app_context():
        [commission] = commissions()
        assert (commission.amount_cents, commission.base_amount_cents) == (GIG_WITH_BONUS, GIG_TOTAL) == (656, 5000)
        assert company_balances(world.company_id)["escrow"] == GIG_TOTAL - GIG_FEE - 656
    dispute_and_refund_part(app, client, run_jobs)
    reversed_cents = -(-656 * 2001 // GIG_TOTAL)  # ceil(262.53) = 263: the seller's favour
    with app.app_context():
        [commission] = commissions()
        assert (commission.reversed_cents, commission.status) == (reversed_cents, "pending") == (263, "pending")
        wallet = affiliate_company_for(db.session.get(User, world.affiliate_id), create=False)
        assert account_balance("affiliate_pending", wallet.id) == 656 - 263 == 393
        assert unbalanced_transactions() == []


def test_a_product_commission_with_the_bonus_comes_back_whole_on_a_full_refund(app, client, world, run_jobs):
    opt_in(client, world)
    play_as_sage(client, world)
    with app.app_context():
        make_product(db.session.get(Company, world.company_id), "icon-pack", "one_time", 2900)
    assert client.get(f"/products/icon-pack?ref={world.code}").status_code == 200
    sign_in_as(client, "buyer@example.com")
    pay(app, run_jobs, start_checkout(client, "/products/icon-pack/checkout"))
    base = 2900 * BPS // 10000  # 362
    with app.app_context():
        [commission] = commissions()
        assert commission.amount_cents == base + base * SAGE_BPS // 10000 == 380
        assert company_balances(world.company_id)["available"] == -380  # funded by the seller
        intent = db.session.scalars(select(Payment.stripe_payment_intent_id).where(Payment.kind == "product")).one()
        get_gateway().create_refund(idempotency_key=new_idempotency_key(), payment_intent=intent)
    wait_for_inbound(app, "charge.refunded")
    run_jobs()
    with app.app_context():
        [commission] = commissions()
        assert (commission.status, commission.reversed_cents) == ("reversed", 380)
        wallet = affiliate_company_for(db.session.get(User, world.affiliate_id), create=False)
        assert account_balance("affiliate_pending", wallet.id) == 0
        assert company_balances(world.company_id)["available"] == 0
        assert unbalanced_transactions() == []


def test_without_the_sellers_opt_in_a_sage_earns_the_plain_commission(app, client, world, run_jobs):
    opt_in(client, world, on=False)
    join_page = play_as_sage(client, world)
    assert "Sage" in join_page and "+5 % commission" not in join_page
    assert TERMS not in client.get("/affiliate").get_data(as_text=True)
    buy_gig_through_link(app, client, world, run_jobs)
    with app.app_context():
        [commission] = commissions()
        assert commission.amount_cents == GIG_BASE == 625


def test_the_bonus_never_takes_more_than_the_sellers_share():
    program = AffiliateProgram(commission_kind="percent", commission_bps=8800, commission_cents=0)
    assert commission_cents(program, 5000, 4500) == 4400  # no bonus
    assert commission_cents(program, 5000, 4500, SAGE_BPS) == 4500  # 4400 + 220, capped at the share
    assert commission_cents(program, 5000, 5000, SAGE_BPS) == 4620
    fixed = AffiliateProgram(commission_kind="fixed", commission_bps=0, commission_cents=999)
    assert commission_cents(fixed, 5000, 4500, SAGE_BPS) == 999 + 49  # floor(49.95)
