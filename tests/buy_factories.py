"""Factories for buying tests: a verified seller with a published gig, products, buyers."""
import httpx
from sqlalchemy import select

from app.extensions import db
from app.models import Category, Gig, GigExtra, GigPackage, Product
from app.services.accounts import register_user
from app.services.companies import create_seller_company

PASSWORD = "long-enough-pw"


def make_category():
    category = db.session.scalar(select(Category).where(Category.slug == "design"))
    if category is None:
        category = Category(slug="design", name="Design")
        db.session.add(category)
        db.session.flush()
    return category


def make_seller(email="seller@example.com", title="Pixel Studio", stripe_account_id=None, fee_bps=None):
    owner = register_user(email, PASSWORD, "Sally Seller", "sell")
    company = create_seller_company(owner, title)
    company.kyc_status = "verified"
    company.payouts_enabled = True
    company.stripe_account_id = stripe_account_id or f"acct_test_{company.id}"
    company.platform_fee_bps = fee_bps
    db.session.flush()
    return owner, company


def make_gig(company, slug="logo-design", status="published"):
    gig = Gig(company_id=company.id, title="I will design a modern logo", slug=slug,
              category=make_category(), description_md="Clean vector logos.",
              description_html="<p>Clean vector logos.</p>", status=status,
              basic_price_cents=5000, min_delivery_days=3)
    gig.packages = [
        GigPackage(company_id=company.id, tier="basic", title="Basic", price_cents=5000,
                   delivery_days=3, revisions=1, position=0),
        GigPackage(company_id=company.id, tier="standard", title="Standard", price_cents=10000,
                   delivery_days=5, revisions=3, position=1),
    ]
    gig.extras = [
        GigExtra(company_id=company.id, title="Source files", price_cents=1500, extra_days=1,
                 max_quantity=3, position=0),
        GigExtra(company_id=company.id, title="Express delivery", price_cents=2000, extra_days=0,
                 max_quantity=1, position=1),
    ]
    db.session.add(gig)
    db.session.flush()
    return gig


def make_product(company, slug="icon-pack", billing="one_time", price_cents=2900, trial_days=0):
    product = Product(company_id=company.id, title=slug.replace("-", " ").title(), slug=slug,
                      description_md="A product.", description_html="<p>A product.</p>",
                      price_cents=price_cents, billing=billing, trial_days=trial_days)
    db.session.add(product)
    db.session.flush()
    return product


def make_buyer(email="buyer@example.com"):
    return register_user(email, PASSWORD, "Bea Buyer", "hire")


def pay_hosted_checkout(url, card="4242 4242 4242 4242"):
    """Pay a sandbox-hosted checkout page with a real form POST, as a browser would."""
    page = httpx.get(url)
    assert page.status_code == 200, page.text[:300]
    return httpx.post(url + "/pay", data={"email": "buyer@example.com", "name": "Bea Buyer",
                                          "card_number": card, "exp": "12 / 34", "cvc": "123"})
