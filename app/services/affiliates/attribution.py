"""The referral of a checkout: decided on the server when the checkout starts, bound when the
webhook confirms the payment.

`attach_referral` reads only the signed cookie's claims (never a form field), checks the
code, the program, the listing, the window, bans and self-referral, and writes one Referral
per checkout: `pending`, or `refused` with the reason (recorded, pays nothing).
`convert_referral` runs inside the paying webhook (the checkout row is locked by the caller):
the first conversion binds the buyer to the affiliate in the program (`completed`, unique);
a later referral of an already bound buyer is refused `already_bound` and its payments earn
the bound affiliate.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.clock import now
from app.extensions import db
from app.models import Checkout, Company, Gig, Payment, Product, Referral, ReferralClick, ReferralCode, User
from app.services.affiliates.links import ANY_SHOP, Claim, find_code
from app.services.affiliates.programs import get_program, is_banned, program_includes


def _listing_of(checkout: Checkout) -> tuple[str, int]:
    if checkout.kind == "gig":
        return "gig", int(checkout.gig_id or 0)
    return "product", int(checkout.product_id or 0)


def referral_of_checkout(checkout_id: int) -> Referral | None:
    """The referral attached to a checkout, if any."""
    return db.session.scalar(
        select(Referral).where(Referral.checkout_id == checkout_id).execution_options(skip_tenant_scope=True)
    )


def refusal_for(checkout: Checkout, code: ReferralCode, clicked_at: datetime) -> tuple[int | None, str | None]:
    """(program id, refusal reason or None) for crediting `code`'s owner with `checkout`."""
    program = get_program(checkout.company_id)
    if program is None:
        return None, "program_off"
    company = db.session.get_one(Company, checkout.company_id)
    affiliate = code.user
    if affiliate.id == checkout.buyer_id:
        return program.id, "self_referral"
    if company.role_of(affiliate) is not None:
        return program.id, "own_team"
    buyer = db.session.get_one(User, checkout.buyer_id)
    if company.role_of(buyer) is not None:
        return program.id, "own_team"
    if not program.enabled:
        return program.id, "program_off"
    if not program_includes(program, *_listing_of(checkout)):
        return program.id, "outside_program"
    if is_banned(program.id, affiliate.id):
        return program.id, "banned"
    if now() - clicked_at > timedelta(days=program.attribution_days):
        return program.id, "expired"
    return program.id, None


def attach_referral(checkout: Checkout, claims: list[Claim]) -> Referral | None:
    """The checkout's Referral from the visitor's cookie claims, written once per checkout (a
    reused checkout keeps its first). None when no claim applies or its code is unknown.
    Refusals are written with their reason. Flushed; the caller commits with the checkout."""
    existing = referral_of_checkout(checkout.id)
    if existing is not None:
        return existing
    found = claim_for(claims, checkout.company_id)
    if found is None:
        return None
    claim, code = found
    clicked_at = datetime.fromtimestamp(claim.clicked_at, UTC)
    program_id, reason = refusal_for(checkout, code, clicked_at)
    listing_type, listing_id = _listing_of(checkout)
    referral = Referral(
        company_id=checkout.company_id,
        program_id=program_id,
        affiliate_user_id=code.user_id,
        buyer_id=checkout.buyer_id,
        checkout_id=checkout.id,
        click_id=_own_click(claim, code, checkout.company_id),
        listing_type=listing_type,
        listing_id=listing_id,
        status="refused" if reason else "pending",
        refusal_reason=reason,
        clicked_at=clicked_at,
    )
    db.session.add(referral)
    db.session.flush()
    return referral


def _claim_company(claim: Claim) -> int | None:
    """The seller a claim is for (None: any shop, or a listing that no longer exists)."""
    kind, _, slug = claim.shop.partition(":")
    if kind in ("gig", "product") and slug:
        model = Gig if kind == "gig" else Product
        return db.session.scalar(select(model.company_id).where(model.slug == slug))
    return int(claim.shop) if claim.shop.isdigit() else None


def claim_for(claims: list[Claim], company_id: int) -> tuple[Claim, ReferralCode] | None:
    """The claim that applies to a checkout of `company_id`, with its code: the oldest one with
    a known code made for one of the seller's listings, its shop, or any shop."""
    for claim in sorted(claims, key=lambda claim: claim.clicked_at):
        if claim.shop == ANY_SHOP or _claim_company(claim) == company_id:
            code = find_code(claim.code)
            if code is not None:
                return claim, code
    return None


def _own_click(claim: Claim, code: ReferralCode, company_id: int) -> int | None:
    """The id of the claim's click row (once the click flush wrote it), only if that click
    really is this code's for this company."""
    if not claim.click_token:
        return None
    click = db.session.scalar(
        select(ReferralClick).where(ReferralClick.token == claim.click_token).execution_options(skip_tenant_scope=True)
    )
    if click is None or click.code_id != code.id or click.company_id != company_id:
        return None
    return click.id


def referral_metadata(checkout: Checkout) -> dict[str, str]:
    """What the Stripe Checkout Session's metadata says about the referral (from our row):
    `referral_id` and `affiliate_user_id` of a pending referral, nothing otherwise."""
    referral = referral_of_checkout(checkout.id)
    if referral is None or referral.status != "pending":
        return {}
    return {"referral_id": str(referral.id), "affiliate_user_id": str(referral.affiliate_user_id)}


def binding_of(program_id: int, buyer_id: int) -> Referral | None:
    """The completed referral binding `buyer_id` in the program, if any."""
    return db.session.scalar(
        select(Referral)
        .where(Referral.program_id == program_id, Referral.buyer_id == buyer_id, Referral.status == "completed")
        .execution_options(skip_tenant_scope=True)
    )


def convert_referral(referral: Referral, payment: Payment) -> Referral | None:
    """On the checkout's first confirmed payment: re-check the ban, then bind the buyer (the
    referral becomes `completed`) unless someone bound them first in this program (the
    referral is refused `already_bound`). Returns the referral that earns — the binding — or
    None when nothing earns. The caller holds the checkout's row lock. Flushed."""
    program_id = referral.program_id
    if program_id is None:
        return None
    if referral.status == "refused":
        return binding_of(program_id, referral.buyer_id) if referral.refusal_reason == "already_bound" else None
    if referral.status == "completed":
        return referral
    if is_banned(program_id, referral.affiliate_user_id):
        referral.status, referral.refusal_reason = "refused", "banned"
        db.session.flush()
        return binding_of(program_id, referral.buyer_id)
    bound = binding_of(program_id, referral.buyer_id)
    if bound is not None:
        referral.status, referral.refusal_reason = "refused", "already_bound"
        db.session.flush()
        return bound
    referral.status, referral.converted_at, referral.first_payment_id = "completed", now(), payment.id
    db.session.flush()
    return referral
