"""The anonymous page cache: served from Redis, never for signed-in users, stale on changes."""

import pytest
from sqlalchemy import select

from app.models import Gig
from app.pagecache import bump_catalog_version
from tests.factories import LOGO_GIG, PASSWORD
from tests.forms import CSRF_META, post_form


@pytest.fixture
def cached(app, monkeypatch, make_seller, make_gig):
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 30)
    bump_catalog_version()  # Redis was flushed: this process's memory of the version must move on too
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


def test_signed_in_users_get_a_page_of_their_own_around_the_shared_listing(client, db, make_user, cached):
    """Never a whole cached page once signed in; the listing inside it is kept for everyone
    under the parts version, which the commit of a change moves: the change shows at once."""
    user = make_user(email="fresh@example.com", display_name="Fresh Buyer")
    client.get("/gigs")
    post_form(client, "/signin", {"email": user.email, "password": PASSWORD})
    assert "I will design a modern logo" in client.get("/gigs").get_data(as_text=True)
    gig = db.session.scalars(select(Gig)).one()
    gig.title = "Fresh title"
    db.session.commit()
    page = client.get("/gigs").get_data(as_text=True)
    assert 'name="csrf-token"' in page and "Fresh Buyer" in page
    assert "Fresh title" in page and "I will design a modern logo" not in page


def test_the_shared_listing_carries_nothing_of_the_user_who_filled_it(app, db, make_user, cached):
    """Two users on the same listing: each page has its own name, token and bell, the same cards."""
    pages = {}
    for name in ("Alice Early", "Bob Later"):
        client = app.test_client()
        user = make_user(display_name=name)
        post_form(client, "/signin", {"email": user.email, "password": PASSWORD})
        full = client.get("/gigs?q=logo").get_data(as_text=True)
        fragment = client.get("/gigs?q=logo", headers={"HX-Request": "true"}).get_data(as_text=True)
        pages[name] = (full, fragment)
    (alice, alice_fragment), (bob, bob_fragment) = pages["Alice Early"], pages["Bob Later"]
    assert "Alice Early" in alice and "Alice Early" not in bob and "Bob Later" in bob
    assert CSRF_META.search(alice).group(1) != CSRF_META.search(bob).group(1)
    assert alice_fragment == bob_fragment and "I will design a modern logo" in bob_fragment
    assert "csrf" not in bob_fragment and "Alice" not in bob_fragment
