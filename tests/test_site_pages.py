"""The pages around the marketplace: greetings after sign-up, the footer's pages (terms,
privacy, help, contact) and the footer itself."""

from tests.forms import post_form


def test_after_sign_up_only_the_welcome_shows_and_a_return_visit_says_welcome_back(client, db):
    response = post_form(
        client,
        "/signup",
        {"display_name": "Nia", "email": "nia@example.com", "password": "long-enough-pw", "intent": "hire"},
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Welcome to Tradepost, Nia!" in page
    assert "Welcome back" not in page
    again = client.get("/").get_data(as_text=True)
    assert "Welcome back, Nia." in again and "Welcome to Tradepost" not in again


FOOTER_PAGES = {
    "/terms": ("Terms of service", "held in escrow"),
    "/privacy": ("Privacy", "Argon2"),
    "/help": ("Help", "When can I withdraw my earnings?"),
    "/contact": ("Contact us", "What to include"),
}


def test_footer_pages_say_something_useful_and_quote_the_settings(app, client, db):
    for path, (heading, phrase) in FOOTER_PAGES.items():
        response = client.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert f"<h1>{heading}</h1>" in page and phrase in page, path
        assert 'aria-current="page"' in page
    assert "keeps a fee of 10% of each order" in client.get("/terms").get_data(as_text=True)
    assert "After 14 days they are <em>available</em>" in client.get("/help").get_data(as_text=True)


def test_the_contact_page_offers_the_configured_support_address(app, client, db, monkeypatch):
    monkeypatch.setitem(app.config, "SUPPORT_EMAIL", "help@market.example")
    page = client.get("/contact").get_data(as_text=True)
    assert 'href="mailto:help@market.example?subject=Tradepost%20support"' in page
    assert "<form" not in page.split('<main class="container" id="main">', 1)[1].split("</main>")[0]
    assert "mailto:help@market.example" in client.get("/privacy").get_data(as_text=True)


def test_every_page_links_the_footer_pages(client, db, make_user, sign_in):
    pages = ["/", "/gigs", "/signin", "/terms", "/no/such/page"]
    for path in pages:
        page = client.get(path).get_data(as_text=True)
        footer = page[page.index('<footer class="footer') :]
        for link in ("/help", "/contact", "/terms", "/privacy"):
            assert f'href="{link}"' in footer, (path, link)
    signed_in = sign_in(make_user("fay@example.com"))
    footer = signed_in.get("/account").get_data(as_text=True).split('<footer class="footer', 1)[1]
    assert 'href="/contact"' in footer


def test_footer_pages_refuse_other_methods_and_unknown_paths(client, db):
    assert client.post("/terms").status_code == 405
    assert client.get("/terms/../../etc/passwd").status_code == 404
    assert client.get("/help?q=%00").status_code == 400  # a NUL anywhere in the query is refused
