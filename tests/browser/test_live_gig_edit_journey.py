"""Journey (d): a live gig stays live through an edit until an admin approves the revision.

A demo seller edits the title and price of one of their live gigs; the public gig page still
answers 200 with the approved title and price; an admin finds the change under "Changes to live
gigs", sees the field-by-field diff and approves it; the gig page then shows the new version
at the same URL, and the counts in the queue and the top bar are back to zero.
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from .flows import make_admin, sign_in

GIG = "I will plan a month of social media content"  # a demo-seed gig by Maria (maria@tradepost.test)
DEMO_PASSWORD = "tradepost-demo-1"
REVIEW_SUBMITTED = "Your changes were sent for review; the live version stays up until they're approved."


def test_a_live_gig_stays_live_until_the_edit_is_approved(people):
    new_title = f"I will plan two months of social media content {uuid.uuid4().hex[:4]}"

    # The seller edits the live gig: title and the Basic price.
    seller = people("Maria Seller")
    seller.email, seller.password = "maria@tradepost.test", DEMO_PASSWORD
    sign_in(seller)
    page = seller.page
    seller.visit("/sell/", "seller home")
    expect(page.get_by_role("heading", name="Maria Design Studio", level=1)).to_be_visible()
    page.locator(".gig-table").get_by_role("link", name=GIG).click()
    expect(page.get_by_role("heading", name=GIG, level=1)).to_be_visible()
    seller.check("live gig editor")
    old_price = page.locator("#package-basic").get_by_label("Price (USD)").input_value()
    page.get_by_label("Title", exact=True).fill(new_title)
    page.locator("#package-basic").get_by_label("Price (USD)").fill("99")
    page.get_by_role("button", name="Send changes for review").click()
    expect(page.get_by_text(REVIEW_SUBMITTED)).to_be_visible()
    pending = page.locator("#pending-revision")
    expect(pending).to_contain_text("Changes in review")
    expect(pending.get_by_role("button", name="Withdraw changes")).to_be_visible()
    expect(page.get_by_label("Title", exact=True)).to_have_value(new_title)  # the pending version is edited
    seller.check("live gig editor with changes in review", screenshot="gig-editor-pending-revision")
    gig_path = page.get_by_role("link", name="View the live gig").get_attribute("href")

    # Anyone can still open the gig: same URL, the approved title and price.
    visitor = people("Vic Visitor")
    response = visitor.page.goto(visitor.url(gig_path))
    assert response is not None and response.status == 200
    expect(visitor.page.get_by_role("heading", name=GIG, level=1)).to_be_visible()
    expect(visitor.page.get_by_text(new_title)).to_have_count(0)
    visitor.check("live gig while its edit waits", screenshot="gig-page-during-revision")

    # An admin sees the change waiting, with the diff, and approves it.
    admin = people("Ada Approver")
    make_admin(admin)
    apage = admin.page
    expect(apage.locator("#nav-review-count")).to_be_visible()
    apage.get_by_role("link", name="Review", exact=True).click()
    apage.get_by_role("link", name=re.compile(r"^Changes to live gigs")).click()
    item = apage.locator("article.review-item").filter(has_text=f"Changes to “{GIG}”")
    expect(item).to_be_visible()
    title_row = item.locator("table.revision-diff tr").filter(has_text="Title")
    expect(title_row.locator(".diff-old")).to_have_text(GIG)
    expect(title_row.locator(".diff-new")).to_have_text(new_title)
    price_row = item.locator("table.revision-diff tr").filter(has_text="Basic package · price")
    expect(price_row.locator(".diff-old")).to_contain_text(old_price.split(".")[0])
    expect(price_row.locator(".diff-new")).to_have_text("$99.00")
    admin.check("changes to live gigs, with the diff", screenshot="review-revision-diff")
    item = apage.locator("#" + item.get_attribute("id"))  # approved, its heading names the new title
    item.get_by_role("button", name="Approve changes").click()
    expect(item.get_by_text("Approved — the changes are live")).to_be_visible()
    # The counts follow the decision at once (swapped out of band): nothing left waiting.
    expect(apage.get_by_role("link", name=re.compile(r"^Changes to live gigs"))).to_contain_text("0")
    expect(apage.locator("#nav-review-count")).to_be_hidden()
    admin.check("review queue after approving the change")

    # The same URL now shows the new version.
    visitor.page.reload()
    expect(visitor.page.get_by_role("heading", name=new_title, level=1)).to_be_visible()
    expect(visitor.page.locator(".gig-side")).to_contain_text("$99")
    visitor.check("gig page after approval", screenshot="gig-page-after-revision")

    # The seller's editor says the change is live and offers no withdrawal.
    page.reload()
    expect(page.get_by_role("heading", name=new_title, level=1)).to_be_visible()
    expect(page.get_by_text("Your last changes were approved")).to_be_visible()
    expect(page.locator("#pending-revision")).to_have_count(0)
    seller.check("live gig editor after approval")
