"""Journey (c): a buyer opens a dispute on an order; an admin refunds it in full; the buyer
sees the outcome."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .flows import act_with_note, checkout_gig, make_admin, sign_up, submit_requirements, wait_for_order

GIG = "I will fix bugs in your JavaScript or Python code"  # a demo-seed gig by Devon Codes LLC


def test_dispute_resolved_with_a_full_refund(people):
    buyer = people("Dee Disputer")
    sign_up(buyer)
    page = buyer.page

    # Browse, then the listing's live search (htmx swaps the results as they type).
    page.get_by_role("link", name="Browse", exact=True).click()
    expect(page.get_by_role("heading", name="Find the right service")).to_be_visible()
    buyer.check("listing")
    page.locator("#gig-filters").get_by_role("searchbox", name="Search gigs").press_sequentially(
        "javascript bugs", delay=20
    )
    page.wait_for_url(re.compile(r".*/gigs\?.*q=javascript"))
    expect(page.locator(".gig-card")).to_have_count(1)
    # The spinner is styled by app.css: htmx was told not to inject its inline <style>
    # (the CSP would refuse it; the checker reports any such violation).
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    expect(page.locator("#results-loading")).to_be_hidden()
    buyer.check("live search results")
    page.locator(".gig-card").get_by_role("link", name=GIG).click()
    expect(page.get_by_role("heading", name=GIG, level=1)).to_be_visible()
    buyer.check("gig page")

    checkout_gig(buyer, "One bug", "$25.00", {}, "$25.00")
    order_id = wait_for_order(buyer)
    submit_requirements(
        buyer,
        {
            "Paste the error message": "TypeError: undefined is not a function",
            "Repository link": "https://example.com/dee/app",
        },
    )

    # Nothing arrives; the buyer opens a dispute.
    act_with_note(buyer, "Open a dispute", "No word from the seller for days.", "disputed")
    expect(page.locator(".ow-next-text")).to_contain_text("An admin is reviewing it")
    buyer.check("order in dispute")

    # An admin finds it among the disputed orders and refunds it in full.
    admin = people("Ari Admin")
    make_admin(admin)
    admin.visit("/orders/disputed", "disputed orders", screenshot="disputed-orders")
    admin.page.get_by_role("link", name=f"#{order_id}").click()
    expect(admin.page.locator(".ow-status")).to_have_text("disputed")
    expect(admin.page.locator(".ow-next-text")).to_contain_text("No word from the seller for days.")
    admin.check("disputed order, admin view")
    act_with_note(admin, "Refund in full", "The seller did not respond; refunded in full.", "refunded")
    admin.check("dispute resolved")
    admin.visit("/orders/disputed", "disputed orders, none left")
    expect(admin.page.get_by_text("No open disputes.")).to_be_visible()

    # The buyer sees the outcome on the order and in their orders.
    page.reload()
    expect(page.locator(".ow-status")).to_have_text("refunded")
    expect(page.locator(".ow-next-text")).to_contain_text("refunded")
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("resolved the dispute with a full refund")
    buyer.check("refunded order")
    page.get_by_role("link", name="My orders").click()
    row = page.locator("#orders").get_by_role("row").filter(has_text=GIG)
    expect(row).to_contain_text("refunded")
    expect(row).to_contain_text("$25.00")
    buyer.check("account with the refunded order", screenshot="account-orders")
