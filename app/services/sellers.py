"""Seller companies and their Stripe Connect accounts (KYC)."""

from collections.abc import Mapping
from typing import Any

import stripe
from sqlalchemy import select

from app.errors import ServiceError
from app.extensions import db
from app.models import Company, User
from app.payments import PaymentsUnavailable, get_gateway, new_idempotency_key
from app.services.accounts import require_verified_email
from app.services.audit import record_audit_event
from app.services.companies import create_seller_company
from app.services.notifications import notify_user


class OnboardingError(ServiceError):
    """Seller onboarding cannot go on (already a seller: 422 on the name; not allowed: 403)."""

    def __init__(self, message: str, status: int = 403, field: str | None = None):
        super().__init__(status, "onboarding_refused", message, field=field)


def become_seller(user: User, title: str | None) -> Company:
    """Create `user`'s seller company (tenant under the platform) with them as owner; flushed.

    Refuses a user who already belongs to a seller company, or whose email address is not
    confirmed yet (VerificationRequired, 403).
    """
    require_verified_email(user, "you start selling")
    if user.seller_company is not None:
        raise OnboardingError("You already have a seller account.", status=422, field="title")
    title = (title or "").strip()
    company = create_seller_company(user, title)
    record_audit_event("seller.created", actor=user, company=company, subject=company)
    return company


def start_seller_onboarding(
    company: Company, actor: User, refresh_url: str, return_url: str, country: str = "US"
) -> str:
    """The URL of a fresh hosted onboarding link for `company`'s Stripe Express account.

    Creates the account on first use with the company's own random key
    (`stripe_account_key`, committed with the company), so retries and concurrent clicks all
    get the one account; stores its id and moves KYC from unstarted/failed to pending. Links
    are single-use: each request asks for a new one under a fresh random key. Only owners and
    admins may onboard. Raises PaymentsUnavailable when Stripe can't be reached. Flushed; the
    caller commits.
    """
    if not company.is_manager(actor):
        raise OnboardingError("Only the owner or an admin can set up payouts and verification.")
    gateway = get_gateway()
    if company.stripe_account_id is None:
        account = gateway.create_connected_account(
            company.id, company.email or actor.email, country, idempotency_key=company.stripe_account_key
        )
        company.stripe_account_id = account.id
    if company.kyc_status in ("unstarted", "failed"):
        company.kyc_status = "pending"
    link = gateway.create_onboarding_link(
        company.stripe_account_id, refresh_url, return_url, idempotency_key=new_idempotency_key()
    )
    record_audit_event(
        "seller.onboarding_link", actor=actor, company=company, subject=company, account=company.stripe_account_id
    )
    db.session.flush()
    return link.url


def refresh_company_kyc(company: Company) -> bool:
    """Re-read the Stripe account now (the return page must not wait for the webhook) and
    sync KYC status; True when it did. Returns False, changing nothing, when Stripe could not say (unreachable,
    or it refused); the webhook still brings the news. Flushed."""
    if company.stripe_account_id is None:
        return True
    try:
        account = get_gateway().retrieve_account(company.stripe_account_id)
    except (PaymentsUnavailable, stripe.StripeError):
        return False
    sync_company_from_account(company, account.to_dict())
    return True


def kyc_status_from_account(account: Mapping[str, Any]) -> str:
    """Our KYC status for a Stripe account object (dict-like)."""
    requirements = account.get("requirements") or {}
    if requirements.get("disabled_reason"):
        return "failed"
    if account.get("charges_enabled") and account.get("details_submitted"):
        return "verified"
    return "pending"


def sync_company_from_account(company: Company, account: Mapping[str, Any]) -> bool:
    """Copy KYC status and payouts flag from the Stripe account; notifies owners on change."""
    status = kyc_status_from_account(account)
    payouts = bool(account.get("payouts_enabled"))
    changed = (company.kyc_status, company.payouts_enabled) != (status, payouts)
    previous = company.kyc_status
    company.kyc_status = status
    company.payouts_enabled = payouts
    if changed:
        record_audit_event(
            "seller.kyc_updated",
            company=company,
            subject=company,
            previous=previous,
            status=status,
            payouts_enabled=payouts,
        )
        if status != previous:
            for manager in company.managers():
                notify_user(manager, "kyc." + status, _KYC_MESSAGES[status])
    db.session.flush()
    return changed


_KYC_MESSAGES = {
    "verified": "Your identity is verified: you can publish gigs and receive payouts.",
    "failed": "Stripe could not verify your details. Open seller onboarding to fix them.",
    "pending": "Stripe is reviewing your details.",
    "unstarted": "Finish seller onboarding to start selling.",
}


def sync_connected_account(account: Mapping[str, Any]) -> Company | None:
    """account.updated → the kyc_status and payouts_enabled of the seller company whose Connect
    account it is; returns the company, or None for an account that is no seller's."""
    company = db.session.scalar(select(Company).where(Company.stripe_account_id == account["id"]))
    if company is not None:
        sync_company_from_account(company, account)
    return company
