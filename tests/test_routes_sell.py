"""Seller pages the editor tests leave out: the list of one's gigs and the editor's
"remove row" fragment."""

import re
from html import unescape

from tests.factories import LOGO_GIG, make_gig

REMOVE_ROW = re.compile(r'hx-get="([^"]+)" hx-target="closest \.editor-row"')


def test_seller_lists_their_own_gigs_only(client, db, make_seller, sign_in):
    owner, company = make_seller()
    make_gig(company, slug="own-logo", **LOGO_GIG).title = "I will paint your storefront"
    _, rival = make_seller()
    make_gig(rival, slug="rival-logo", **LOGO_GIG).title = "I will rival your storefront"
    db.session.commit()
    sign_in(owner)
    response = client.get("/sell/gigs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "I will paint your storefront" in page and "Pause" in page
    assert "I will rival your storefront" not in page


def test_members_fulfil_orders_but_do_not_run_gigs(client, db, make_seller, sign_in):
    _, company = make_seller()
    make_gig(company, **LOGO_GIG).title = "I will paint your storefront"
    member, _ = make_seller(company=company, role="member")
    db.session.commit()
    sign_in(member)
    assert client.get("/sell/gigs").status_code == 403
    assert client.get("/sell/orders").status_code == 200


def test_user_without_a_seller_company_is_sent_to_become_a_seller(client, make_user, sign_in):
    sign_in(make_user())
    response = client.get("/sell/gigs")
    assert response.status_code == 302 and response.headers["Location"] == "/sell/become"


def test_removing_an_editor_row_swaps_it_for_nothing(client, db, make_seller, sign_in):
    owner, company = make_seller()
    gig = make_gig(company, **LOGO_GIG)
    db.session.commit()
    sign_in(owner)
    editor = client.get(f"/sell/gigs/{gig.id}/edit").get_data(as_text=True)
    url = unescape(REMOVE_ROW.search(editor).group(1))
    assert url == "/sell/gigs/removed-row"
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.get_data() == b""


def test_removed_row_fragment_is_for_sellers_only(client, make_user, sign_in):
    assert client.get("/sell/gigs/removed-row").status_code == 302  # signed out: to sign-in
    sign_in(make_user())
    response = client.get("/sell/gigs/removed-row", headers={"HX-Request": "true"})
    assert response.status_code == 302 and response.headers["Location"] == "/sell/become"
