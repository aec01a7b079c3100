"""Companies (tenants) and their members."""

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Company, CompanyMember, User

PLATFORM_SLUG = "tradepost"


def slugify(text: str | None) -> str:
    """A URL slug of `text` (lowercase letters, digits and dashes, at most 60), "company" when empty."""
    slug = re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")
    return slug[:60] or "company"


def unique_company_slug(title: str) -> str:
    """A slug for `title` that no company uses yet."""
    base = slugify(title)
    slug, n = base, 2
    while db.session.scalar(select(Company.id).where(Company.slug == slug)) is not None:
        slug, n = f"{base}-{n}", n + 1
    return slug


def ensure_platform_company() -> Company:
    """The platform company, created on first use."""
    platform = db.session.scalar(select(Company).where(Company.kind == "platform"))
    if platform is None:
        platform = Company(
            kind="platform", title="Tradepost", slug=PLATFORM_SLUG, kyc_status="verified", payouts_enabled=False
        )
        db.session.add(platform)
        db.session.flush()
    return platform


def create_seller_company(owner: User, title: str, email: str | None = None) -> Company:
    """A seller company under the platform with `owner` as its owner member."""
    company = Company(
        kind="seller",
        parent_id=ensure_platform_company().id,
        title=title.strip(),
        slug=unique_company_slug(title),
        email=email or owner.email,
    )
    db.session.add(company)
    db.session.flush()
    db.session.add(CompanyMember(company_id=company.id, user_id=owner.id, role="owner"))
    db.session.flush()
    db.session.refresh(company)
    db.session.refresh(owner)
    return company
