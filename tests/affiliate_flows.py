"""Shared steps of the affiliate tests (tests/test_affiliates_*.py): a shop with a program,
an affiliate with a code, landing through a link, buying through the sandbox."""

from types import SimpleNamespace

from sqlalchemy import select

from app.extensions import db
from app.models import Checkout, Commission, Referral
from app.services.affiliates.links import COOKIE_NAME, referral_code_for
from app.services.affiliates.programs import ProgramSettings, save_program
from tests.factories import make_logo_shop, make_product, make_user
from tests.forms import pay_hosted_checkout, post_form
from tests.waiting import wait_for_inbound

GIG_TOTAL, GIG_FEE = 5000, 500  # the logo gig's basic package at the default 10 % fee
PLAN_PRICE = 1250  # the monthly plugin
BPS = 1250  # 12.5 %: 5000 → 625; 1250 → 156.25, floored to 156 (the seller's favour)


def make_program_shop(sandbox, **settings):
    """The logo shop (seller@example.com, buyer@example.com, gig "logo-design") with a monthly
    product "pro-plugin", an affiliate aff@example.com with a code, and the shop's program
    (12.5 %, first 2 payments of a subscription unless `settings` say otherwise). Committed."""
    shop = make_logo_shop(sandbox)
    product = make_product(shop.company, "pro-plugin", "month", PLAN_PRICE)
    affiliate = make_user("aff@example.com", display_name="Affi Liate")
    code = referral_code_for(affiliate).code
    options = {"enabled": True, "commission_bps": BPS, "recurring_rule": "first_n", "recurring_n": 2, **settings}
    save_program(shop.company, ProgramSettings(**options), shop.owner)
    db.session.commit()
    return SimpleNamespace(
        company_id=shop.company.id,
        shop_slug=shop.company.slug,
        gig_id=shop.gig.id,
        product_id=product.id,
        owner_id=shop.owner.id,
        buyer_id=shop.buyer.id,
        affiliate_id=affiliate.id,
        code=code,
    )


def referral_cookie(response):
    """The `tp_ref` Set-Cookie header of a response, or None."""
    return next((h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{COOKIE_NAME}=")), None)


def start_checkout(client, path, data=None):
    """Press Buy: returns the response (303 to the hosted page on success)."""
    return post_form(client, path, data or {})


def pay(app, run_jobs, response, *events):
    """Pay on the sandbox's hosted page and let its webhooks (`events`) arrive and run."""
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    for event_type in events or ("checkout.session.completed",):
        wait_for_inbound(app, event_type)
    run_jobs()


def referrals():
    return db.session.scalars(select(Referral).order_by(Referral.id).execution_options(skip_tenant_scope=True)).all()


def commissions():
    return db.session.scalars(
        select(Commission).order_by(Commission.id).execution_options(skip_tenant_scope=True)
    ).all()


def last_checkout():
    return db.session.scalars(select(Checkout).order_by(Checkout.id.desc())).first()
