"""The pages the journeys pass by: a visitor, a buyer, a seller and an admin from the demo
seed look around, and every page they open gets the same checks."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .flows import banner_png, sign_in

DEMO_PASSWORD = "tradepost-demo-1"  # printed by `flask seed-demo` with each demo sign-in


def demo(person, email):
    person.email, person.password = email, DEMO_PASSWORD
    sign_in(person)
    return person.page


def test_a_visitor_looks_around(people):
    visitor = people("Vic Visitor")
    page = visitor.page
    visitor.visit("/", "home page")
    page.get_by_role("link", name=re.compile(r"^Programming\s*&\s*Tech")).first.click()
    expect(page.get_by_role("heading", name="Programming & Tech", level=1)).to_be_visible()
    visitor.check("category page")
    page.locator(".gig-card").first.get_by_role("heading").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Compare packages")).to_be_visible()
    visitor.check("gig page, signed out")
    for path, label in (
        ("/docs/licensing", "licensing docs"),
        ("/docs/webhooks", "webhook docs"),
        ("/signin", "sign-in form"),
        ("/gigs?q=zzzz-no-such-gig", "search with no results"),
        ("/no/such/page", "not found page"),
    ):
        visitor.visit(path, label, screenshot="docs-licensing" if path == "/docs/licensing" else None)
    # The footer's pages, reached from the footer of any page.
    visitor.visit("/", "home page")
    for name, heading, shot in (
        ("Help", "Help", "help"),
        ("Contact", "Contact us", "contact"),
        ("Terms", "Terms of service", "terms"),
        ("Privacy", "Privacy", "privacy"),
    ):
        page.get_by_role("contentinfo").get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        visitor.check(f"footer page {name}", screenshot=shot)
    expect(page.get_by_role("link", name="support@tradepost.test")).to_have_count(1)
    # A product page leads to its seller's shop.
    visitor.visit("/products/devon-cli-pro", "product page, signed out")
    page.locator(".seller-card").get_by_role("link", name="Devon Codes LLC", exact=True).click()
    expect(page.get_by_role("heading", name="Devon Codes LLC", level=1)).to_be_visible()
    visitor.check("shop page", screenshot="shop-page")


def test_a_buyer_looks_around(people):
    buyer = people("Bob Buyer")
    page = demo(buyer, "bob@tradepost.test")
    page.get_by_role("link", name="My orders").click()
    expect(page.get_by_role("heading", name="Your purchases")).to_be_visible()
    buyer.check("account")
    page.get_by_role("link", name="Your license keys").click()
    expect(page.get_by_text(re.compile(r"\bDEV-[0-9A-Z]{5}-")).first).to_be_visible()
    buyer.check("license keys")
    page.get_by_role("link", name=re.compile(r"^Notifications")).click()
    page.wait_for_url(re.compile(r".*/notifications$"))
    buyer.check("notifications")
    buyer.visit("/whop/settings", "Whop settings")


def test_a_seller_looks_around(people):
    seller = people("Devon Codes")
    page = demo(seller, "devon@tradepost.test")
    page.get_by_role("banner").get_by_role("link", name="Selling").click()
    expect(page.get_by_role("heading", name="Devon Codes LLC")).to_be_visible()
    seller.check("seller home")
    for name, path in (
        ("Gigs", "/sell/gigs"),
        ("Orders", "/sell/orders"),
        ("Products", "/sell/products"),
        ("License keys", "/sell/licenses"),
        ("Earnings & payouts", "/sell/payouts"),
        ("Webhooks", "/sell/webhooks/"),
        ("Whop", "/sell/whop"),
        ("Team", "/sell/team"),
        ("Company settings", "/sell/settings"),
    ):
        page.get_by_role("navigation", name="Seller sections").get_by_role("link", name=name, exact=True).click()
        page.wait_for_url(re.compile(re.escape(path) + "$"))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        seller.check(f"seller section {name}", screenshot="seller-payouts" if name == "Earnings & payouts" else None)
        page.get_by_role("banner").get_by_role("link", name="Selling").click()
        expect(page.get_by_role("heading", name="Devon Codes LLC")).to_be_visible()
    # A picture for a product: the form takes it, the product page shows it.
    page.get_by_role("navigation", name="Seller sections").get_by_role("link", name="Products", exact=True).click()
    page.get_by_role("row").filter(has_text="Devon CLI Pro").get_by_role("link", name="Edit").click()
    page.get_by_label(re.compile(r"^Picture")).set_input_files(
        files=[{"name": "cover.png", "mimeType": "image/png", "buffer": banner_png("Devon CLI Pro")}]
    )
    seller.check("product form with a picture chosen")
    page.get_by_role("button", name="Save product").click()
    expect(page.get_by_text(re.compile(r"is updated\.$"))).to_be_visible()
    seller.visit("/products/devon-cli-pro", "product page with its picture", screenshot="product-page")
    expect(page.locator(".product-image img")).to_be_visible()
    page.get_by_role("banner").get_by_role("link", name="Selling").click()
    page.get_by_role("link", name="All gigs").click()
    page.get_by_role("link", name="Edit").first.click()
    expect(page.get_by_role("button", name="Send changes for review")).to_be_visible()
    seller.check("gig editor, live gig")
    seller.visit("/sell/licenses", "license keys")
    page.locator("table a[href*='/sell/licenses/']").first.click()
    page.wait_for_url(re.compile(r".*/sell/licenses/\d+$"))
    seller.check("a license key")
    seller.visit("/sell/webhooks/new", "new webhook endpoint")


def test_an_admin_looks_around(people):
    admin = people("Ada Admin")
    page = demo(admin, "admin@tradepost.test")
    for name in ("Review", "Money", "Events", "Companies", "Audit"):
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        admin.check(f"admin {name}")
    admin.visit("/admin/companies?q=devon", "companies, searched")
    page.locator("#company-rows").get_by_role("link", name="Devon Codes LLC").click()
    expect(page.get_by_role("heading", name=re.compile("Devon Codes LLC"), level=1)).to_be_visible()
    admin.check("a company, admin view")
    admin.visit("/admin/audit?action=auth.", "audit log, sign-ins")
    admin.visit("/orders/disputed", "disputed orders")
