"""The /sell/affiliates program form: what a seller types, parsed to `ProgramSettings`.

Parsing only checks shape (a percentage is a number with at most two decimals, an amount is
money, days are whole numbers, listings are "gig:<id>" or "product:<id>"); every limit (0-100 %,
1-365 days, the listings being the seller's own) is the program service's, whose errors name
the settings attribute — `FIELD_OF` maps those names back to this form's inputs.
"""

import re
from collections.abc import Mapping
from typing import Any

from app.errors import ServiceError
from app.inputs import parse_id, parse_whole_number
from app.money import amount_input_filter, marketplace_currency, parse_amount_cents
from app.services.affiliates.programs import ProgramSettings

PERCENT = re.compile(r"\s*([0-9]{1,3})(?:\.([0-9]{1,2}))?\s*%?\s*", re.ASCII)
LISTING = re.compile(r"(gig|product):([0-9]{1,10})", re.ASCII)
MAX_LISTINGS = 500
# Settings attribute (the service's error field) -> the input that sets it.
FIELD_OF = {"commission_bps": "commission_percent", "commission_cents": "commission_amount", "all_listings": "scope"}


class ProgramFormError(ServiceError):
    """The form's input has the wrong shape: 422 with a message per input."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__(422, "affiliate_program_refused", next(iter(errors.values())), errors=errors)


def parse_percent_bps(text: object) -> int | None:
    """'12.5' or '12.5 %' → 1250 basis points; None when it is not such a number."""
    match = PERCENT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def parse_program_form(form: Any) -> ProgramSettings:
    """`ProgramSettings` from the posted form (a MultiDict); ProgramFormError naming every
    input of the wrong shape, before anything is written."""
    errors: dict[str, str] = {}
    kind = form.get("commission_kind", "")
    bps = parse_percent_bps(form.get("commission_percent", "0") or "0")
    if bps is None:
        errors["commission_percent"] = "Enter the commission as a percentage, like 10 or 12.5."
    cents = parse_amount_cents(form.get("commission_amount", "0") or "0", marketplace_currency())
    if cents is None:
        errors["commission_amount"] = "Enter the fixed commission as an amount, like 5.00."
    days = parse_whole_number(form.get("attribution_days", ""), low=0)
    if days is None:
        errors["attribution_days"] = "Enter the attribution window in whole days, like 30."
    rule = form.get("recurring_rule", "")
    recurring_n = None
    if rule == "first_n":
        recurring_n = parse_whole_number(form.get("recurring_n", ""), low=0)
        if recurring_n is None:
            errors["recurring_n"] = "Enter how many payments earn a commission, like 3."
    listings = []
    for value in form.getlist("listings")[: MAX_LISTINGS + 1]:
        match = LISTING.fullmatch(value)
        listing_id = parse_id(match.group(2)) if match else None
        if match is None or listing_id is None:
            errors["listings"] = "Choose listings from the list."
            break
        listings.append((match.group(1), listing_id))
    if len(listings) > MAX_LISTINGS:
        errors["listings"] = f"Choose at most {MAX_LISTINGS} listings, or include them all."
    scope = form.get("scope", "all")
    if scope not in ("all", "selected"):
        errors["scope"] = "Choose all listings or the ones you tick."
    if errors:
        raise ProgramFormError(errors)
    return ProgramSettings(
        enabled=form.get("enabled") == "on",
        commission_kind=kind,
        commission_bps=bps or 0,
        commission_cents=cents or 0,
        attribution_days=days or 0,
        recurring_rule=rule,
        recurring_n=recurring_n,
        all_listings=scope == "all",
        listings=listings,
        terms=form.get("terms", "").strip(),
    )


def program_form_values(program: Any) -> dict[str, Any]:
    """The form's inputs for a saved program (or the defaults when there is none yet)."""
    settings = program or ProgramSettings()
    chosen = [f"{row.listing_type}:{row.listing_id}" for row in getattr(program, "listings", [])]
    bps = settings.commission_bps
    return {
        "enabled": "on" if settings.enabled else "",
        "commission_kind": settings.commission_kind,
        "commission_percent": f"{bps // 100}" + (f".{bps % 100:02d}".rstrip("0") if bps % 100 else ""),
        "commission_amount": amount_input_filter(settings.commission_cents) if settings.commission_cents else "",
        "attribution_days": str(getattr(settings, "attribution_days", 30)),
        "recurring_rule": settings.recurring_rule,
        "recurring_n": str(settings.recurring_n or ""),
        "scope": "all" if settings.all_listings else "selected",
        "listings": chosen,
        "terms": settings.terms,
    }
