"""The anonymous page cache: served from Redis, never for signed-in users, stale on changes."""

import pytest
from sqlalchemy import select

from app.models import Gig
from app.pagecache import bump_catalog_version
from tests.factories import LOGO_GIG, PASSWORD
from tests.forms import post_form


@pytest.fixture
def cached(app, monkeypatch, make_seller, make_gig):
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 30)
    _, company = make_seller(connected=True)
    make_gig(company, slug="logo-design", **LOGO_GIG)
    return company


def test_anonymous_listing_is_served_from_the_cache_until_the_catalogue_changes(client, db, cached):
    first = client.get("/gigs")
    assert "I will design a modern logo" in first.get_data(as_text=True)
    assert "Set-Cookie" not in first.headers and 'name="csrf-token"' not in first.get_data(as_text=True)
    gig = db.session.scalars(select(Gig)).one()
    gig.title = "Renamed without telling the cache"
    db.session.commit()
    assert "I will design a modern logo" in client.get("/gigs").get_data(as_text=True)
    bump_catalog_version()
    assert "Renamed without telling the cache" in client.get("/gigs").get_data(as_text=True)


def test_htmx_fragments_and_full_pages_are_cached_apart(client, cached):
    page = client.get("/gigs?q=logo").get_data(as_text=True)
    fragment = client.get("/gigs?q=logo", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" in page and "<html" not in fragment
    assert "<html" in client.get("/gigs?q=logo").get_data(as_text=True)


def test_signed_in_users_always_get_a_fresh_page(client, db, make_user, cached):
    user = make_user(email="fresh@example.com")
    client.get("/gigs")
    post_form(client, "/signin", {"email": user.email, "password": PASSWORD})
    gig = db.session.scalars(select(Gig)).one()
    gig.title = "Fresh title"
    db.session.commit()
    page = client.get("/gigs").get_data(as_text=True)
    assert "Fresh title" in page and 'name="csrf-token"' in page
