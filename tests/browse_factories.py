"""Factories for browse and search tests: categories, KYC-verified sellers and gigs.

Import the fixtures into a test module (`from tests.browse_factories import make_gig`).
"""
import itertools
from datetime import timedelta

import pytest

from app.clock import now
from app.models import Category, Gig, GigExtra, GigImage, GigPackage
from app.services.companies import create_seller_company

_counter = itertools.count(1)


@pytest.fixture
def make_category(db):
    """make_category(slug, name=None) → a Category (reused when the slug exists)."""

    def make(slug="design", name=None, position=0):
        category = db.session.query(Category).filter_by(slug=slug).one_or_none()
        if category is None:
            category = Category(slug=slug, name=name or slug.title(), position=position,
                                description=f"All about {slug}.")
            db.session.add(category)
            db.session.flush()
        return category

    return make


@pytest.fixture
def make_seller(db, make_user):
    """make_seller(title=None, verified=True) → (owner User, seller Company)."""

    def make(title=None, verified=True):
        owner = make_user(intent="sell")
        company = create_seller_company(owner, title or f"Studio {next(_counter)}")
        if verified:
            company.kyc_status = "verified"
        db.session.commit()
        return owner, company

    return make


@pytest.fixture
def make_gig(db, make_category, make_seller):
    """make_gig(title, **options) → a committed Gig with packages, `published` by default.

    Options: status, description, tags, category (slug), company, price_cents (basic package),
    days (basic delivery), rating=(sum, count), orders, images (count), tiers, extras, faq,
    age_days (how long ago it was published).
    """
    default_company = {}

    def make(title="A gig", *, status="published", description="", tags="", category="design",
             company=None, price_cents=2500, days=3, rating=(0, 0), orders=0, images=0,
             tiers=("basic",), extras=(), faq=(), age_days=0):
        if company is None:
            if "company" not in default_company:
                default_company["company"] = make_seller()[1]
            company = default_company["company"]
        n = next(_counter)
        published_at = now() - timedelta(days=age_days, seconds=n)
        gig = Gig(company_id=company.id, title=title, slug=f"gig-{n}", category=make_category(category),
                  description_md=description, description_html=f"<p>{description}</p>", tags=tags,
                  faq=list(faq), status="draft", basic_price_cents=price_cents, min_delivery_days=days,
                  rating_sum=rating[0], rating_count=rating[1], orders_completed=orders,
                  published_at=published_at if status == "published" else None)
        for position, tier in enumerate(tiers):
            gig.packages.append(GigPackage(
                company_id=company.id, tier=tier, position=position, title=tier.title(),
                description=f"{tier} scope", price_cents=price_cents * (position + 1),
                delivery_days=days + position, revisions=None if tier == "premium" else position + 1))
        for position, (extra_title, extra_cents) in enumerate(extras):
            gig.extras.append(GigExtra(company_id=company.id, position=position, title=extra_title,
                                       price_cents=extra_cents))
        for position in range(images):
            gig.images.append(GigImage(company_id=company.id, position=position,
                                       storage_key=f"gigs/{n}-{position}.png", content_type="image/png",
                                       width=1280, height=800, size_bytes=1000))
        db.session.add(gig)
        db.session.flush()
        gig.status = status
        db.session.commit()
        return gig

    return make
