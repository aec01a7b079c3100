"""A product's plans: the ways to buy it (one-time, monthly or yearly; price, free trial, tier).

Every product has at least one plan. The product form's price, billing and trial are those of
its first plan (created with the product, kept in step when the product is edited); the seller
adds more plans, edits them and disables them on the product's page in /sell. Disabled plans
keep their members but can't be bought. Bad input raises PlanError naming the field, and
nothing is written.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from app.errors import ServiceError
from app.extensions import db
from app.inputs import parse_id, parse_whole_number
from app.models import Plan, Product
from app.models.product import BILLING, MAX_TIER_RANK
from app.money import format_money, marketplace_currency, parse_amount_cents

DEFAULT_PLAN_NAMES = {"one_time": "Standard", "month": "Monthly", "year": "Yearly"}
MAX_PLAN_NAME = 80
MAX_PLANS = 10


class PlanError(ServiceError):
    """Plan form input that cannot be saved; `errors` maps field name → message (422)."""

    def __init__(self, errors: dict[str, str], status: int = 422):
        super().__init__(status, "invalid_plan", "; ".join(errors.values()), errors=errors)


class PlanRefused(ServiceError):
    """A plan a buyer can't choose: another product's, disabled, or not a plan id at all."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(status, "plan_refused", message, field="plan")


def checked_price(value: str | None, errors: dict[str, str]) -> int | None:
    """A plan's or product's price typed in the marketplace currency, in minor units; an error
    under "price" when it is not between 1.00 and 10,000.00."""
    currency = marketplace_currency()
    price = parse_amount_cents(value, currency)
    if price is None or not 100 <= price <= 1_000_000:
        errors["price"] = (
            f"Price must be between {format_money(100, currency)} and {format_money(1_000_000, currency)}."
        )
    return price


def validate_plan_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Cleaned plan fields from a form (name, billing, price, trial_days, tier_rank), or
    PlanError with one message per bad field."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    data["name"] = (form.get("name") or "").strip()
    if not 1 <= len(data["name"]) <= MAX_PLAN_NAME:
        errors["name"] = f"Give the plan a name of 1 to {MAX_PLAN_NAME} characters."
    data["billing"] = form.get("billing", "")
    if data["billing"] not in BILLING:
        errors["billing"] = "Choose one-time, monthly or yearly."
    data["price_cents"] = checked_price(form.get("price"), errors)
    trial = parse_whole_number((form.get("trial_days") or "").strip() or "0", 0, 90)
    if trial is None:
        errors["trial_days"] = "Trial days must be between 0 and 90."
    elif trial and data["billing"] == "one_time":
        errors["trial_days"] = "Only monthly and yearly plans can have a free trial."
    data["trial_days"] = trial or 0
    raw_tier = (form.get("tier_rank") or "").strip()
    data["tier_rank"] = parse_whole_number(raw_tier, 1, MAX_TIER_RANK) if raw_tier else None
    if raw_tier and data["tier_rank"] is None:
        errors["tier_rank"] = f"Tier must be a whole number from 1 to {MAX_TIER_RANK}, or empty."
    if errors:
        raise PlanError(errors)
    return data


def save_plan(product: Product, form: Mapping[str, str], plan: Plan | None = None) -> Plan:
    """Add a plan to `product` (or update `plan`, one of its own) from form data. Flushes."""
    data = validate_plan_form(form)
    if plan is None:
        count = len(db.session.scalars(select(Plan.id).where(Plan.product_id == product.id)).all())
        if count >= MAX_PLANS:
            raise PlanError({"name": f"A product can have up to {MAX_PLANS} plans."}, status=409)
        plan = Plan(company_id=product.company_id, product_id=product.id, currency=marketplace_currency())
    for name, value in data.items():
        setattr(plan, name, value)
    db.session.add(plan)
    db.session.flush()
    if plan.id == first_plan_id(product):
        _mirror_on_product(product, plan)
    return plan


def set_plan_enabled(product: Product, plan: Plan, enabled: bool) -> Plan:
    """Put a plan on sale again or take it off sale; its members keep what they have."""
    plan.enabled = enabled
    db.session.flush()
    return plan


def get_product_plan(product: Product, plan_id: int) -> Plan | None:
    """The product's plan `plan_id`, or None (also for another product's plan)."""
    return db.session.scalar(
        select(Plan).where(Plan.id == plan_id, Plan.product_id == product.id).execution_options(skip_tenant_scope=True)
    )


def first_plan_id(product: Product) -> int | None:
    return db.session.scalar(
        select(Plan.id)
        .where(Plan.product_id == product.id)
        .order_by(Plan.id)
        .limit(1)
        .execution_options(skip_tenant_scope=True)
    )


def sync_first_plan(product: Product) -> Plan:
    """Create the product's first plan from its price, billing and trial, or keep it in step
    with them. Called by save_product after the product is flushed."""
    plan_id = first_plan_id(product)
    plan = db.session.get(Plan, plan_id) if plan_id is not None else None
    if plan is None:
        plan = Plan(
            company_id=product.company_id,
            product_id=product.id,
            name=DEFAULT_PLAN_NAMES[product.billing],
            currency=marketplace_currency(),
        )
        db.session.add(plan)
    plan.billing, plan.price_cents = product.billing, product.price_cents
    plan.trial_days = product.trial_days if product.billing != "one_time" else 0
    db.session.flush()
    return plan


def _mirror_on_product(product: Product, plan: Plan) -> None:
    """The product's own price, billing and trial are its first plan's (listings show them)."""
    product.price_cents, product.billing, product.trial_days = plan.price_cents, plan.billing, plan.trial_days
    db.session.flush()


def choose_plan(product: Product, raw: object) -> Plan:
    """The plan a buyer picked for `product` (a form's `plan` value): its first enabled plan
    when none was given. Refuses another product's plan, a disabled one and anything that
    isn't a plan id (PlanRefused, field `plan`)."""
    text = raw.strip() if isinstance(raw, str) else ""
    if raw is None or text == "":
        plans = product.enabled_plans
        if not plans:
            raise PlanRefused("This product has no plan on sale right now.", status=409)
        return plans[0]
    plan_id = parse_id(text)
    if plan_id is None:
        raise PlanRefused("Choose one of this product's plans.")
    plan = get_product_plan(product, plan_id)
    if plan is None:
        raise PlanRefused("Choose one of this product's plans.")
    if not plan.enabled:
        raise PlanRefused("That plan isn't on sale any more. Choose another.", status=409)
    return plan
