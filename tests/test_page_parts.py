"""Kept parts of signed-in pages (app/pagecache.py `kept`): the listing, the gig page and the
seller home are rendered once for everyone and kept under versions; a change shows on the
very next request, and nobody's own part (CSRF token, referral link, name, a company's
figures) is ever shown to someone else."""

import re

from sqlalchemy import select

from app.extensions import db as _db
from app.models import GigPackage
from app.pagecache import PARTS_PREFIX, kept_parts
from app.services.affiliates.programs import ProgramSettings, save_program
from tests.factories import make_gig, make_order, make_user
from tests.forms import CSRF_META, post_form, sign_in_as

CSRF_INPUT_VALUE = re.compile(r'name="csrf_token" value="([^"]+)"')


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def client_of(app, who):
    client = app.test_client()
    sign_in_as(client, who)
    return client


def test_pages_are_kept_and_served_again_without_building(app, db, cast):
    buyer = client_of(app, cast.buyer)
    page(buyer, "/gigs")  # the "Signed in." flash goes with the first page
    first = page(buyer, f"/gigs/{cast.gig.slug}")
    built = len(kept_parts.items())
    assert page(buyer, f"/gigs/{cast.gig.slug}") == first
    assert len(kept_parts.items()) == built
    assert app.extensions["redis"].get(PARTS_PREFIX + "catalogue") is not None


def test_a_new_review_shows_at_once_on_the_gig_page_and_the_listing(app, db, cast):
    order = make_order(cast, "completed")
    db.session.commit()
    watcher = client_of(app, cast.other_buyer)
    assert "No reviews yet" in page(watcher, f"/gigs/{cast.gig.slug}")
    assert "New seller" in page(watcher, "/gigs")
    buyer = client_of(app, cast.buyer)
    review = post_form(buyer, f"/orders/{order.id}/review", {"rating": "4", "body": "Sharp work, kept to time."})
    assert review.status_code == 303
    gig_page = page(watcher, f"/gigs/{cast.gig.slug}")
    assert "Sharp work, kept to time." in gig_page and "No reviews yet" not in gig_page
    assert "Rated 4.0 out of 5 from 1 review" in page(watcher, "/gigs")


def test_a_price_edit_shows_at_once(app, db, cast):
    watcher = client_of(app, cast.other_buyer)
    assert "$123.45" not in page(watcher, f"/gigs/{cast.gig.slug}")
    package = db.session.scalars(select(GigPackage).where(GigPackage.gig_id == cast.gig.id)).first()
    package.price_cents = 12345
    cast.gig.basic_price_cents = 12345
    db.session.commit()
    assert "$123.45" in page(watcher, f"/gigs/{cast.gig.slug}")
    assert "$123.45" in page(watcher, "/gigs")


def test_a_paused_gig_leaves_the_kept_pages_at_once(app, db, cast):
    watcher = client_of(app, cast.other_buyer)
    assert cast.gig.title in page(watcher, "/gigs")
    page(watcher, f"/gigs/{cast.gig.slug}")
    owner = client_of(app, cast.owner)
    assert post_form(owner, f"/sell/gigs/{cast.gig.id}/pause").status_code == 303
    assert watcher.get(f"/gigs/{cast.gig.slug}").status_code == 404
    assert cast.gig.title not in page(watcher, "/gigs")
    assert "Preview" in page(owner, f"/gigs/{cast.gig.slug}")  # its seller still sees it


def test_an_order_state_change_shows_at_once_on_the_seller_home(app, db, cast):
    order = make_order(cast, "in_progress")
    db.session.commit()
    owner = client_of(app, cast.owner)
    assert "in progress" in page(owner, "/sell/")
    buyer = client_of(app, cast.buyer)
    response = post_form(buyer, f"/orders/{order.id}/actions/request_cancel", {"note": "Plans changed"})
    assert response.status_code == 303
    home = page(owner, "/sell/")
    assert "cancel requested" in home and "in progress" not in home


def test_the_gig_page_carries_each_viewers_own_link_and_token(app, db, cast):
    save_program(cast.company, ProgramSettings(enabled=True, commission_bps=1000, terms="Be nice."), cast.owner)
    db.session.commit()
    pages = {}
    for who in (cast.buyer, cast.other_buyer):
        client = client_of(app, who)
        pages[who.display_name] = (page(client, f"/gigs/{cast.gig.slug}"), client)
    (first, first_client), (second, second_client) = pages.values()
    link = re.compile(r'id="share-link"[^>]*value="([^"]+)"')
    assert link.search(first).group(1) != link.search(second).group(1)
    assert CSRF_META.search(first).group(1) != CSRF_META.search(second).group(1)
    assert "Bea Buyer" in first and "Stan Stranger" not in first
    assert "Stan Stranger" in second and "Bea Buyer" not in second
    # The seller sees their own program's note, not a link of the last visitor's.
    own = page(client_of(app, cast.owner), f"/gigs/{cast.gig.slug}")
    assert 'data-share="own"' in own and 'id="share-link"' not in own


def test_the_seller_home_is_kept_per_company_and_carries_each_members_token(app, db, cast):
    rival_gig = make_gig(cast.other_seller.seller_company, "I will write your rival copy", status="draft")
    db.session.commit()
    owner = client_of(app, cast.owner)
    home = page(owner, "/sell/")
    assert cast.gig.title in home and rival_gig.title not in home
    rival_home = page(client_of(app, cast.other_seller), "/sell/")
    assert rival_gig.title in rival_home and cast.gig.title not in rival_home
    # The same company's other owner: the same table, their own CSRF token in its forms.
    partner = make_user("partner@example.com", display_name="Pat Partner")
    from app.models import CompanyMember

    db.session.add(CompanyMember(company_id=cast.company.id, user_id=partner.id, role="owner"))
    db.session.commit()
    partner_home = page(client_of(app, partner), "/sell/")
    owner_tokens = set(CSRF_INPUT_VALUE.findall(page(owner, "/sell/")))
    partner_tokens = set(CSRF_INPUT_VALUE.findall(partner_home))
    assert owner_tokens and partner_tokens and not owner_tokens & partner_tokens
    assert "csrf-token--" not in partner_home


def test_members_without_management_rights_get_no_gig_forms(app, db, cast):
    manager_home = page(client_of(app, cast.owner), "/sell/")
    assert f"/sell/gigs/{cast.gig.id}/pause" in manager_home
    member_home = page(client_of(app, cast.member), "/sell/")
    assert f"/sell/gigs/{cast.gig.id}/pause" not in member_home


def test_a_rolled_back_write_keeps_nothing_it_did_not_commit(app, db, cast):
    watcher = client_of(app, cast.other_buyer)
    page(watcher, f"/gigs/{cast.gig.slug}")
    cast.gig.title = "A title that never commits"
    _db.session.flush()
    _db.session.rollback()
    assert "A title that never commits" not in page(watcher, f"/gigs/{cast.gig.slug}")


def test_an_order_page_shows_a_new_message_and_state_at_once(app, db, cast):
    order = make_order(cast, "in_progress")
    db.session.commit()
    buyer, owner = client_of(app, cast.buyer), client_of(app, cast.owner)
    assert "Can you use teal?" not in page(buyer, f"/orders/{order.id}")
    page(owner, f"/orders/{order.id}")
    sent = post_form(buyer, f"/orders/{order.id}/messages", {"body": "Can you use teal?"})
    assert sent.status_code in (200, 303)
    assert "Can you use teal?" in page(owner, f"/orders/{order.id}")
    assert post_form(buyer, f"/orders/{order.id}/actions/request_cancel", {"note": "Plans changed"}).status_code == 303
    assert "cancel requested" in page(owner, f"/orders/{order.id}").lower()
    assert "cancel requested" in page(buyer, "/account")


def test_an_order_page_is_never_shown_to_anyone_else(app, db, cast):
    order = make_order(cast, "in_progress")
    db.session.commit()
    buyer_page = page(client_of(app, cast.buyer), f"/orders/{order.id}")
    assert "Bea Buyer" in buyer_page
    assert client_of(app, cast.other_buyer).get(f"/orders/{order.id}").status_code == 404
    assert client_of(app, cast.other_seller).get(f"/orders/{order.id}").status_code == 404
    member = client_of(app, cast.member)
    member_page = page(member, f"/orders/{order.id}")
    assert CSRF_META.search(member_page).group(1) != CSRF_META.search(buyer_page).group(1)
    assert "Max Member" in member_page and "csrf-token--" not in member_page
    # A member who leaves the company loses the page at once, kept or not.
    owner = client_of(app, cast.owner)
    from app.models import CompanyMember

    membership = db.session.scalar(select(CompanyMember).where(CompanyMember.user_id == cast.member.id))
    assert post_form(owner, f"/sell/team/members/{membership.id}/remove").status_code == 303
    assert member.get(f"/orders/{order.id}").status_code == 404
