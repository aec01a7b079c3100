"""What sellers sell: categories, gigs (packages, extras, questions, images) and products."""

import itertools
from datetime import timedelta

from sqlalchemy import select

from app.clock import now
from app.extensions import db
from app.models import Category, Gig, GigExtra, GigImage, GigPackage, GigQuestion, Plan, Product
from app.services.plans import sync_first_plan
from tests.factories.people import make_seller

_numbers = itertools.count(1)

# The gig the buying and money tests sell (spread it into `make_gig`): Basic $50.00 in 3 days
# with 1 revision, Standard $100.00 in 5 days with 3; extras "Source files" ($15.00, +1 day, up
# to 3) and "Express delivery" ($20.00, at most 1).
LOGO_GIG = {
    "title": "I will design a modern logo",
    "description": "Clean vector logos.",
    "price_cents": 5000,
    "days": 3,
    "tiers": ("basic", "standard"),
    "extras": (("Source files", 1500, 1, 3), ("Express delivery", 2000, 0, 1)),
}

# The questions the order tests' gig asks before work starts (see `answers_for`).
LOGO_QUESTIONS = (
    {"prompt": "Business name", "kind": "short_text", "required": True},
    {"prompt": "Style", "kind": "single_choice", "choices": ["Modern", "Classic"], "required": True},
    {"prompt": "Anything to avoid?", "kind": "long_text", "required": False},
)


def make_category(slug="design", name=None, position=0):
    """The Category `slug`, made (named `name`, default the slug titled) if it does not exist."""
    category = db.session.scalar(select(Category).where(Category.slug == slug))
    if category is None:
        category = Category(slug=slug, name=name or slug.title(), position=position, description=f"All about {slug}.")
        db.session.add(category)
        db.session.commit()
    return category


def make_gig(
    company=None,
    title="A gig",
    *,
    slug=None,
    status="published",
    description="",
    tags="",
    category="design",
    price_cents=2500,
    days=3,
    tiers=("basic",),
    extras=(),
    questions=(),
    faq=(),
    images=0,
    rating=(0, 0),
    orders=0,
    age_days=0,
):
    """A Gig of `company` (default: a new verified seller's) in `status`, `published` by default.

    Packages: one per tier in `tiers`; the n-th (from 0) costs `price_cents` × (n + 1), takes
    `days` + 2n days and allows 2n + 1 revisions (premium: unlimited). `extras`: (title, cents)
    or (title, cents, extra days, max quantity) tuples; `questions`: GigQuestion columns (dicts);
    `images`: how many stored images; `rating`: (sum of stars, count); `orders`: orders completed;
    `category`: a slug (made if missing); `age_days`: how long ago it was published.
    """
    if company is None:
        company = make_seller()[1]
    number = next(_numbers)
    gig = Gig(
        company_id=company.id,
        title=title,
        slug=slug or f"gig-{number}",
        category=make_category(category),
        description_md=description,
        description_html=f"<p>{description}</p>",
        tags=tags,
        faq=list(faq),
        status=status,
        basic_price_cents=price_cents,
        min_delivery_days=days,
        rating_sum=rating[0],
        rating_count=rating[1],
        orders_completed=orders,
        published_at=now() - timedelta(days=age_days, seconds=number) if status == "published" else None,
    )
    for position, tier in enumerate(tiers):
        gig.packages.append(
            GigPackage(
                company_id=company.id,
                tier=tier,
                position=position,
                title=tier.title(),
                description=f"{tier} scope",
                price_cents=price_cents * (position + 1),
                delivery_days=days + 2 * position,
                revisions=None if tier == "premium" else 2 * position + 1,
            )
        )
    for position, (extra_title, cents, *days_and_quantity) in enumerate(extras):
        extra_days, max_quantity = days_and_quantity or (0, 1)
        gig.extras.append(
            GigExtra(
                company_id=company.id,
                position=position,
                title=extra_title,
                price_cents=cents,
                extra_days=extra_days,
                max_quantity=max_quantity,
            )
        )
    for position, question in enumerate(questions):
        gig.questions.append(GigQuestion(company_id=company.id, position=position, **question))
    for position in range(images):
        gig.images.append(
            GigImage(
                company_id=company.id,
                position=position,
                content_type="image/png",
                width=1280,
                height=800,
                size_bytes=1000,
                storage_key=f"gigs/{number}-{position}.png",
            )
        )
    db.session.add(gig)
    db.session.commit()
    return gig


def make_product(company, slug="icon-pack", billing="one_time", price_cents=2900, trial_days=0):
    """A Product of `company` titled after its slug ("icon-pack" → "Icon Pack")."""
    product = Product(
        company_id=company.id,
        title=slug.replace("-", " ").title(),
        slug=slug,
        description_md="A product.",
        description_html="<p>A product.</p>",
        price_cents=price_cents,
        billing=billing,
        trial_days=trial_days,
    )
    db.session.add(product)
    db.session.flush()
    sync_first_plan(product)
    db.session.commit()
    return product


def make_plan(product, name="Pro", billing="month", price_cents=1900, trial_days=0, tier_rank=None, enabled=True):
    """Another Plan of `product` (its first plan comes with `make_product`)."""
    plan = Plan(
        company_id=product.company_id,
        product_id=product.id,
        name=name,
        billing=billing,
        price_cents=price_cents,
        currency="usd",
        trial_days=trial_days,
        tier_rank=tier_rank,
        enabled=enabled,
    )
    db.session.add(plan)
    db.session.commit()
    return plan
