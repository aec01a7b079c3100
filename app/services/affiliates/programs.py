"""A seller company's affiliate program: settings, included listings, bans, and the
commission arithmetic (integer cents; rounding always in the seller's favour)."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, delete, select

from app.errors import FieldRefusal
from app.extensions import db
from app.models import (
    AffiliateBan,
    AffiliateProgram,
    AffiliateProgramListing,
    Company,
    Gig,
    LegendsClass,
    LegendsGame,
    LegendsMember,
    Product,
    User,
)
from app.models.affiliate import COMMISSION_KINDS, RECURRING_RULES
from app.services.audit import record_audit_event
from app.services.rows import existing_or_added

MAX_TERMS = 5000
MAX_FIXED_CENTS = 1_000_000_00


class ProgramError(FieldRefusal):
    """Program settings that cannot be saved; `field` names the input at fault (422)."""

    refusal_code = "affiliate_program_refused"


@dataclass
class ProgramSettings:
    """What the /sell/affiliates form sends, already parsed to Python types by the form."""

    enabled: bool = False
    commission_kind: str = "percent"
    commission_bps: int = 1000
    commission_cents: int = 0
    attribution_days: int = 30
    recurring_rule: str = "first_only"
    recurring_n: int | None = None
    all_listings: bool = True
    listings: Sequence[tuple[str, int]] = field(default_factory=list)  # ("gig" | "product", id)
    terms: str = ""


def get_program(company_id: int) -> AffiliateProgram | None:
    """The company's program, or None when it never set one up."""
    return db.session.scalar(
        select(AffiliateProgram)
        .where(AffiliateProgram.company_id == company_id)
        .execution_options(skip_tenant_scope=True)
    )


def validate_program(company: Company, settings: ProgramSettings) -> None:
    """Refuse (ProgramError naming the field) settings that make no sense: unknown kinds or
    rules, a rate outside 0-100 %, a negative or huge fixed amount, a window outside 1-365
    days, `first_n` without 1-120 payments, listings that are not the company's, long terms."""
    if settings.commission_kind not in COMMISSION_KINDS:
        raise ProgramError("commission_kind", "Choose a percentage or a fixed amount.")
    if not isinstance(settings.commission_bps, int) or not 0 <= settings.commission_bps <= 10000:
        raise ProgramError("commission_bps", "The commission rate must be between 0 and 100 %.")
    if not isinstance(settings.commission_cents, int) or not 0 <= settings.commission_cents <= MAX_FIXED_CENTS:
        raise ProgramError("commission_cents", "The fixed commission must be between 0 and 1,000,000.")
    if settings.commission_kind == "percent" and settings.commission_bps == 0 and settings.enabled:
        raise ProgramError("commission_bps", "An active program pays a commission above 0 %.")
    if settings.commission_kind == "fixed" and settings.commission_cents == 0 and settings.enabled:
        raise ProgramError("commission_cents", "An active program pays a fixed commission above 0.")
    if not isinstance(settings.attribution_days, int) or not 1 <= settings.attribution_days <= 365:
        raise ProgramError("attribution_days", "The attribution window must be 1 to 365 days.")
    if settings.recurring_rule not in RECURRING_RULES:
        raise ProgramError("recurring_rule", "Choose which subscription payments earn a commission.")
    if settings.recurring_rule == "first_n" and (
        not isinstance(settings.recurring_n, int) or not 1 <= settings.recurring_n <= 120
    ):
        raise ProgramError("recurring_n", "Say how many payments (1 to 120) earn a commission.")
    if len(settings.terms) > MAX_TERMS:
        raise ProgramError("terms", f"Keep the terms under {MAX_TERMS} characters.")
    for listing_type, listing_id in settings.listings:
        found: Gig | Product | None = None
        if listing_type == "gig":
            found = db.session.get(Gig, listing_id)
        elif listing_type == "product":
            found = db.session.get(Product, listing_id)
        if found is None or found.company_id != company.id:
            raise ProgramError("listings", "Choose listings of your own shop.")
    if not settings.all_listings and not settings.listings and settings.enabled:
        raise ProgramError("listings", "Include at least one listing, or all of them.")


def save_program(company: Company, settings: ProgramSettings, actor: User) -> AffiliateProgram:
    """Create or update the company's program from `settings` (validated first: ProgramError,
    nothing written). The included listings are replaced. Audited. Flushed."""
    validate_program(company, settings)
    program = get_program(company.id)
    if program is None:
        program = AffiliateProgram(company_id=company.id)
        db.session.add(program)
    program.enabled = settings.enabled
    program.commission_kind = settings.commission_kind
    program.commission_bps = settings.commission_bps
    program.commission_cents = settings.commission_cents
    program.attribution_days = settings.attribution_days
    program.recurring_rule = settings.recurring_rule
    program.recurring_n = settings.recurring_n if settings.recurring_rule == "first_n" else None
    program.all_listings = settings.all_listings
    program.terms = settings.terms
    db.session.flush()
    db.session.execute(delete(AffiliateProgramListing).where(AffiliateProgramListing.program_id == program.id))
    for listing_type, listing_id in sorted(set(settings.listings)):
        db.session.add(
            AffiliateProgramListing(
                company_id=company.id, program_id=program.id, listing_type=listing_type, listing_id=listing_id
            )
        )
    db.session.flush()
    db.session.expire(program, ["listings"])
    record_audit_event("affiliate_program.saved", actor=actor, company=company, subject=program)
    return program


def program_includes(program: AffiliateProgram, listing_type: str, listing_id: int) -> bool:
    """True when the program covers this gig or product."""
    if program.all_listings:
        return True
    return any(row.listing_type == listing_type and row.listing_id == listing_id for row in program.listings)


def is_banned(program_id: int, affiliate_user_id: int) -> bool:
    """True when the affiliate is banned from the program."""
    return (
        db.session.scalar(
            select(AffiliateBan.id)
            .where(AffiliateBan.program_id == program_id, AffiliateBan.affiliate_user_id == affiliate_user_id)
            .execution_options(skip_tenant_scope=True)
        )
        is not None
    )


def ban_affiliate(program: AffiliateProgram, affiliate: User, actor: User, reason: str = "") -> AffiliateBan:
    """Ban `affiliate` from the program (idempotent: an existing ban is returned). From now on
    their referrals are refused (`banned`) and pay nothing; commissions already earned stay.
    Refuses (ProgramError 422, field `reason`) a reason over 300 characters. Audited. Flushed."""
    if len(reason) > 300:
        raise ProgramError("reason", "Keep the reason under 300 characters.")
    ban, added = existing_or_added(
        AffiliateBan,
        {"program_id": program.id, "affiliate_user_id": affiliate.id},
        company_id=program.company_id,
        reason=reason,
        banned_by_user_id=actor.id,
    )
    if added:
        record_audit_event(
            "affiliate.banned", actor=actor, company=program.company, subject=program, affiliate_user_id=affiliate.id
        )
    return ban


def unban_affiliate(program: AffiliateProgram, affiliate: User, actor: User) -> bool:
    """Lift a ban; False when there was none. Audited. Flushed."""
    ban = db.session.scalar(
        select(AffiliateBan).where(
            AffiliateBan.program_id == program.id, AffiliateBan.affiliate_user_id == affiliate.id
        )
    )
    if ban is not None:
        db.session.delete(ban)
        record_audit_event(
            "affiliate.unbanned", actor=actor, company=program.company, subject=program, affiliate_user_id=affiliate.id
        )
    db.session.flush()
    return ban is not None


def commission_cents(
    program: AffiliateProgram, base_cents: int, seller_share_cents: int, class_bonus_bps: int = 0
) -> int:
    """The commission on a payment of `base_cents` of which the seller's share is
    `seller_share_cents`: `base × bps / 10000` rounded DOWN to the cent (in the seller's
    favour), or the fixed amount; with a Legends class bonus (`class_bonus_bps`, see
    `class_bonus_bps`) that commission C becomes `C + C × bonus_bps // 10000` (down again);
    never more than the seller's share, never negative."""
    if program.commission_kind == "fixed":
        amount = program.commission_cents
    else:
        amount = base_cents * program.commission_bps // 10000
    amount = max(0, min(amount, seller_share_cents))
    return min(amount + amount * class_bonus_bps // 10000, seller_share_cents)


def _funded_classes(company_id: int) -> Select[tuple[LegendsClass]]:
    """The company's Legends classes with a commission bonus, when its game is on and the
    seller funds class bonuses (LegendsGame.class_commission_bonus)."""
    return (
        select(LegendsClass)
        .join(LegendsGame, LegendsGame.company_id == LegendsClass.company_id)
        .where(
            LegendsClass.company_id == company_id,
            LegendsClass.commission_bonus_bps > 0,
            LegendsGame.enabled.is_(True),
            LegendsGame.class_commission_bonus.is_(True),
        )
        .execution_options(skip_tenant_scope=True)
    )


def class_bonus_bps(company_id: int, affiliate_user_id: int) -> int:
    """The commission bonus (basis points of the commission) of the affiliate's class in the
    company's Legends game: 0 unless they play it, in a class with a bonus the seller funds."""
    query = _funded_classes(company_id).join(LegendsMember, LegendsMember.class_id == LegendsClass.id)
    klass = db.session.scalar(query.where(LegendsMember.user_id == affiliate_user_id))
    return klass.commission_bonus_bps if klass is not None else 0


def class_bonus_terms(company_id: int) -> str:
    """The program terms' line on Legends class bonuses ('' without any):
    'members of its Legends game earn more as Sage (+5 % of the commission), paid by the seller'."""
    classes = db.session.scalars(_funded_classes(company_id).order_by(LegendsClass.id)).all()
    if not classes:
        return ""
    each = ", ".join(f"{klass.name} (+{klass.commission_bonus_bps / 100:g} % of the commission)" for klass in classes)
    return f"members of its Legends game earn more as {each}, paid by the seller"


def payment_earns(program: AffiliateProgram, payment_number: int) -> bool:
    """Whether the `payment_number`-th payment of a referred checkout (1 = the first, 2 = the
    first renewal...) earns a commission under the program's recurring rule."""
    if program.recurring_rule == "every":
        return True
    if program.recurring_rule == "first_n":
        return payment_number <= (program.recurring_n or 1)
    return payment_number == 1
