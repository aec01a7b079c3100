"""The home page: hero search, categories, popular and top-rated published gigs."""

from app.models import User
from app.services.search import popular_gigs


def test_home_shows_categories_and_published_gigs(client, make_gig, make_category):
    make_category("writing", "Writing & Translation", position=2)
    make_gig(title="Busy logo studio", orders=40, rating=(48, 10))
    make_gig(title="Secret draft", status="draft", orders=99, rating=(50, 10))
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Tradepost" in page
    assert 'action="/gigs"' in page and 'name="q"' in page
    assert "Writing &amp; Translation" in page and 'href="/categories/writing"' in page
    assert "1 service<" in page and "0 services" in page  # published gigs per category
    assert "Popular services" in page and "Top rated by buyers" in page
    assert page.count("Busy logo studio") == 2
    assert "Secret draft" not in page


def test_home_keeps_the_calls_to_action_for_visitors(client, make_user, sign_in):
    page = client.get("/").get_data(as_text=True)
    assert "I want to hire" in page and "I want to sell" in page
    sign_in(make_user(display_name="Rita"))
    page = client.get("/").get_data(as_text=True)
    assert "I want to hire" not in page and "Welcome back, Rita." in page


def test_empty_marketplace_home(client):
    page = client.get("/").get_data(as_text=True)
    assert "Popular services" not in page and "How Tradepost works" in page


def test_a_company_shown_on_the_cards_still_answers_who_its_members_are(db, make_gig, make_seller):
    """The cards load only the company's name; the same Company object serves the rest of the
    session (a seller's own company on the home page), so access checks can still read it."""
    owner, company = make_seller()
    make_gig(company, "Studio work")
    owner_id = owner.id
    db.session.expunge_all()  # the cards' query is the first to load the company
    card_company = popular_gigs()[0].company
    assert card_company.role_of(db.session.get(User, owner_id)) == "owner"
    assert card_company.kind == "seller" and card_company.is_manager(card_company.managers()[0])
