"""app.services.search: ranking, filters, sorts, pages, refused values, hostile input."""

import pytest
from werkzeug.datastructures import MultiDict

from app.services.search import (
    PAGE_SIZE,
    fts5_match_expression,
    list_categories,
    parse_filters,
    popular_gigs,
    search_gigs,
    seller_stats,
    top_rated_gigs,
)


@pytest.fixture(autouse=True)
def _app_context(db):
    """Every test here talks to the database through the service."""


def titles(page):
    return [gig.title for gig in page.gigs]


def parse(**args):
    """parse_filters on a query string, with the categories that exist."""
    return parse_filters(MultiDict(args), {c.slug: c.id for c in list_categories()})


def test_title_match_ranks_above_description_only_match(make_gig):
    make_gig(title="Brand kit for bakeries", description="I also draw a lighthouse mascot on request.")
    make_gig(title="Lighthouse logo design", description="A clean mark for your brand.")
    make_gig(title="Tag only", tags="lighthouse,logo")
    make_gig(title="Unrelated", description="Spreadsheets.")
    page = search_gigs(parse(q="lighthouse")[0])
    assert titles(page)[0] == "Lighthouse logo design"
    assert set(titles(page)[1:]) == {"Brand kit for bakeries", "Tag only"}
    assert page.total == 3


def test_search_matches_word_forms_and_requires_every_word(make_gig):
    make_gig(title="Designing logos for startups")
    make_gig(title="Logo animation", description="Motion only.")
    assert set(titles(search_gigs(parse(q="logo")[0]))) == {"Logo animation", "Designing logos for startups"}
    assert titles(search_gigs(parse(q="logo startups")[0])) == ["Designing logos for startups"]


def test_filters_combine(make_gig):
    target = make_gig(title="Python API build", category="development", price_cents=5000, days=3, rating=(47, 10))
    make_gig(title="Python API build cheap", category="development", price_cents=1000, days=3, rating=(47, 10))
    make_gig(title="Python API build slow", category="development", price_cents=5000, days=14, rating=(47, 10))
    make_gig(title="Python API build poorly rated", category="development", price_cents=5000, days=3, rating=(30, 10))
    make_gig(title="Python API build unrated", category="development", price_cents=5000, days=3)
    make_gig(title="Python API build in writing", category="writing", price_cents=5000, days=3, rating=(47, 10))
    make_gig(title="Flask dashboard", category="development", price_cents=5000, days=3, rating=(47, 10))
    filters, errors = parse(
        q="python api", category="development", min_price="20", max_price="60", delivery="7", rating="4.5"
    )
    assert errors == {}
    assert (filters.min_price_cents, filters.max_price_cents, filters.max_days, filters.min_rating_tenths) == (
        2000,
        6000,
        7,
        45,
    )
    page = search_gigs(filters)
    assert [g.id for g in page.gigs] == [target.id]


def test_price_bounds_are_inclusive_on_the_basic_package(make_gig):
    make_gig(title="Exactly twenty", price_cents=2000)
    make_gig(title="Twenty and a cent", price_cents=2001)
    assert titles(search_gigs(parse(max_price="20")[0])) == ["Exactly twenty"]
    assert titles(search_gigs(parse(min_price="20", max_price="20")[0])) == ["Exactly twenty"]


def test_sorts(make_gig):
    make_gig(title="Middle", price_cents=3000, rating=(40, 10), age_days=2)
    make_gig(title="Cheap", price_cents=1000, rating=(49, 10), age_days=3)
    make_gig(title="Dear", price_cents=9000, rating=(9, 2), age_days=1)
    make_gig(title="Unrated", price_cents=5000, age_days=0)
    assert titles(search_gigs(parse()[0])) == ["Unrated", "Dear", "Middle", "Cheap"]
    assert titles(search_gigs(parse(sort="newest")[0])) == ["Unrated", "Dear", "Middle", "Cheap"]
    assert titles(search_gigs(parse(sort="price_asc")[0])) == ["Cheap", "Middle", "Unrated", "Dear"]
    assert titles(search_gigs(parse(sort="price_desc")[0])) == ["Dear", "Unrated", "Middle", "Cheap"]
    assert titles(search_gigs(parse(sort="rating")[0])) == ["Cheap", "Dear", "Middle", "Unrated"]


def test_relevance_without_a_query_means_newest():
    filters, errors = parse(sort="relevance")
    assert (filters.sort, errors) == ("newest", {})
    assert parse(q="logo")[0].sort == "relevance"


def test_pages_do_not_overlap_and_clamp_to_the_last(make_gig):
    for i in range(PAGE_SIZE + 5):
        make_gig(title=f"Gig {i:02d}", price_cents=1000)  # same price: the id breaks ties
    first = search_gigs(parse(sort="price_asc")[0])
    second = search_gigs(parse(sort="price_asc", page="2")[0])
    assert (first.total, first.pages, len(first.gigs), len(second.gigs)) == (PAGE_SIZE + 5, 2, PAGE_SIZE, 5)
    assert not {g.id for g in first.gigs} & {g.id for g in second.gigs}
    beyond = search_gigs(parse(sort="price_asc", page="99")[0])
    assert beyond.page == 2 and [g.id for g in beyond.gigs] == [g.id for g in second.gigs]
    assert parse(page="-1")[0].page == 1 and parse(page="two")[0].page == 1


def test_page_numbers_show_gaps():
    from app.services.search import GigPage

    assert GigPage(gigs=[], total=PAGE_SIZE * 20, page=6).page_numbers() == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert GigPage(gigs=[], total=0, page=1).page_numbers() == [1]


def test_empty_results_are_a_page_of_nothing(make_gig):
    page = search_gigs(parse(q="nothingmatchesthis")[0])
    assert (page.gigs, page.total, page.page, page.pages) == ([], 0, 1, 1)


@pytest.mark.parametrize(
    "args, field",
    [
        ({"min_price": "abc"}, "min_price"),
        ({"min_price": "-5"}, "min_price"),
        ({"max_price": "12.50"}, "max_price"),
        ({"max_price": "99999999999999999999"}, "max_price"),
        ({"min_price": "50", "max_price": "10"}, "max_price"),
        ({"delivery": "0"}, "delivery"),
        ({"delivery": "soon"}, "delivery"),
        ({"rating": "6"}, "rating"),
        ({"rating": "4.55"}, "rating"),
        ({"category": "nope"}, "category"),
        ({"sort": "cheapest"}, "sort"),
    ],
)
def test_refused_values_name_the_field_and_are_dropped(args, field):
    filters, errors = parse(**args)
    assert list(errors) == [field]
    assert errors[field]
    assert filters.category is None and filters.max_days is None and filters.min_rating_tenths is None
    assert filters.max_price_cents is None and filters.sort == "newest"
    assert filters.min_price_cents == (5000 if args.get("max_price") == "10" else None)


def test_prices_accept_dollar_signs_and_thousands_separators():
    filters, errors = parse(min_price="$1,000", max_price=" 2000 ")
    assert errors == {} and (filters.min_price_cents, filters.max_price_cents) == (100000, 200000)


@pytest.mark.parametrize("status", ["draft", "review", "rejected", "paused"])
def test_unpublished_gigs_never_appear(make_gig, status):
    make_gig(title="Hidden lighthouse", status=status, rating=(50, 10), orders=99)
    make_gig(title="Visible lighthouse", rating=(40, 10))
    assert titles(search_gigs(parse(q="lighthouse")[0])) == ["Visible lighthouse"]
    assert titles(search_gigs(parse()[0])) == ["Visible lighthouse"]
    assert titles(search_gigs(parse(sort="rating")[0])) == ["Visible lighthouse"]
    assert [g.title for g in popular_gigs()] == ["Visible lighthouse"]
    assert [g.title for g in top_rated_gigs()] == ["Visible lighthouse"]


@pytest.mark.parametrize(
    "q",
    [
        '"',
        "AND",
        "foo*(",
        "NEAR(a b)",
        "title:foo",
        "-x",
        "^start",
        "OR OR NOT",
        "'; DROP TABLE gigs; --",
        "***",
        '"unterminated',
        "a" * 500,
        "日本語 ロゴ",
        "(",
        ")",
        "{title}: x",
        "!!",
        "<&>",
    ],
)
def test_hostile_search_input_does_not_error(make_gig, q):
    make_gig(title="Logo design", description="AND foo title near")
    page = search_gigs(parse(q=q)[0])
    assert page.total == len(page.gigs)


def test_fts5_expression_quotes_every_token():
    assert fts5_match_expression('logo AND "brand" foo*(') == '"logo" "AND" "brand" "foo"'
    assert fts5_match_expression('"*()') == ""


def test_query_is_trimmed_and_capped():
    filters, _ = parse(q="  logo    design  " + "x" * 400)
    assert filters.q.startswith("logo design ") and len(filters.q) == 200
    assert parse(q=' " ')[0].is_search is False


def test_home_sections(make_gig):
    make_gig(title="Busy", orders=50)
    make_gig(title="Quiet", orders=1, rating=(50, 10))
    make_gig(title="Unrated", orders=5)
    assert [g.title for g in popular_gigs()] == ["Busy", "Unrated", "Quiet"]
    assert [g.title for g in top_rated_gigs()] == ["Quiet"]


def test_seller_stats_count_published_gigs_only(make_gig, make_seller):
    _, company = make_seller()
    make_gig(title="One", company=company, orders=3, rating=(9, 2))
    make_gig(title="Two", company=company, orders=4, rating=(5, 1))
    make_gig(title="Draft", company=company, status="draft", orders=100, rating=(100, 20))
    stats = seller_stats(company.id)
    assert (stats.gigs, stats.orders_completed, stats.rating_count, stats.rating) == (2, 7, 3, 4.7)
