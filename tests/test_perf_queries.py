"""Signed-in pages send the same number of SQL statements however much data they show
(issue 22): /gigs, a gig page, the seller's home, an order page and /account, each measured
with one row of what it lists and again with 30, both when their kept parts (app/pagecache.py)
are built afresh and when they are reused; none of them spends one on the session or the bell
once warm, and the listing and the gig page none at all."""

import pytest

from app.pagecache import bump_parts_version
from tests.factories.catalogue import make_gig
from tests.factories.orders import make_order
from tests.queries import statements_during


def grow(cast, count):
    """`count` more published gigs of the cast's company, each with an order of the buyer."""
    for n in range(count):
        gig = make_gig(cast.company, f"I will grow your app, take {n}", tiers=("basic", "standard"), images=1)
        make_order(type(cast)(company=cast.company, gig=gig, buyer=cast.buyer), status="in_progress")


def pages(cast, order):
    return {
        "/gigs": (cast.buyer, "/gigs"),
        "gig page": (cast.buyer, f"/gigs/{cast.gig.slug}"),
        "order page": (cast.buyer, f"/orders/{order.id}"),
        "/account": (cast.buyer, "/account"),
        "/sell": (cast.owner, "/sell/"),
    }


# Statements of a warm request whose kept parts are current.
REUSED = {"/gigs": 0, "gig page": 0, "order page": 0, "/account": 0, "/sell": 0}


@pytest.mark.parametrize("page", ["/gigs", "gig page", "order page", "/account", "/sell"])
def test_a_signed_in_page_sends_as_many_statements_with_30_rows_as_with_1(app, db, cast, client, sign_in, page):
    order = make_order(cast, status="in_progress")
    who, url = pages(cast, order)[page]
    sign_in(who)

    def count():
        """(statements of a request that builds the page's kept parts, of the next one that
        reuses them, the page)."""
        db.session.expire_all()
        bump_parts_version()
        responses = []
        built = statements_during(lambda: responses.append(client.get(url)))
        db.session.expire_all()
        reused = statements_during(lambda: responses.append(client.get(url)))
        assert [r.status_code for r in responses] == [200, 200]
        return built, reused, responses[1].get_data(as_text=True)

    count()  # the first requests of the session fill the caches (the identity cache takes two)
    count()
    one, one_reused, _ = count()
    # A warm request looks up neither the session nor the unread count (app/identity_cache.py).
    assert not [s for s in one + one_reused if "user_sessions" in s or "FROM notifications" in s], "\n".join(one)
    assert len(one_reused) == REUSED[page], "\n".join(one_reused)
    grow(cast, 30)
    thirty, thirty_reused, body = count()
    assert len(thirty) == len(one), "\n".join(thirty)
    assert len(thirty_reused) == len(one_reused), "\n".join(thirty_reused)
    if page in ("/gigs", "/account", "/sell"):  # the page lists what was added
        assert body.count("I will grow your app") >= 5


@pytest.mark.parametrize("url", ["/sell/", "/sell/gigs"])
def test_the_sellers_gig_table_reads_only_what_it_shows(db, cast, client, sign_in, url):
    sign_in(cast.owner)
    client.get(url)
    db.session.expire_all()
    bump_parts_version()  # the seller home keeps its table: measure the request that builds it
    responses = []
    statements = statements_during(lambda: responses.append(client.get(url)))
    assert responses[0].status_code == 200 and cast.gig.title in responses[0].get_data(as_text=True)
    gig_reads = [s for s in statements if s.startswith("SELECT gigs.")]
    assert gig_reads and not [s for s in gig_reads if "description_md" in s or "gigs.faq" in s]
    assert not [s for s in statements if "FROM gig_extras" in s or "FROM gig_questions" in s]
