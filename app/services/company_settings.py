"""A company's own settings (its public profile and payouts) and the ones only Tradepost's
admins set (the platform fee, suspension)."""

import re
from typing import Any

from flask import current_app

from app.errors import ServiceError
from app.extensions import db
from app.models import Company, User
from app.models.company import PAYOUT_SCHEDULES
from app.money import format_money, marketplace_currency, parse_amount_cents
from app.services.audit import record_audit_event

MAX_TITLE = 120
MAX_URL = 500
MAX_DESCRIPTION = 2000
MAX_REASON = 500
MAX_PAYOUT_MINIMUM_UNITS = 1_000_000
_URL = re.compile(r"https?://[^\s/$.?#][^\s]*", re.IGNORECASE)
_HTTPS_URL = re.compile(r"https://[^\s/$.?#][^\s\"'<>]*", re.IGNORECASE)


class SettingsRefused(ServiceError):
    """Settings that can't be saved: `errors` names each field at fault (422)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(422, "settings_refused", next(iter(errors.values())), errors=errors)


def _url(value: str | None, field: str, errors: dict[str, str], pattern: re.Pattern[str] = _URL) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > MAX_URL or not pattern.fullmatch(value):
        errors[field] = f"Enter a web address starting with https:// (at most {MAX_URL} characters)."
    return value


def update_company_settings(company: Company, actor: User, form: dict[str, Any]) -> Company:
    """Save the company's profile (title, logo URL, website, description) and payout settings
    (minimum withdrawal, automatic payout schedule) from `form`; all or nothing, audited."""
    errors: dict[str, str] = {}
    title = (form.get("title") or "").strip()
    if not title or len(title) > MAX_TITLE:
        errors["title"] = f"Enter the company's name (at most {MAX_TITLE} characters)."
    logo_url = _url(form.get("logo_url"), "logo_url", errors, _HTTPS_URL)
    website = _url(form.get("website"), "website", errors)
    description = (form.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = f"Keep the description to {MAX_DESCRIPTION} characters."
    currency = marketplace_currency()
    platform_minimum = current_app.config["PAYOUT_MINIMUM_CENTS"]
    minimum = parse_amount_cents(form.get("payout_minimum") or "", currency, MAX_PAYOUT_MINIMUM_UNITS)
    if minimum is None or minimum < platform_minimum:
        errors["payout_minimum"] = (
            f"Enter an amount of at least {format_money(platform_minimum, currency)}, like 50.00."
        )
    schedule = str(form.get("payout_schedule") or "")
    if schedule not in PAYOUT_SCHEDULES:
        errors["payout_schedule"] = "Choose manual, daily, weekly or monthly."
    if errors:
        raise SettingsRefused(errors)
    before = {
        "title": company.title,
        "payout_minimum_cents": company.payout_minimum_cents,
        "payout_schedule": company.payout_schedule,
    }
    company.title, company.logo_url, company.website, company.description = title, logo_url, website, description
    company.payout_minimum_cents, company.payout_schedule = minimum, schedule
    record_audit_event(
        "company.settings_changed",
        actor=actor,
        company=company,
        subject=company,
        before=before,
        after={"title": title, "payout_minimum_cents": minimum, "payout_schedule": schedule},
    )
    db.session.flush()
    return company


def set_platform_fee(company: Company, admin: User, text: str | None) -> Company:
    """An admin sets the company's platform fee in basis points (0–10000); empty: the default."""
    text = (text or "").strip()
    if text == "":
        bps = None
    else:
        if not re.fullmatch(r"[0-9]{1,5}", text, re.ASCII) or int(text) > 10000:
            raise ServiceError(
                422, "invalid_fee", "Enter the fee in basis points, 0 to 10000 (1000 = 10%).", field="fee_bps"
            )
        bps = int(text)
    before, company.platform_fee_bps = company.platform_fee_bps, bps
    record_audit_event("admin.company_fee_set", actor=admin, company=company, subject=company, before=before, after=bps)
    db.session.flush()
    return company


def suspend_company(company: Company, admin: User, reason: str | None) -> Company:
    """Suspend a seller company: its listings leave search and can't be bought, its payouts
    freeze, and its members see `reason` (required) in a banner."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ServiceError(422, "invalid_reason", f"Say why (at most {MAX_REASON} characters).", field="reason")
    if company.kind != "seller":
        raise ServiceError(409, "not_suspendable", "Only seller companies can be suspended.")
    company.status, company.suspended_reason = "suspended", reason
    record_audit_event("admin.company_suspended", actor=admin, company=company, subject=company, reason=reason)
    db.session.flush()
    return company


def reinstate_company(company: Company, admin: User) -> Company:
    """Lift a suspension."""
    if company.status != "suspended":
        raise ServiceError(409, "not_suspended", "This company is not suspended.")
    company.status, company.suspended_reason = "active", None
    record_audit_event("admin.company_reinstated", actor=admin, company=company, subject=company)
    db.session.flush()
    return company
