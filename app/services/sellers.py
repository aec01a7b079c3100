"""Seller companies and their Stripe Connect accounts (KYC)."""
from sqlalchemy import select

from app.extensions import db
from app.models import Company
from app.services.audit import record_audit_event
from app.services.inbound import handles
from app.services.notifications import notify_user


def kyc_status_from_account(account):
    """Our KYC status for a Stripe account object (dict-like)."""
    requirements = account.get("requirements") or {}
    if requirements.get("disabled_reason"):
        return "failed"
    if account.get("charges_enabled") and account.get("details_submitted"):
        return "verified"
    return "pending"


def sync_company_from_account(company, account):
    """Copy KYC status and payouts flag from the Stripe account; notifies owners on change."""
    status = kyc_status_from_account(account)
    payouts = bool(account.get("payouts_enabled"))
    changed = (company.kyc_status, company.payouts_enabled) != (status, payouts)
    previous = company.kyc_status
    company.kyc_status = status
    company.payouts_enabled = payouts
    if changed:
        record_audit_event("seller.kyc_updated", company=company, subject=company,
                           previous=previous, status=status, payouts_enabled=payouts)
        if status != previous:
            for member in company.members:
                if member.role in ("owner", "admin"):
                    notify_user(member.user, "kyc." + status, _KYC_MESSAGES[status])
    db.session.flush()
    return changed


_KYC_MESSAGES = {
    "verified": "Your identity is verified: you can publish gigs and receive payouts.",
    "failed": "Stripe could not verify your details. Open seller onboarding to fix them.",
    "pending": "Stripe is reviewing your details.",
    "unstarted": "Finish seller onboarding to start selling.",
}


@handles("stripe", "account.updated")
def handle_account_updated(event):
    """account.updated → the seller company's kyc_status and payouts_enabled."""
    account = event.data_object
    company = db.session.scalar(select(Company).where(Company.stripe_account_id == account["id"]))
    if company is not None:
        sync_company_from_account(company, account)
