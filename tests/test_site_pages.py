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
