"""/gigs and /categories/<slug>: the listing over HTTP, htmx fragments, query count."""

import re

import pytest
from sqlalchemy import event

from app.extensions import db as _db

HTMX = {"HX-Request": "true", "HX-Target": "results", "HX-Current-URL": "http://localhost/gigs"}


def cards(response):
    """Gig titles in the order the cards render."""
    return re.findall(r'class="gig-card-title"><a href="[^"]+">([^<]+)</a>', response.get_data(as_text=True))


def test_listing_shows_published_gigs_only(client, make_gig):
    make_gig(title="Published logo")
    make_gig(title="Draft logo", status="draft")
    make_gig(title="Paused logo", status="paused")
    response = client.get("/gigs")
    assert response.status_code == 200
    assert cards(response) == ["Published logo"]
    assert "1</strong> service" in response.get_data(as_text=True)


def test_search_and_filters_over_http(client, make_gig):
    make_gig(title="Lighthouse logo", category="design", price_cents=4000, days=2, rating=(45, 10))
    make_gig(title="Lighthouse logo premium", category="design", price_cents=40000, days=2, rating=(45, 10))
    make_gig(title="Lighthouse copy", category="writing", price_cents=4000, days=2, rating=(45, 10))
    response = client.get("/gigs?q=lighthouse&category=design&min_price=10&max_price=100&delivery=3&rating=4")
    assert response.status_code == 200
    assert cards(response) == ["Lighthouse logo"]
    page = response.get_data(as_text=True)
    assert "Up to $100.00" in page and "3 days or less" in page  # active filter chips
    assert 'value="lighthouse"' in page  # the form keeps the query


def test_bad_filter_values_answer_422_with_messages_and_still_list(client, make_gig):
    make_gig(title="Still listed", price_cents=4000)
    response = client.get("/gigs?min_price=cheap&delivery=0&rating=9&category=nope&sort=weird")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Min price must be a whole number of dollars" in page
    assert "Delivery time must be a number of days" in page
    assert "Minimum rating must be a number of stars" in page
    assert "There is no such category." in page
    assert "Choose one of the listed sort orders." in page
    assert 'value="cheap"' in page  # what the visitor typed is kept
    assert cards(response) == ["Still listed"]


def test_hostile_queries_do_not_error(client, make_gig):
    make_gig(title="Logo")
    for q in ['"', "AND", "foo*(", "NEAR(", "'--", "%", "\\"]:
        assert client.get("/gigs", query_string={"q": q}).status_code == 200


def test_pagination_links_and_out_of_range_page(client, make_gig):
    for i in range(26):
        make_gig(title=f"Gig {i:02d}")
    first = client.get("/gigs?sort=price_asc")
    assert len(cards(first)) == 24
    assert 'href="/gigs?sort=price_asc&amp;page=2"' in first.get_data(as_text=True)
    beyond = client.get("/gigs?sort=price_asc&page=500")
    assert beyond.status_code == 200
    assert len(cards(beyond)) == 2
    assert 'aria-current="page">2<' in beyond.get_data(as_text=True)


def test_empty_state(client, make_gig):
    response = client.get("/gigs?q=zebra")
    assert response.status_code == 200
    assert "No services match “zebra”" in response.get_data(as_text=True)


def test_htmx_request_gets_only_the_results_block(client, make_gig):
    make_gig(title="Lighthouse logo")
    make_gig(title="Other thing")
    response = client.get("/gigs?q=lighthouse&category=&min_price=&max_price=&delivery=&rating=&sort=", headers=HTMX)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.lstrip().startswith('<section id="results"')
    assert "<html" not in page and 'id="gig-filters"' not in page
    assert cards(response) == ["Lighthouse logo"]
    assert "HX-Request" in response.headers["Vary"]
    assert response.headers["HX-Push-Url"] == "/gigs?q=lighthouse"


def test_full_page_without_htmx_and_for_boosted_navigation(client, make_gig):
    make_gig(title="Lighthouse logo")
    plain = client.get("/gigs?q=lighthouse")
    boosted = client.get("/gigs?q=lighthouse", headers={"HX-Request": "true", "HX-Boosted": "true"})
    for response in (plain, boosted):
        page = response.get_data(as_text=True)
        assert "<html" in page and 'id="gig-filters"' in page and 'id="results"' in page
        assert "HX-Request" in response.headers["Vary"]
        assert "HX-Push-Url" not in response.headers
    page = plain.get_data(as_text=True)
    assert 'hx-trigger="input changed delay:250ms, search"' in page
    assert 'hx-push-url="true"' in page
    assert 'method="get" action="/gigs"' in page


def test_htmx_with_bad_values_swaps_the_messages_in(client):
    response = client.get("/gigs?max_price=lots", headers=HTMX)
    assert response.status_code == 422
    assert "Max price must be a whole number" in response.get_data(as_text=True)
    assert "<html" not in response.get_data(as_text=True)


def count_queries(app, client, url):
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = _db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200
    return len(statements), response


@pytest.mark.parametrize("url", ["/gigs", "/gigs?q=widget&sort=price_asc", "/"])
def test_query_count_does_not_grow_with_page_size(app, client, db, make_gig, make_seller, url):
    sellers = [make_seller()[1] for _ in range(3)]
    for i in range(3):
        make_gig(
            title=f"Widget {i}",
            company=sellers[i % 3],
            images=2,
            tiers=("basic", "standard", "premium"),
            extras=[("Fast", 1000)],
            rating=(9, 2),
            orders=i,
        )
    db.session.expire_all()
    few, response = count_queries(app, client, url)
    assert len(cards(response)) == (6 if url == "/" else 3)  # home: popular + top rated
    for i in range(3, 24):
        make_gig(
            title=f"Widget {i}",
            company=sellers[i % 3],
            images=2,
            tiers=("basic", "standard", "premium"),
            extras=[("Fast", 1000)],
            rating=(9, 2),
            orders=i,
        )
    db.session.expire_all()
    many, response = count_queries(app, client, url)
    assert len(cards(response)) == (16 if url == "/" else 24)
    assert few == many
    # Listing: categories and the page (gigs, companies, categories, images, total) plus the
    # test's SAVEPOINT; home: categories, counts, popular, top rated plus the SAVEPOINT.
    assert many == (5 if url == "/" else 3)


def test_category_page_redirects_to_the_filtered_listing(client, make_category):
    make_category("design", "Graphics & Design")
    response = client.get("/categories/design")
    assert response.status_code == 302
    assert response.headers["Location"] == "/gigs?category=design"
    assert client.get("/categories/nope").status_code == 404


def test_category_listing_has_its_heading(client, make_gig):
    make_gig(title="Logo", category="design")
    make_gig(title="Article", category="writing")
    response = client.get("/gigs?category=design")
    assert cards(response) == ["Logo"]
    assert "<h1>Design</h1>" in response.get_data(as_text=True)
