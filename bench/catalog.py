"""A realistic catalogue of published gigs, bulk-loaded for benchmarks and demos.

    python -m bench.catalog --gigs 60        # into the app's DATABASE_URL (SQLite or PostgreSQL)

Rows go in with SQLAlchemy Core `insert()` executemany batches: thousands of gigs load in a
couple of seconds. The same seed gives the same catalogue. Seller companies are created
KYC-verified (the database refuses to publish gigs of unverified sellers).
"""

import argparse
import html
import random
from datetime import timedelta

from sqlalchemy import func, insert, select

from app.clock import now
from app.extensions import db
from app.models import Category, Company, Gig, GigExtra, GigPackage
from app.seed import CATEGORIES
from app.services.companies import ensure_platform_company

SELLERS = [
    "Northwind Studio",
    "Pixel & Pine",
    "Brightline Labs",
    "Copper Fox Media",
    "Atlas Dev Co",
    "Lumen Writing",
    "Bluebird Audio",
    "Kestrel Growth",
    "Juniper Data",
    "Harbor Motion",
    "Quill & Key",
    "Saffron Design",
    "Evergreen Ops",
    "Mosaic Translate",
    "Nimbus Apps",
    "Orchard Copy",
    "Riverstone SEO",
    "Signal Sound",
    "Tangent Video",
    "Wildflower Brand",
]

# (title pattern, tags) per category slug; {x} takes one of the category's subjects.
TOPICS = {
    "design": (
        [
            "I will design a {x} that people remember",
            "I will create a modern {x} for your brand",
            "I will redesign your {x} in 48 hours",
            "I will draw a custom {x}",
        ],
        [
            "minimalist logo",
            "brand style guide",
            "app icon set",
            "packaging label",
            "business card",
            "social media kit",
            "mascot illustration",
            "pitch deck template",
        ],
        "logo,branding,illustration,figma",
    ),
    "development": (
        [
            "I will build a {x} with Python and Flask",
            "I will fix bugs in your {x}",
            "I will develop a fast {x}",
            "I will set up and deploy your {x}",
        ],
        [
            "landing page",
            "REST API",
            "Shopify store",
            "WordPress site",
            "Chrome extension",
            "Django dashboard",
            "CI pipeline",
            "Stripe integration",
        ],
        "python,javascript,web,api",
    ),
    "writing": (
        [
            "I will write {x} that converts",
            "I will proofread and edit your {x}",
            "I will translate your {x} from English to Spanish",
            "I will ghostwrite your {x}",
        ],
        [
            "blog articles",
            "product descriptions",
            "website copy",
            "newsletter",
            "ebook",
            "press release",
            "case study",
            "cover letter",
        ],
        "copywriting,editing,seo,translation",
    ),
    "video": (
        [
            "I will edit your {x} like a pro",
            "I will animate an engaging {x}",
            "I will create a {x} for YouTube",
            "I will produce a short {x}",
        ],
        [
            "explainer video",
            "YouTube intro",
            "podcast clip",
            "product demo",
            "wedding film",
            "motion logo",
            "TikTok reel",
            "whiteboard animation",
        ],
        "editing,animation,youtube,motion",
    ),
    "marketing": (
        [
            "I will run your {x} campaign",
            "I will grow your {x}",
            "I will audit your {x} and send a plan",
            "I will manage your {x}",
        ],
        [
            "Google Ads",
            "Instagram account",
            "SEO strategy",
            "email marketing",
            "Facebook ads",
            "LinkedIn presence",
            "local SEO",
            "content calendar",
        ],
        "seo,ads,social,growth",
    ),
    "music": (
        [
            "I will mix and master your {x}",
            "I will record a professional {x}",
            "I will compose an original {x}",
            "I will clean up your {x}",
        ],
        [
            "song",
            "voice-over",
            "podcast audio",
            "jingle",
            "beat",
            "audiobook chapter",
            "game soundtrack",
            "meditation track",
        ],
        "mixing,mastering,voiceover,audio",
    ),
    "business": (
        [
            "I will build a {x} for your startup",
            "I will prepare your {x}",
            "I will research and write your {x}",
            "I will be your {x}",
        ],
        [
            "financial model",
            "business plan",
            "market research report",
            "virtual assistant",
            "Excel dashboard",
            "investor update",
            "competitor analysis",
            "data entry project",
        ],
        "excel,startup,research,finance",
    ),
    "software": (
        [
            "I will sell you a ready-made {x}",
            "I will customise a {x} for you",
            "I will install and configure a {x}",
            "I will license my {x}",
        ],
        [
            "Notion template",
            "WordPress plugin",
            "Figma UI kit",
            "Shopify theme",
            "invoice generator",
            "SaaS starter kit",
            "desktop utility",
            "Discord bot",
        ],
        "template,plugin,license,saas",
    ),
}

PARAGRAPHS = [
    "I have helped more than a hundred clients with projects like yours, from early-stage startups "
    "to established brands.",
    "You get a clear plan before I start, progress updates along the way, and source files at the end.",
    "Every package includes a short call to understand your goals, and I answer messages within a few hours.",
    "Not sure which package fits? Send me a message with a short brief and I will recommend one.",
]
EXTRAS = [
    ("Fast delivery", 2500, 0),
    ("Source files", 1500, 0),
    ("Extra revision", 1000, 1),
    ("Commercial licence", 4000, 0),
    ("Rush 24-hour turnaround", 6000, 0),
]
FAQ = [
    {
        "question": "What do you need from me to get started?",
        "answer": "A short brief, examples you like, and any brand assets you already have.",
    },
    {
        "question": "Can I ask for changes?",
        "answer": "Yes: each package lists its revisions, and you can add more as an extra.",
    },
]


def ensure_categories():
    """The demo categories (same as `flask seed-demo`), created if missing; returns them."""
    existing = {c.slug: c for c in db.session.scalars(select(Category))}
    for position, (slug, name, description) in enumerate(CATEGORIES):
        if slug not in existing:
            existing[slug] = Category(slug=slug, name=name, description=description, position=position)
            db.session.add(existing[slug])
    db.session.flush()
    return [existing[slug] for slug, _, _ in CATEGORIES]


def ensure_sellers():
    """KYC-verified seller companies for the catalogue; returns their ids."""
    platform = ensure_platform_company()
    ids = []
    for title in SELLERS:
        slug = "bench-" + title.lower().replace(" & ", "-").replace(" ", "-")
        company_id = db.session.scalar(select(Company.id).where(Company.slug == slug))
        if company_id is None:
            company_id = db.session.execute(
                insert(Company)
                .values(
                    kind="seller",
                    parent_id=platform.id,
                    title=title,
                    slug=slug,
                    status="active",
                    kyc_status="verified",
                    payouts_enabled=True,
                    created_at=now() - timedelta(days=400),
                )
                .returning(Company.id)
            ).scalar_one()
        ids.append(company_id)
    return ids


def build_rows(n_gigs, categories, seller_ids, seed=7, start=0):
    """(gigs, packages, extras) row dicts for `n_gigs` published gigs, deterministic per seed."""
    rng = random.Random(seed)
    gigs, packages, extras = [], [], []
    base_time = now()
    for i in range(start, start + n_gigs):
        category = categories[i % len(categories)]
        patterns, subjects, tags = TOPICS.get(category.slug, TOPICS["business"])
        title = rng.choice(patterns).format(x=rng.choice(subjects))
        company_id = seller_ids[rng.randrange(len(seller_ids))]
        basic = rng.choice([5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 250, 400]) * 100
        days = rng.choice([1, 2, 3, 3, 5, 7, 7, 10, 14])
        reviews = rng.choice([0, 0, 3, 8, 15, 42, 120, 310])
        rating_sum = round(reviews * rng.uniform(3.6, 5.0)) if reviews else 0
        paragraphs = rng.sample(PARAGRAPHS, 3)
        body = f"{title[0].upper()}{title[1:]}. " + " ".join(paragraphs)
        gig_id = i + 1
        gigs.append(
            dict(
                id=gig_id,
                company_id=company_id,
                category_id=category.id,
                title=title[:120],
                slug=f"{'-'.join(title.lower().replace('&', 'and').split())[:110]}-{gig_id}",
                description_md=body,
                description_html="".join(f"<p>{html.escape(p)}</p>" for p in [body]),
                faq=FAQ,
                tags=tags,
                status="published",
                basic_price_cents=basic,
                min_delivery_days=days,
                rating_sum=rating_sum,
                rating_count=reviews,
                orders_completed=reviews + rng.randrange(0, 30),
                submitted_at=base_time - timedelta(days=i % 300 + 1),
                published_at=base_time - timedelta(days=i % 300, minutes=i),
                created_at=base_time - timedelta(days=i % 300 + 2),
                updated_at=base_time,
            )
        )
        for position, (tier, factor, extra_days, revisions) in enumerate(
            (("basic", 1, 0, 1), ("standard", 2, 2, 3), ("premium", 4, 4, None))
        ):
            packages.append(
                dict(
                    gig_id=gig_id,
                    company_id=company_id,
                    tier=tier,
                    position=position,
                    title={"basic": "Starter", "standard": "Standard", "premium": "Premium"}[tier],
                    description={
                        "basic": "The essentials, done well.",
                        "standard": "More scope and a faster turnaround.",
                        "premium": "Everything, with priority support.",
                    }[tier],
                    price_cents=min(basic * factor, 1_000_000),
                    delivery_days=min(days + extra_days, 90),
                    revisions=revisions,
                )
            )
        for position, (extra_title, price, extra_days) in enumerate(rng.sample(EXTRAS, 2)):
            extras.append(
                dict(
                    gig_id=gig_id,
                    company_id=company_id,
                    position=position,
                    title=extra_title,
                    price_cents=price,
                    extra_days=extra_days,
                    max_quantity=1,
                )
            )
    return gigs, packages, extras


def load_catalog(n_gigs, seed=7, batch=500):
    """Insert `n_gigs` published gigs (with packages and extras) after any existing ones; commits."""
    categories = ensure_categories()
    seller_ids = ensure_sellers()
    start = db.session.scalar(select(func.coalesce(func.max(Gig.id), 0)))
    gigs, packages, extras = build_rows(n_gigs, categories, seller_ids, seed=seed, start=start)
    for model, rows in ((Gig, gigs), (GigPackage, packages), (GigExtra, extras)):
        for offset in range(0, len(rows), batch):
            db.session.execute(insert(model), rows[offset : offset + batch])
    if db.engine.dialect.name == "postgresql":
        db.session.execute(func.setval("gigs_id_seq", start + n_gigs).select())
    db.session.commit()
    return len(gigs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from app import create_app

    with create_app().app_context():
        print(f"loaded {load_catalog(args.gigs, seed=args.seed)} published gigs")


if __name__ == "__main__":
    main()
