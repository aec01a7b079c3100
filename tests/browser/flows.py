"""Steps people take through the UI, shared by the journeys: clicking and typing only."""

from __future__ import annotations

import io
import re

from PIL import Image, ImageDraw
from playwright.sync_api import expect

from tests.mailbox import wait_for_mail

from .checks import screenshot_to

TEST_CARD = "4242 4242 4242 4242"


def banner_png(text: str, size=(1200, 750), color=(31, 122, 92)) -> bytes:
    """A cover image a seller might upload (PNG bytes)."""
    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).text((60, size[1] // 2), text, fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def sign_up(person, intent: str = "hire"):
    """Join from the top bar (of the home page, for a newcomer): intent, name, email, password."""
    page = person.page
    if not page.url.startswith(person.stack.base_url):
        person.visit("/", "home page")
    page.get_by_role("link", name="Join").click()
    expect(page.get_by_role("heading", name="Join Tradepost")).to_be_visible()
    person.check("sign-up form")
    page.get_by_label("I want to sell" if intent == "sell" else "I want to hire").check()
    page.get_by_label("Your name").fill(person.name)
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text(f"Welcome to Tradepost, {person.name}!")).to_be_visible()
    expect(page.get_by_text("Welcome back")).to_have_count(0)  # one greeting, not two


def confirm_email(person, screenshot: str | None = None):
    """Open the verification email in the sandbox's mail viewer (/_sandbox/mail) and click its
    button in the HTML preview; the link opens in a new tab, signed in as this person. Ends
    back on the home page, the banner gone."""
    page = person.page
    wait_for_mail(person.stack.sandbox_url, person.email)
    page.goto(f"{person.stack.sandbox_url}/_sandbox/mail?to={person.email}")
    page.get_by_role("link", name="Confirm your email address").first.click()
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    button = page.frame_locator("iframe.preview").get_by_role("link", name="Confirm my email")
    expect(button).to_be_visible()
    if screenshot:
        screenshot_to(page, person.checks.artifacts / "screens" / f"{screenshot}-mail.png")
    with person.context.expect_page() as opened:
        button.click()
    tab = opened.value
    tab.wait_for_url(re.compile(re.escape(person.stack.base_url) + r"/account/settings$"))
    expect(tab.get_by_text(f"Thank you: {person.email} is confirmed.")).to_be_visible()
    expect(tab.get_by_test_id("verify-banner")).to_have_count(0)
    if screenshot:
        screenshot_to(tab, person.checks.artifacts / "screens" / f"{screenshot}-confirmed.png")
    tab.close()
    person.visit("/", "home, email confirmed")
    expect(page.get_by_test_id("verify-banner")).to_have_count(0)


def sign_in(person):
    page = person.page
    person.visit("/signin", "sign-in form")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in.")).to_be_visible()


def pay_on_hosted_checkout(person, amount: str | None = None):
    """On the sandbox's hosted Stripe Checkout page: pay with the test card."""
    page = person.page
    page.wait_for_url(re.compile(re.escape(person.stack.sandbox_url) + r"/.*"))
    expect(page.get_by_role("heading", name="Pay with card")).to_be_visible()
    if amount:
        expect(page.get_by_test_id("total")).to_have_text(amount)
    page.get_by_label("Card information").fill(TEST_CARD)
    page.get_by_label("Cardholder name").fill(person.name)
    page.get_by_role("button", name=re.compile(r"^(Pay|Subscribe)")).click()
    page.wait_for_url(re.compile(re.escape(person.stack.base_url) + r"/checkout/success.*"))


def become_seller(person, shop: str):
    """Seller account, then identity verification on the hosted Connect onboarding page."""
    page = person.page
    if not page.url.endswith("/sell/become"):
        page.get_by_role("link", name="Become a seller").first.click()
    expect(page.get_by_role("heading", name="Create your seller account")).to_be_visible()
    person.check("become a seller")
    page.get_by_label("Seller name").fill(shop)
    page.get_by_role("button", name="Continue to verification").click()
    page.wait_for_url(re.compile(re.escape(person.stack.sandbox_url) + r"/.*"))
    expect(page.get_by_role("heading", name="Verify your business")).to_be_visible()
    page.get_by_role("button", name="Submit verification").click()
    page.wait_for_url(re.compile(re.escape(person.stack.base_url) + r"/sell/onboarding/return.*"))
    expect(page.get_by_role("heading", name="You're verified")).to_be_visible()
    person.check("verification done")
    page.get_by_role("link", name="Seller home").click()
    expect(page.get_by_text("Verified seller.")).to_be_visible()
    person.check("seller home")


def make_admin(person):
    """Someone joins, then the operator grants admin rights with `flask users make-admin`."""
    sign_up(person)
    person.stack.flask("users", "make-admin", person.email)
    person.page.reload()
    expect(person.page.get_by_text("Admin", exact=True)).to_be_visible()


def search_and_open_gig(person, words: str, title: str):
    """The search box in the top bar, then the gig's card."""
    page = person.page
    search = page.get_by_role("searchbox", name="Search gigs")
    search.fill(words)
    search.press("Enter")
    page.wait_for_url(re.compile(r".*/gigs\?.*q="))
    card = page.locator(".gig-card").filter(has_text=title)
    expect(card).to_have_count(1)
    person.check("search results")
    card.get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


def checkout_gig(
    person, package: str, package_total: str, extras: dict[str, int], total: str, screenshot: str | None = None
):
    """The slide-out checkout drawer on the gig page: package, extras, live total, then pay."""
    page = person.page
    page.locator(".gig-side").get_by_role("link", name=re.compile(r"^Continue \(")).first.click()
    drawer = page.get_by_role("complementary", name="Checkout")
    expect(drawer).to_be_visible()
    person.check("checkout drawer open")
    drawer.get_by_label(re.compile(re.escape(package))).check()
    expect(drawer.locator(".summary-lines .total")).to_contain_text(package_total)
    for title, quantity in extras.items():
        drawer.get_by_label(f"{title} quantity").fill(str(quantity))
        drawer.get_by_label(f"{title} quantity").press("Tab")
    expect(drawer.locator(".summary-lines .total")).to_contain_text(total)
    person.check("checkout drawer with the total", screenshot=screenshot, full_page=False)
    drawer.get_by_role("button", name="Continue to payment").click()
    pay_on_hosted_checkout(person, total)


def wait_for_order(person) -> int:
    """The success page polls until the webhook has made the order; returns its id."""
    page = person.page
    heading = page.get_by_role("heading", name=re.compile(r"^Order #\d+ is placed$"))
    expect(heading).to_be_visible(timeout=30_000)
    person.check("order placed")
    order_id = int(re.search(r"#(\d+)", heading.inner_text()).group(1))
    page.get_by_role("link", name="Open the order").click()
    page.wait_for_url(re.compile(rf".*/orders/{order_id}$"))
    expect(page.get_by_role("region", name="Requirements")).to_be_visible()
    return order_id


def submit_requirements(person, answers: dict[str, str]):
    page = person.page
    for prompt, answer in answers.items():
        page.get_by_label(prompt).fill(answer)
    page.get_by_role("button", name="Submit requirements and start").click()
    expect(page.locator(".ow-status")).to_have_text("in progress")


def open_order(person, order_id: int):
    """The order page, fresh: reloaded when the person has it open, else opened by its link."""
    page = person.page
    if page.url == person.url(f"/orders/{order_id}"):
        page.reload()
    else:
        page.goto(person.url(f"/orders/{order_id}"))
    expect(page.get_by_role("region", name="Requirements")).to_be_visible()


def act_with_note(person, action: str, note: str, status: str):
    """An order action whose panel asks for words (revision, dispute): open, write, send."""
    page = person.page
    actions = page.get_by_role("region", name="Actions")
    actions.locator("summary", has_text=action).click()
    panel = actions.locator("details[open]")
    panel.get_by_role("textbox").fill(note)
    panel.get_by_role("button", name=action).click()
    expect(page.locator(".ow-status")).to_have_text(status)
