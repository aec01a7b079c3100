"""The tenant scope: reads filtered to the current company, writes to others refused."""

import pytest
from sqlalchemy import func, select, text

from app.models import Category, Gig, GigPackage
from app.services.companies import create_seller_company
from app.tenancy import TenantViolation, tenant_scope


@pytest.fixture
def two_sellers(db, make_user):
    category = Category(slug="design", name="Design")
    db.session.add(category)
    companies = []
    for name in ("Alpha", "Beta"):
        company = create_seller_company(make_user(intent="sell"), f"{name} Studio")
        gig = Gig(company_id=company.id, title=f"{name} logo", slug=f"{name.lower()}-logo", category=category)
        gig.packages.append(
            GigPackage(company_id=company.id, tier="basic", title="Basic", price_cents=1000, delivery_days=3)
        )
        db.session.add(gig)
        companies.append(company)
    db.session.commit()
    return companies


def test_selects_see_only_the_current_tenant(db, two_sellers):
    alpha, beta = two_sellers
    with tenant_scope(alpha.id):
        titles = db.session.scalars(select(Gig.title)).all()
        assert titles == ["Alpha logo"]
        assert db.session.scalar(select(func.count()).select_from(GigPackage)) == 1
        beta_gig_id = db.session.execute(text("SELECT id FROM gigs WHERE company_id = :c"), {"c": beta.id}).scalar()
        db.session.expunge_all()
        assert db.session.get(Gig, beta_gig_id) is None
    assert len(db.session.scalars(select(Gig)).all()) == 2


def test_writes_to_another_tenant_are_refused(db, two_sellers):
    alpha, beta = two_sellers
    beta_gig = db.session.scalars(select(Gig).where(Gig.company_id == beta.id)).one()
    with tenant_scope(alpha.id):
        beta_gig.title = "Hijacked"
        with pytest.raises(TenantViolation):
            db.session.flush()
        db.session.rollback()
        db.session.add(Gig(company_id=beta.id, title="Planted", slug="planted", category_id=1))
        with pytest.raises(TenantViolation):
            db.session.flush()
        db.session.rollback()


def test_new_rows_default_to_the_current_tenant(db, two_sellers):
    alpha, _ = two_sellers
    category_id = db.session.scalar(select(Category.id))
    with tenant_scope(alpha.id):
        gig = Gig(title="New one", slug="new-one", category_id=category_id)
        db.session.add(gig)
        db.session.flush()
        assert gig.company_id == alpha.id
