"""Journey (a): a seller lists a gig, an admin approves it, a buyer orders it, and they see
the order through requirements, a delivery, a revision, acceptance and a review."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from .flows import (
    act_with_note,
    banner_png,
    become_seller,
    checkout_gig,
    confirm_email,
    make_admin,
    open_order,
    search_and_open_gig,
    sign_up,
    submit_requirements,
    wait_for_order,
)


def create_gig(seller, title: str):
    """The gig editor: overview, description, three packages, an extra, a question, five images."""
    page = seller.page
    page.get_by_role("link", name="+ New gig").click()
    expect(page.get_by_role("heading", name="New gig")).to_be_visible()
    seller.check("new gig editor")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Category").select_option(label="Graphics & Design")
    page.get_by_label("Tags (comma separated)").fill("logo, branding, illustration")
    page.get_by_label("Description (Markdown)").fill(
        "Hand-drawn **illustrated logos** for small businesses.\n\n- Two concepts\n- Vector files\n- Colour palette"
    )
    basic = page.locator("#package-basic")
    basic.get_by_label("Package name").fill("Sketch")
    basic.get_by_label("What's included").fill("One illustrated logo concept")
    basic.get_by_label("Price (USD)").fill("40")
    basic.get_by_label("Delivery (days)").fill("3")
    basic.get_by_label("Revisions").select_option("2")
    page.get_by_role("button", name="+ Add Standard").click()
    standard = page.locator("#package-standard")
    expect(standard.get_by_label("Package name")).to_be_visible()
    standard.get_by_label("Package name").fill("Full kit")
    standard.get_by_label("What's included").fill("Two concepts, vector files and a colour palette")
    standard.get_by_label("Price (USD)").fill("90")
    standard.get_by_label("Delivery (days)").fill("5")
    standard.get_by_label("Revisions").select_option("unlimited")
    page.get_by_role("button", name="+ Add Premium").click()
    premium = page.locator("#package-premium")
    expect(premium.get_by_label("Package name")).to_be_visible()
    premium.get_by_label("Package name").fill("Brand book")
    premium.get_by_label("What's included").fill("The full kit plus a twelve-page brand book")
    premium.get_by_label("Price (USD)").fill("180")
    premium.get_by_label("Delivery (days)").fill("10")
    premium.get_by_label("Revisions").select_option("5")
    page.get_by_role("button", name="+ Add extra").click()
    extra = page.locator("#extras-rows .extra-row").last
    expect(extra.get_by_label("Extra", exact=True)).to_be_visible()
    extra.get_by_label("Extra", exact=True).fill("Social media kit")
    extra.get_by_label("Price (USD)").fill("15")
    extra.get_by_label("Extra days").fill("1")
    page.get_by_role("button", name="+ Add question").click()
    question = page.locator("#question-rows .question-row").last
    expect(question.get_by_label("Question", exact=True)).to_be_visible()
    question.get_by_label("Question", exact=True).fill("What is your business called?")
    page.get_by_label("Add images").set_input_files(
        [{"name": "cover.png", "mimeType": "image/png", "buffer": banner_png(title)}]
        + [
            {"name": f"sample-{n}.png", "mimeType": "image/png", "buffer": banner_png(f"Sample {n}", color=color)}
            for n, color in enumerate([(40, 60, 140), (140, 60, 40), (90, 40, 120), (30, 100, 130)], start=1)
        ]
    )
    seller.check("gig editor filled in")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Gig saved.")).to_be_visible()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    seller.check("saved draft")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_text("Saved and sent for review.")).to_be_visible()
    seller.check("gig in review")


def test_gig_from_listing_to_review(people, stack):
    seller = people("Sam Seller")
    title = f"I will draw an illustrated logo {uuid.uuid4().hex[:6]}"

    seller.visit("/", "home page", screenshot="home")
    sign_up(seller, intent="sell")
    confirm_email(seller)
    become_seller(seller, "Sam's Logo Studio")
    create_gig(seller, title)

    # An admin approves it from the review queue.
    admin = people("Ada Admin")
    make_admin(admin)
    page = admin.page
    page.get_by_role("link", name="Review", exact=True).click()
    item = page.locator("article.review-item").filter(has_text=title)
    expect(item).to_be_visible()
    admin.check("review queue")
    item.get_by_role("button", name="Approve and publish").click()
    expect(item.get_by_text("Approved — the gig is live")).to_be_visible()
    admin.check("review queue after approving")

    # The seller's home now shows the live gig.
    seller.page.get_by_role("link", name="Selling").click()
    expect(seller.page.locator(".stat").filter(has_text="Live gigs")).to_contain_text("1")
    seller.check("seller home with a live gig")

    # A buyer finds it, orders the Full kit with the social media kit, and pays.
    buyer = people("Bea Buyer")
    sign_up(buyer)
    search_and_open_gig(buyer, "illustrated logo", title)
    buyer.check("gig page", screenshot="gig-page")
    checkout_gig(buyer, "Full kit", "$90.00", {"Social media kit": 1}, "$105.00", screenshot="checkout-drawer")
    order_id = wait_for_order(buyer)
    buyer.check("order page, requirements to give")
    submit_requirements(buyer, {"What is your business called?": "Bea's Bakery"})
    buyer.check("order in progress")

    # The seller delivers from their orders.
    page = seller.page
    page.get_by_role("link", name="Selling").click()
    page.get_by_role("link", name=f"#{order_id}").click()
    expect(page.get_by_text("Bea's Bakery")).to_be_visible()
    seller.check("order page, seller side")
    page.get_by_label("Message to the buyer").fill("Here are two concepts for Bea's Bakery.")
    page.get_by_label("Files").set_input_files(
        {"name": "concepts.png", "mimeType": "image/png", "buffer": banner_png("Concepts")}
    )
    page.get_by_role("button", name="Deliver", exact=True).click()
    expect(page.locator(".ow-status")).to_have_text("delivered")
    seller.check("delivered")

    # The buyer asks for a revision; the seller delivers again; the buyer accepts.
    open_order(buyer, order_id)
    expect(buyer.page.get_by_role("region", name="Deliveries")).to_contain_text(
        "Here are two concepts for Bea's Bakery."
    )
    buyer.check("delivery to check", screenshot="order-page")
    act_with_note(buyer, "Request a revision", "Could the croissant be bigger?", "revision requested")
    buyer.check("revision requested")

    open_order(seller, order_id)
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("Could the croissant be bigger?")
    page.get_by_label("Message to the buyer").fill("Bigger croissant, as asked.")
    page.get_by_role("button", name="Deliver", exact=True).click()
    expect(page.locator(".ow-status")).to_have_text("delivered")
    seller.check("delivered again")

    open_order(buyer, order_id)
    page = buyer.page
    expect(page.get_by_role("region", name="Deliveries")).to_contain_text("Bigger croissant, as asked.")
    page.get_by_role("button", name="Accept delivery").click()
    expect(page.locator(".ow-status")).to_have_text("completed")
    buyer.check("order completed")

    # The buyer reviews it, and the review shows on the gig page.
    # Forgetting the stars: the error is next to them, in view, with the cursor on them.
    review = page.get_by_role("region", name="Review")
    review.get_by_label("Your review (shown on the gig page)").fill("Lovely logo, quick and friendly.")
    review.get_by_role("button", name="Post review").click()
    expect(page.locator("#rating-error")).to_have_text("Choose between 1 and 5 stars.")
    expect(page.locator("#rating-5")).to_be_focused()
    expect(page.locator("#rating-error")).to_be_in_viewport()
    buyer.check("review refused without stars")
    review = page.get_by_role("region", name="Review")
    review.locator('label[title="5 stars"]').click()
    review.get_by_role("button", name="Post review").click()
    expect(page.get_by_role("region", name="Review")).to_contain_text("Lovely logo, quick and friendly.")
    buyer.check("order reviewed")
    page.get_by_role("link", name=title).click()
    expect(page.locator("#reviews")).to_contain_text("Lovely logo, quick and friendly.")
    buyer.check("gig page with the review")

    # The seller's home shows the completed order and the earnings waiting to clear.
    seller.page.get_by_role("link", name="Selling").click()
    expect(seller.page.get_by_role("link", name=f"#{order_id}")).to_be_visible()
    seller.check("seller home after the order", screenshot="seller-home")

    # The payouts page says when that money clears, why Withdraw is disabled, and charts it.
    seller.page.get_by_role("navigation", name="Seller sections").get_by_role("link", name="Earnings & payouts").click()
    withdraw = seller.page.get_by_role("button", name="Withdraw")
    expect(withdraw).to_be_disabled()
    expect(seller.page.locator("#withdraw-why")).to_contain_text(
        re.compile(r"^Nothing available yet\. \$[\d.,]+ USD clears on \w{3} \d{2}, \d{4}\.$")
    )
    expect(seller.page.locator(".chart-value")).to_have_count(1)
    seller.check("payouts with money pending", screenshot="seller-payouts-pending")
