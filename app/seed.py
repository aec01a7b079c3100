"""Demo data for `flask seed-demo`. Running it twice changes nothing."""

import io
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import stripe
from flask import current_app
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from app.clock import now
from app.extensions import db
from app.markdown import render_markdown
from app.models import Category, Company, Gig, LicenseActivation, LicensePolicy, Membership, Product, User
from app.models.api_key import READ_SCOPES, ApiKey
from app.money import format_amount
from app.payments import get_gateway
from app.services.accounts import hash_password
from app.services.api_keys import create_key, derived_key, hash_api_key
from app.services.companies import create_seller_company, ensure_platform_company, slugify
from app.services.gigs import save_gig, transition_gig
from app.services.legends.demo import seed_demo_game
from app.services.licensing.issuing import issue_license_for_membership, policy_for
from app.services.licensing.license_keys import license_key
from app.services.plans import save_plan, sync_first_plan
from app.services.rows import existing_or_added

DEMO_PASSWORD = "tradepost-demo-1"

CATEGORIES = [
    ("design", "Graphics & Design", "Logos, brand kits, illustrations and UI design."),
    ("development", "Programming & Tech", "Websites, apps, scripts, bug fixes and DevOps."),
    ("writing", "Writing & Translation", "Copy, articles, editing and translation."),
    ("video", "Video & Animation", "Editing, motion graphics, explainers and intros."),
    ("marketing", "Digital Marketing", "SEO, ads, social media and email campaigns."),
    ("music", "Music & Audio", "Mixing, mastering, voice-over and jingles."),
    ("business", "Business", "Research, spreadsheets, plans and virtual assistance."),
    ("software", "Software & Templates", "Apps, plugins, themes and license-keyed tools."),
]

ADMINS = [("admin@tradepost.test", "Ada Admin")]
SELLERS = [
    ("maria@tradepost.test", "Maria Design", "Maria Design Studio"),
    ("devon@tradepost.test", "Devon Codes", "Devon Codes LLC"),
    ("sam@tradepost.test", "Sam Starter", "Sam's Sound Lab"),
]
# Sellers whose identity is verified (a fake Connect account id); the others have not started.
VERIFIED_SELLERS = {"maria@tradepost.test": "acct_demo_maria", "devon@tradepost.test": "acct_demo_devon"}
BUYERS = [
    ("bob@tradepost.test", "Bob Buyer"),
    ("carol@tradepost.test", "Carol Client"),
    ("dan@tradepost.test", "Dan Founder"),
]


def _user(email, name, intent="hire", is_admin=False):
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        # Demo addresses (.test) receive no mail: they count as confirmed, so demo sellers sell.
        user = User(
            email=email,
            display_name=name,
            intent=intent,
            is_admin=is_admin,
            password_hash=hash_password(DEMO_PASSWORD),
            email_verified_at=now(),
        )
        db.session.add(user)
        db.session.flush()
    return user


def seed_demo_data():
    """Create the demo accounts, categories, gigs and products; returns the lines `flask
    seed-demo` prints: (role, email, password), ("license", key, email), ("product", url) and
    ("legends", url)."""
    ensure_platform_company()
    for position, (slug, name, description) in enumerate(CATEGORIES):
        if db.session.scalar(select(Category).where(Category.slug == slug)) is None:
            db.session.add(Category(slug=slug, name=name, description=description, position=position))
    logins = []
    for email, name in ADMINS:
        _user(email, name, is_admin=True)
        logins.append(("admin", email, DEMO_PASSWORD))
    sellers = {}
    for email, name, company_title in SELLERS:
        user = _user(email, name, intent="sell")
        company = user.seller_company or create_seller_company(user, company_title)
        if email in VERIFIED_SELLERS and company.stripe_account_id is None:
            company.stripe_account_id = VERIFIED_SELLERS[email]
            company.kyc_status, company.payouts_enabled = "verified", True
        sellers[email] = user
        logins.append(("seller", email, DEMO_PASSWORD))
    for email, name in BUYERS:
        _user(email, name)
        logins.append(("buyer", email, DEMO_PASSWORD))
    db.session.flush()
    _seed_gigs(sellers, _user(*ADMINS[0], is_admin=True))
    logins += seed_demo_licenses()
    products = seed_demo_subscription()
    products += seed_demo_game(
        sellers["devon@tradepost.test"].seller_company,
        [_user(email, name) for email, name in BUYERS],
        _user,
        current_app.config["APP_BASE_URL"].rstrip("/"),
    )
    products += seed_demo_api_key()
    db.session.commit()
    if current_app.config["SANDBOX_ENABLED"] and current_app.config["SEED_SANDBOX_ACCOUNTS"]:
        connect_demo_sellers_to_sandbox([sellers[email].seller_company for email in VERIFIED_SELLERS])
        db.session.commit()
    return logins + products


def connect_demo_sellers_to_sandbox(companies):
    """Give verified demo sellers real, verified Connect accounts in the sandbox, so product
    sales (destination charges) and payouts (transfers) work in `make run`.

    Starts a sandbox process for the moment if none answers at SANDBOX_URL. Idempotent: an
    account the sandbox still knows is kept; a placeholder or forgotten one is replaced.
    """
    base = current_app.config["SANDBOX_URL"]
    with _running_sandbox(base):
        gateway = get_gateway()
        for company in companies:
            if company.stripe_account_id and not company.stripe_account_id.startswith("acct_demo_"):
                try:
                    gateway.retrieve_account(company.stripe_account_id)
                    continue
                except stripe.InvalidRequestError:
                    pass
            account = gateway.create_connected_account(
                company.id, company.email, idempotency_key=company.stripe_account_key
            )
            httpx.post(
                f"{base}/_sandbox/accounts/{account.id}/verify", json={"outcome": "verified"}, timeout=10
            ).raise_for_status()
            company.stripe_account_id = account.id


@contextmanager
def _running_sandbox(base):
    if _answers(base):
        yield
        return
    port = urlsplit(base).port or 5055
    # Only for its Stripe API: no mail catcher, which could find its port taken.
    process = subprocess.Popen(
        [sys.executable, "-m", "app.sandbox", "--port", str(port)],
        env={**os.environ, "SANDBOX_SMTP_PORT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not _answers(base):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the sandbox did not start on {base}")
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(base):
    try:
        return httpx.get(f"{base}/_sandbox/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _demo_gigs():
    """The demo gigs, one record each in demo_gigs.json (seller by email, banner colours as RGB)."""
    gigs = json.loads((Path(__file__).parent / "demo_gigs.json").read_text(encoding="utf-8"))
    for gig in gigs:
        gig["colors"] = tuple(tuple(color) for color in gig["colors"])
    return gigs


DEMO_GIGS = _demo_gigs()


def banner_png(title, colors, size=(960, 540)):
    """A gradient banner with the gig title, as PNG bytes (demo gallery images)."""
    width, height = size
    mask = Image.linear_gradient("L").rotate(90).resize(size)
    image = Image.composite(Image.new("RGB", size, colors[1]), Image.new("RGB", size, colors[0]), mask)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=54)
    text = title.replace("I will ", "")
    words, lines = (text[:1].upper() + text[1:]).split(), [""]
    for word in words:
        candidate = f"{lines[-1]} {word}".strip()
        if draw.textlength(candidate, font=font) > width - 140 and lines[-1]:
            lines.append(word)
        else:
            lines[-1] = candidate
    top = (height - 70 * len(lines)) // 2
    for number, line in enumerate(lines):
        draw.text((70, top + 70 * number), line, font=font, fill=(255, 255, 255))
    draw.text((70, height - 70), "tradepost", font=ImageFont.load_default(size=28), fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _seed_gigs(sellers, admin):
    """The demo gigs: published for verified sellers (through the review flow), a draft for Sam."""
    categories = {c.slug: c.id for c in db.session.scalars(select(Category))}
    for spec in DEMO_GIGS:
        if db.session.scalar(select(Gig.id).where(Gig.slug == slugify(spec["title"])[:120])) is not None:
            continue
        user = sellers[spec["seller"]]
        data = {key: spec[key] for key in ("title", "description_md", "tags", "packages", "extras", "questions")}
        data["category_id"] = categories[spec["category"]]
        data["faq"] = [
            {
                "question": "Can I ask for changes?",
                "answer": "Yes: every package includes revisions, listed on the package.",
            }
        ]
        gig = save_gig(
            user.seller_company, user, data, uploads=[("banner.png", banner_png(spec["title"], spec["colors"]))]
        )
        if spec["publish"]:
            transition_gig(gig, "submit", user)
            transition_gig(gig, "approve", admin)


def _seller_company(email: str) -> Company | None:
    """The seller company of the user with this email, None when there is no such seller."""
    seller = db.session.scalar(select(User).where(User.email == email))
    return seller.seller_company if seller is not None else None


def _demo_product(
    company: Company, demo: tuple[str, str, str], description_html: str, **fields: Any
) -> tuple[Product, bool]:
    """The demo product (slug, title, description), created for the company the first time; says if it was."""
    slug, title, description = demo
    return existing_or_added(
        Product,
        {"slug": slug},
        company_id=company.id,
        title=title,
        description_md=description,
        description_html=description_html,
        **fields,
    )


DEMO_PRODUCT = ("devon-cli-pro", "Devon CLI Pro", "A command-line toolkit for deploys. Needs a license key.")


def seed_demo_licenses(
    seller_email: str = "devon@tradepost.test", buyer_emails: tuple[str, ...] = tuple(email for email, _name in BUYERS)
) -> list[tuple[str, str, str]]:
    """Demo: a licensed product of the seller, owned by each buyer, each key active on one
    machine. Idempotent; returns [("license", KEY, buyer email)] for `flask seed-demo` to print."""
    company = _seller_company(seller_email)
    if company is None:
        return []
    product, _created = _demo_product(
        company, DEMO_PRODUCT, f"<p>{DEMO_PRODUCT[2]}</p>", price_cents=4900, billing="one_time"
    )
    sync_first_plan(product)
    if policy_for(product.id) is None:
        db.session.add(
            LicensePolicy(
                company_id=company.id, product_id=product.id, max_activations=3, key_prefix="DEV", key_format="grouped"
            )
        )
        db.session.flush()
    lines = []
    for buyer in db.session.scalars(select(User).where(User.email.in_(buyer_emails)).order_by(User.id)):
        membership = db.session.scalar(
            select(Membership).where(Membership.product_id == product.id, Membership.buyer_id == buyer.id)
        )
        if membership is None:
            membership = Membership(
                company_id=company.id,
                product_id=product.id,
                buyer_id=buyer.id,
                plan_id=product.plans[0].id if product.plans else None,
                status="active",
            )
            db.session.add(membership)
            db.session.flush()
        license = issue_license_for_membership(membership)
        if license.activation_count == 0 and license.reset_count == 0:
            name = buyer.display_name.split()[0]
            db.session.add(
                LicenseActivation(
                    company_id=company.id,
                    license_id=license.id,
                    fingerprint=f"{name.lower()}-laptop-{license.id:04d}",
                    name=f"{name}'s laptop",
                )
            )
            license.activation_count = 1
            db.session.flush()
        lines.append(("license", license_key(license), buyer.email))
    return lines


DEMO_SUBSCRIPTION = (
    "devon-cloud-sync",
    "Devon Cloud Sync",
    "Encrypted sync for your deploy configs, with a members' area of guides.\n\n"
    "Try it free for 7 days on the monthly plan, or save with the yearly plan.",
)


def seed_demo_subscription(seller_email: str = "devon@tradepost.test") -> list[tuple[str, str]]:
    """Demo: a subscription product with a monthly plan (7-day free trial) and a yearly plan,
    beside the licensed one-time product. Idempotent; returns one ("product", URL) line per
    demo product for `flask seed-demo` to print."""
    company = _seller_company(seller_email)
    if company is None:
        return []
    description_html = render_markdown(DEMO_SUBSCRIPTION[2])
    product, created = _demo_product(
        company, DEMO_SUBSCRIPTION, description_html, price_cents=900, billing="month", trial_days=7
    )
    if created:
        monthly = sync_first_plan(product)
        monthly.tier_rank = 1
        yearly = {"name": "Yearly", "billing": "year", "price": format_amount(9000, monthly.currency), "tier_rank": "2"}
        save_plan(product, yearly)
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    demo_slugs = (DEMO_PRODUCT[0], DEMO_SUBSCRIPTION[0])
    return [
        ("product", f"{base}/products/{found}")
        for found in db.session.scalars(select(Product.slug).where(Product.slug.in_(demo_slugs)).order_by(Product.id))
    ]


def seed_demo_api_key(seller_email: str = "devon@tradepost.test") -> list[tuple[str, str, str]]:
    """Demo: a test-mode API key of the seller's company with every read scope, derived from
    SECRET_KEY so each run prints the same key. Returns [("api-key", KEY, company slug)]."""
    company = _seller_company(seller_email)
    if company is None:
        return []
    plaintext = derived_key(current_app.config["SECRET_KEY"], f"demo-api-key:{company.id}")
    if db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(plaintext))) is None:
        create_key(company, name="Demo (read only)", scopes=READ_SCOPES, mode="test", plaintext=plaintext)
    return [("api-key", plaintext, company.slug)]
