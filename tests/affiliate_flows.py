"""Shared steps of the affiliate tests (tests/test_affiliates_*.py): a shop with a program,
an affiliate with a code, landing through a link, buying through the sandbox."""

from types import SimpleNamespace

from sqlalchemy import select

from app.clock import now
from app.extensions import db
from app.models import (
    AffiliateProgram,
    AffiliateProgramListing,
    Checkout,
    Commission,
    Order,
    Referral,
    ReferralClick,
    ReferralCode,
)
from app.services.affiliates.links import COOKIE_NAME, referral_code_for
from app.services.affiliates.programs import ProgramSettings, save_program
from tests.factories import answers_for, make_logo_shop, make_product, make_user
from tests.forms import pay_hosted_checkout, post_form, sign_in_as
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


def order_action(client, order_id, action, data=None):
    """Take an order action over HTTP as the signed-in user (303 expected)."""
    response = post_form(client, f"/orders/{order_id}/actions/{action}", data)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]


def dispute_and_refund_part(app, client, run_jobs, amount="20.01"):
    """The buyer (signed in) of the only order answers its questions and disputes it; the admin
    (admin@example.com) refunds `amount` of it; Stripe's refund webhook arrives and runs."""
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        order_id, answers = order.id, answers_for(order.gig)
    order_action(client, order_id, "submit_requirements", answers)
    order_action(client, order_id, "open_dispute", {"note": "Half the work is missing"})
    sign_in_as(client, "admin@example.com")
    order_action(client, order_id, "resolve_partial", {"amount": amount, "note": "Half done"})
    wait_for_inbound(app, "charge.refunded")
    run_jobs()


def referrals():
    return db.session.scalars(select(Referral).order_by(Referral.id).execution_options(skip_tenant_scope=True)).all()


def commissions():
    return db.session.scalars(
        select(Commission).order_by(Commission.id).execution_options(skip_tenant_scope=True)
    ).all()


def last_checkout():
    return db.session.scalars(select(Checkout).order_by(Checkout.id.desc())).first()


def affiliate_rows(company, order, payment, code="enumcode01"):
    """A program, listing, code, click, referral and commission of `company` for the order's
    payment, its buyer referring themselves (`code`: their unique referral code). Flushed."""
    program = db.session.scalar(select(AffiliateProgram).where(AffiliateProgram.company_id == company.id))
    if program is None:
        program = AffiliateProgram(company_id=company.id, enabled=True)
        db.session.add(program)
        db.session.flush()
        db.session.add(
            AffiliateProgramListing(company_id=company.id, program_id=program.id, listing_type="gig", listing_id=1)
        )
    referral_code = db.session.scalar(select(ReferralCode).where(ReferralCode.user_id == payment.buyer_id))
    if referral_code is None:
        referral_code = ReferralCode(user_id=payment.buyer_id, code=code)
        db.session.add(referral_code)
        db.session.flush()
    click = ReferralClick(
        company_id=company.id,
        code_id=referral_code.id,
        affiliate_user_id=referral_code.user_id,
        token=f"{code}-click",
        listing_type="gig",
        listing_id=order.gig_id,
        ip_hash="0" * 64,
        created_at=now(),
    )
    referral = Referral(
        company_id=company.id,
        program_id=program.id,
        affiliate_user_id=referral_code.user_id,
        buyer_id=payment.buyer_id,
        checkout_id=order.checkout_id,
        listing_type="gig",
        listing_id=order.gig_id,
        status="refused",
        refusal_reason="self_referral",
    )
    db.session.add_all([click, referral])
    db.session.flush()
    db.session.add(
        Commission(
            company_id=company.id,
            program_id=program.id,
            referral_id=referral.id,
            affiliate_user_id=referral_code.user_id,
            payee_company_id=company.id,
            payment_id=payment.id,
            listing_type="gig",
            listing_id=order.gig_id,
            base_amount_cents=10000,
            amount_cents=1000,
            currency="usd",
            reversal_reason="refunded",
        )
    )
    db.session.flush()
