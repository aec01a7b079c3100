"""Journey (d): someone joins, is asked to confirm their email, opens the verification email in
the sandbox's mail viewer, clicks its link, and the banner is gone."""

from __future__ import annotations

from playwright.sync_api import expect

from .flows import confirm_email, sign_up


def test_sign_up_then_confirm_the_email_from_the_mail_viewer(people):
    person = people("Vera Verify")
    sign_up(person, intent="sell")
    page = person.page
    banner = page.get_by_test_id("verify-banner")
    expect(banner).to_contain_text(f"we sent a link to {person.email}")
    person.check("signed up, email not confirmed", screenshot="verify-banner")

    # Selling waits for the confirmation.
    person.visit("/sell/become", "become a seller, unconfirmed")
    expect(page.get_by_text("Confirm your email address first")).to_be_visible()

    confirm_email(person, screenshot="verify")

    person.visit("/account/settings", "settings, confirmed", screenshot="settings-confirmed")
    expect(page.get_by_test_id("verify-banner")).to_have_count(0)
    expect(page.get_by_text("Confirmed", exact=True)).to_be_visible()
    person.visit("/sell/become", "become a seller, confirmed")
    expect(page.get_by_text("Confirm your email address first")).to_have_count(0)
