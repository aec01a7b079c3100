"""Journey: an owner invites someone to their team; the invitee, who runs a shop of their own,
reads the invitation email from the mail catcher, follows its link, accepts, and switches
between their two companies."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.mailbox import last_mail_id, wait_for_mail

from .flows import become_seller, confirm_email, sign_up

LINK = re.compile(r"(https?://\S+/sell/team/join/[A-Za-z0-9_-]+)")


def test_owner_invites_a_member_who_accepts_from_the_email_and_switches_company(people):
    member = people("Mia Member")
    sign_up(member, intent="sell")
    confirm_email(member)  # selling needs a confirmed address
    become_seller(member, "Mia Makes")

    owner = people("Olive Owner")
    sign_up(owner, intent="sell")
    confirm_email(owner)
    become_seller(owner, "Olive Studio")
    page = owner.page
    page.get_by_role("navigation", name="Seller sections").get_by_role("link", name="Team").click()
    expect(page.get_by_role("heading", name="Team", level=1)).to_be_visible()
    owner.check("team page", screenshot="team")
    since = last_mail_id(owner.stack.sandbox_url)
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent.")).to_be_visible()
    expect(page.get_by_role("cell", name=member.email)).to_be_visible()
    owner.check("invitation waiting")

    # The outbox job (run by the cron process every minute) sends it to the mail catcher.
    [mail] = wait_for_mail(owner.stack.sandbox_url, member.email, since=since, timeout=120)
    assert "Olive Owner invited you to Olive Studio" in mail["subject"]
    link = LINK.search(mail["text"]).group(1)
    assert link.startswith(owner.stack.base_url)

    mpage = member.page
    mpage.goto(link)
    expect(mpage.get_by_role("heading", name="Join Olive Studio")).to_be_visible()
    member.check("invitation page", screenshot="team-join")
    mpage.get_by_role("button", name="Accept invitation").click()
    expect(mpage.get_by_text("Welcome to Olive Studio.")).to_be_visible()
    expect(mpage.get_by_role("heading", name="Olive Studio", level=1)).to_be_visible()
    # A member fulfils orders: no gigs or payouts in their navigation.
    nav = mpage.get_by_role("navigation", name="Seller sections")
    expect(nav.get_by_role("link", name="Orders")).to_be_visible()
    expect(nav.get_by_role("link", name="Gigs")).to_have_count(0)
    member.check("seller home as a member of Olive Studio")

    mpage.get_by_label("Company").select_option(label="Mia Makes (owner)")
    mpage.get_by_role("button", name="Switch").click()
    expect(mpage.get_by_text("You are working in Mia Makes.")).to_be_visible()
    expect(mpage.get_by_role("heading", name="Mia Makes", level=1)).to_be_visible()
    expect(mpage.get_by_role("navigation", name="Seller sections").get_by_role("link", name="Gigs")).to_be_visible()
    member.check("switched back to their own company")

    # The owner sees the new member on the team.
    owner.visit("/sell/team", "team with the new member")
    expect(page.get_by_role("cell", name=member.email)).to_be_visible()
