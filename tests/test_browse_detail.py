"""/gigs/<slug>: the public gig page, 404s for unpublished gigs, previews for seller and admin."""

import pytest
from flask import url_for

FAQ = [{"question": "Do you do vector files?", "answer": "Yes, SVG and PDF."}]


@pytest.fixture
def full_gig(make_gig):
    return make_gig(
        title="Lighthouse logo design",
        description="Crisp <strong>marks</strong> for brands",
        tiers=("basic", "standard", "premium"),
        extras=[("Source files", 1500)],
        faq=FAQ,
        tags="logo,branding",
        price_cents=123450,
        orders=7,
    )


def test_gig_page_shows_everything_a_buyer_needs(client, full_gig):
    response = client.get(f"/gigs/{full_gig.slug}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<h1 class="gig-title">Lighthouse logo design</h1>' in page
    assert "Crisp <strong>marks</strong> for brands" in page  # sanitised HTML, rendered as HTML
    assert "$1,234.50" in page and "$2,469.00" in page and "$3,703.50" in page  # money filter
    assert "Unlimited" in page  # premium revisions = None
    assert "Source files" in page and "+$15.00" in page
    assert "Do you do vector files?" in page and "Yes, SVG and PDF." in page
    assert "No reviews yet" in page
    assert full_gig.company.title in page and "Orders completed" in page
    assert "gig-placeholder" in page  # no images yet
    assert page.count('class="button continue') == 6  # 3 in the comparison table, 3 in the box
    assert '<div id="drawer"></div>' in page
    assert "Preview" not in page


def test_continue_buttons_open_checkout_in_the_drawer(app, client, full_gig, make_user, sign_in):
    sign_in(make_user())
    page = client.get(f"/gigs/{full_gig.slug}").get_data(as_text=True)
    with app.test_request_context():
        href = url_for("buy.checkout", slug=full_gig.slug, package="standard")
    assert f'href="{href}" hx-get="{href}" hx-target="#drawer"'.replace("&", "&amp;") in page


def test_gig_with_reviews_shows_its_rating(client, make_gig):
    gig = make_gig(title="Rated", rating=(47, 10))
    page = client.get(f"/gigs/{gig.slug}").get_data(as_text=True)
    assert "4.7" in page and "(10)" in page


@pytest.mark.parametrize("status", ["draft", "review", "rejected", "paused"])
def test_unpublished_gigs_are_404_for_the_public(client, make_gig, make_user, sign_in, status):
    gig = make_gig(title="Hidden", status=status)
    assert client.get(f"/gigs/{gig.slug}").status_code == 404
    sign_in(make_user())
    assert client.get(f"/gigs/{gig.slug}").status_code == 404


def test_unknown_gig_is_404(client):
    assert client.get("/gigs/no-such-gig").status_code == 404


def test_another_seller_cannot_preview(client, make_gig, make_seller, sign_in):
    gig = make_gig(title="Hidden", status="draft")
    other, _ = make_seller()
    sign_in(other)
    assert client.get(f"/gigs/{gig.slug}").status_code == 404


@pytest.mark.parametrize("status", ["draft", "paused"])
def test_seller_previews_own_unpublished_gig(client, make_gig, make_seller, sign_in, status):
    owner, company = make_seller()
    gig = make_gig(title="My draft", status=status, company=company)
    sign_in(owner)
    response = client.get(f"/gigs/{gig.slug}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<strong>Preview</strong>" in page and status in page
    assert 'aria-disabled="true"' in page and 'hx-target="#drawer"' not in page


def test_admin_previews_any_gig(client, make_gig, make_user, sign_in):
    gig = make_gig(title="Under review", status="review")
    sign_in(make_user(is_admin=True))
    response = client.get(f"/gigs/{gig.slug}")
    assert response.status_code == 200
    assert "<strong>Preview</strong>" in response.get_data(as_text=True)
