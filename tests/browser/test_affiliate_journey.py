"""Journey: a seller turns on an affiliate program; someone copies their link from the share
box on the seller's gig page; a visitor follows the link, signs up and buys the gig; the
affiliate sees the click and the conversion on /affiliate, and the seller sees the affiliate
in the program's table."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from .flows import checkout_gig, search_and_open_gig, sign_in, sign_up, wait_for_order

GIG = "I will set up CI and automated tests for your repo"  # a demo-seed gig by Devon Codes LLC
DEMO_PASSWORD = "tradepost-demo-1"  # printed by `flask seed-demo` with each demo sign-in
# Headless Chromium says "HeadlessChrome", which click tracking ignores as a bot, as it should;
# the visitor's browser says what a person's would.
DESKTOP_CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def turn_on_program(seller):
    page = seller.visit("/sell/", "seller home")
    page.get_by_role("navigation", name="Seller sections").get_by_role("link", name="Affiliate program").click()
    expect(page.get_by_role("heading", name="Affiliate program", level=1)).to_be_visible()
    seller.check("affiliate program, not set up")
    page.get_by_label("Run an affiliate program").check()
    page.get_by_label("A percentage of the payment").check()
    page.get_by_label("Rate (%)").fill("10")
    page.get_by_label("Terms for affiliates").fill("No paid search on our brand name.")
    page.get_by_role("button", name="Save program").click()
    expect(page.get_by_text("Affiliate program saved. It is on.")).to_be_visible()
    expect(page.get_by_test_id("program-state")).to_have_text("On")
    seller.check("affiliate program on", screenshot="affiliate-program")


def test_an_affiliate_link_brings_a_buyer_and_earns_a_commission(people):
    seller = people("Devon Codes")
    seller.email, seller.password = "devon@tradepost.test", DEMO_PASSWORD
    sign_in(seller)
    turn_on_program(seller)

    # Someone signed in finds the gig and copies their link from the share box.
    affiliate = people("Aly Affiliate")
    sign_up(affiliate)
    affiliate.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=affiliate.stack.base_url)
    search_and_open_gig(affiliate, "CI automated tests", GIG)
    box = affiliate.page.get_by_role("region", name="Share and earn")
    expect(box).to_contain_text("10 % of each payment")
    expect(box).to_contain_text("within 30 days of the click")
    link = box.get_by_label("Your link").input_value()
    assert re.fullmatch(re.escape(affiliate.stack.base_url) + r"/gigs/[\w-]+\?ref=[\w-]{10}", link), link
    box.get_by_role("button", name="Copy").click()
    expect(box.get_by_role("button", name="Copied")).to_be_visible()
    assert affiliate.page.evaluate("navigator.clipboard.readText()") == link
    box.get_by_text("The seller's terms").click()
    expect(box).to_contain_text("No paid search on our brand name.")
    affiliate.check("gig page with the share box", screenshot="affiliate-share-box")

    # A visitor follows the link, joins, and buys the gig.
    visitor = people("Vic Visitor")
    visitor.context.set_extra_http_headers({"User-Agent": DESKTOP_CHROME})
    visitor.page.goto(link)
    expect(visitor.page.get_by_role("heading", name=GIG, level=1)).to_be_visible()
    expect(visitor.page.get_by_role("region", name="Share and earn")).to_have_count(0)  # not signed in
    visitor.check("gig page from the affiliate link")
    sign_up(visitor)
    search_and_open_gig(visitor, "CI automated tests", GIG)
    checkout_gig(visitor, "Pipeline Basic", "$80.00", {}, "$80.00")
    wait_for_order(visitor)

    # The affiliate sees the click, the conversion and the pending commission.
    page = affiliate.page
    page.get_by_role("link", name="Refer & earn").click()
    expect(page.get_by_role("heading", name="Affiliate dashboard")).to_be_visible()
    stats = page.get_by_test_id("affiliate-stats")
    # Clicks are queued in Redis and written by a job every minute: reload until it has run.
    for _ in range(24):
        if stats.locator('[data-stat="clicks"]').inner_text() == "1":
            break
        page.wait_for_timeout(5_000)
        page.reload()
    expect(stats.locator('[data-stat="clicks"]')).to_have_text("1")
    expect(stats.locator('[data-stat="conversions"]')).to_have_text("1")
    expect(stats.locator('[data-stat="rate"]')).to_have_text("100.0 %")
    expect(page.get_by_test_id("commission-stats").locator('[data-stat="pending"]')).to_have_text("$8.00")
    row = page.get_by_role("row").filter(has_text=GIG)
    expect(row).to_contain_text("$8.00")
    expect(page.get_by_role("button", name="Open my affiliate earnings")).to_be_visible()
    affiliate.check("affiliate dashboard with a conversion", screenshot="affiliate-dashboard")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download commissions (CSV)").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("date,commission_id,seller,")
    assert len(lines) == 2 and ",Devon Codes LLC,gig," in lines[1] and ",8000,800,0,800,USD,pending," in lines[1]

    # The seller sees the affiliate and what they brought in the program's table.
    seller.visit("/sell/affiliates", "affiliate program with an affiliate")
    seller_row = seller.page.get_by_role("row").filter(has_text="Aly Affiliate")
    expect(seller_row).to_contain_text("$80.00")
    expect(seller_row).to_contain_text("$8.00")
    seller.check("affiliates table", screenshot="affiliate-program-affiliates")
