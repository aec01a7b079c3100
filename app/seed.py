"""Demo data for `flask seed-demo`. Running it twice changes nothing."""
from sqlalchemy import select

from app.extensions import db
from app.models import Category, User
from app.services.accounts import hash_password
from app.services.companies import create_seller_company, ensure_platform_company

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
]
BUYERS = [
    ("bob@tradepost.test", "Bob Buyer"),
    ("carol@tradepost.test", "Carol Client"),
    ("dan@tradepost.test", "Dan Founder"),
]


def _user(email, name, intent="hire", is_admin=False):
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, display_name=name, intent=intent, is_admin=is_admin,
                    password_hash=hash_password(DEMO_PASSWORD))
        db.session.add(user)
        db.session.flush()
    return user


def seed_demo_data():
    """Create the demo accounts and categories; returns [(role, email, password)]."""
    ensure_platform_company()
    for position, (slug, name, description) in enumerate(CATEGORIES):
        if db.session.scalar(select(Category).where(Category.slug == slug)) is None:
            db.session.add(Category(slug=slug, name=name, description=description, position=position))
    logins = []
    for email, name in ADMINS:
        _user(email, name, is_admin=True)
        logins.append(("admin", email, DEMO_PASSWORD))
    for email, name, company_title in SELLERS:
        user = _user(email, name, intent="sell")
        if user.seller_company is None:
            create_seller_company(user, company_title)
        logins.append(("seller", email, DEMO_PASSWORD))
    for email, name in BUYERS:
        _user(email, name)
        logins.append(("buyer", email, DEMO_PASSWORD))
    db.session.commit()
    return logins
