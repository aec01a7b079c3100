"""Journey: a member has their company's Legends game open; a referral converts on the server
(a real XP award through the Legends engine, in another process) and the level-up arrives on
the open page over server-sent events from the streaming process — a toast, the new level —
without a reload. Then the stream is cut off and the next award still arrives, by polling."""

from __future__ import annotations

import subprocess
import sys

from playwright.sync_api import expect

from .checks import WIDTHS, screenshot_to
from .flows import sign_up
from .stack import ROOT

OPEN_GAME = """
from sqlalchemy import select
from app import create_app
from app.extensions import db
from app.models import Company
from app.services.legends.game import open_game

app = create_app()
with app.app_context():
    company = db.session.scalar(select(Company).where(Company.kind == "seller").order_by(Company.id))
    open_game(company)
    db.session.commit()
    print(company.slug)
"""

# A converted referral recorded the way the referrals code records it (tests/legends_game.py):
# the Legends engine awards the XP in that transaction and publishes after the commit.
CONVERT_REFERRAL = """
import sys
from sqlalchemy import select
from app import create_app
from app.extensions import db
from app.models import Company, User
from tests.legends_game import referral

app = create_app()
with app.app_context():
    company = db.session.scalar(select(Company).where(Company.slug == sys.argv[1]))
    user = db.session.scalar(select(User).where(User.email == sys.argv[2]))
    referral(company, user, int(sys.argv[3]))
"""


def on_the_server(stack, code: str, *args: str) -> str:
    """Run `code` as a process of the stack would (its environment, its database and Redis)."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_a_level_up_arrives_live_on_the_open_game_page(people, stack):
    slug = on_the_server(stack, OPEN_GAME)
    player = people("Lena Legend")
    sign_up(player)
    page = player.page
    player.visit(f"/legends/{slug}", "the game, before joining")
    page.get_by_role("button", name="Join the game").click()
    me = page.locator("#legends-me")
    expect(me.get_by_role("heading", name="Level 1")).to_be_visible()
    status = page.locator("[data-legends-status]")
    expect(status).to_have_text("Live")
    page.evaluate("window.__sameDocument = true")

    on_the_server(stack, CONVERT_REFERRAL, slug, player.email, "9001")

    expect(page.get_by_role("status").get_by_text("Level up! You reached level 2.")).to_be_visible()
    expect(me.get_by_role("heading", name="Level 2")).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True  # no reload: it came live
    # The member's page at both widths (quests table included): nothing sticks out at 390 px.
    expect(page.locator("#quests table")).to_be_visible()
    player.check("the game, a member at level 2 with quests", screenshot="legends-member-quests")
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        screenshot_to(page, player.checks.artifacts / "screens" / f"legends-live-level-up-{width}.png", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 800})

    # The stream cut off (as when the streaming process or Redis is down): the page says it
    # polls, and the next award arrives through the feed instead.
    page.context.route(f"{stack.stream_url}/**", lambda route: route.abort())
    page.reload()
    expect(me.get_by_role("heading", name="Level 2")).to_be_visible()
    expect(status).to_have_text("Updating every 15 s")
    on_the_server(stack, CONVERT_REFERRAL, slug, player.email, "9002")
    expect(page.get_by_role("status").get_by_text("+120 XP")).to_be_visible(timeout=30_000)
    expect(me.get_by_text("290 XP in all")).to_be_visible()
    # The console reports only the refused stream, which the extension retries, backing off:
    # the failed load and htmx's log of the extension's error event.
    refused = ("console error: Failed to load resource: net::ERR_FAILED", "console error: [object Event]")
    others = [problem for problem in player.checks.problems if not problem.startswith(refused)]
    assert not others, others
    player.checks.problems.clear()
