"""Helpers for the Legends tests: a seller's open game, members joining over HTTP, and the
domain events that earn XP, recorded the way the rest of the app records them."""

import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from app.extensions import db
from app.models import LegendsAchievement, LegendsClass, LegendsMember, LegendsQuest, LegendsQuestTemplate
from app.services.legends.engine import Earning, award_xp
from app.services.legends.game import join_game, open_game
from app.services.legends.guilds import create_guild, join_guild
from app.services.legends.levels import MAX_LEVEL, xp_for_level
from app.services.outbound.catalogue import example_data
from app.services.outbound.outbox import record_event
from tests.factories import PASSWORD
from tests.forms import post_form
from tests.racing import all_at_once

RACERS = 20


def game_for(company):
    """The company's game, opened (default classes, achievements, quests) and committed."""
    game = open_game(company)
    db.session.commit()
    return game


def class_id(company, name="Scout"):
    """The id of the game's class called `name`."""
    return db.session.scalar(
        select(LegendsClass.id).where(LegendsClass.company_id == company.id, LegendsClass.name == name)
    )


def join(client, sign_in, user, company, klass="Scout"):
    """`user` joins the company's game over HTTP with `klass`; returns their member row."""
    sign_in(user)
    response = post_form(client, f"/legends/{company.slug}/join", {"class_id": str(class_id(company, klass))})
    assert response.status_code == 303, response.get_data(as_text=True)[:400]
    return member_row(company, user)


def member_row(company, user):
    """The user's member row in the company's game (fresh from the database)."""
    db.session.expire_all()
    return db.session.scalar(
        select(LegendsMember).where(LegendsMember.company_id == company.id, LegendsMember.user_id == user.id)
    )


def referral(company, user, referral_id, commit=True):
    """A `referral.converted` event for `user` as the affiliate, recorded like issue 18 does."""
    event = record_event(
        company.id,
        "referral.converted",
        example_data("referral.converted", affiliate_user_id=user.id, referral_id=referral_id),
    )
    if commit:
        db.session.commit()
    return event


def commission(company, user, commission_id, event_type="commission.cleared", amount_cents=1200):
    """A `commission.*` event for `user` as the affiliate."""
    record_event(
        company.id,
        event_type,
        example_data(event_type, affiliate_user_id=user.id, commission_id=commission_id, amount_cents=amount_cents),
    )
    db.session.commit()


def fuzz_world(company, leader, mate, loner):
    """The company's game as tests/test_fuzz_inputs.py posts to it: `leader` at the top level
    (a completed quest to claim, a class change due, prestige open) leads the open guild
    "Fuzzers" with `mate`; `loner` plays alone. Returns the world's Legends attributes."""
    game = open_game(company)
    members = [join_game(company, user, str(class_id(company, "Scout"))) for user in (leader, mate, loner)]
    award_xp(members[0], "fuzz:top", Earning("quest", xp_for_level(MAX_LEVEL), exact=True))
    members[0].class_changed_at -= timedelta(days=31)
    guild = create_guild(members[0], game, {"name": "Fuzzers", "open": "1"})
    join_guild(members[1], guild.id)
    db.session.commit()
    quest = db.session.scalar(
        select(LegendsQuest.id).where(LegendsQuest.member_id == members[0].id, LegendsQuest.completed_at.is_not(None))
    )
    return {
        "legends_quest": quest,
        "legends_guild": guild.id,
        "legends_class": class_id(company, "Sage"),
        "legends_template": db.session.scalar(
            select(LegendsQuestTemplate.id).where(LegendsQuestTemplate.company_id == company.id)
        ),
        "legends_achievement": db.session.scalar(
            select(LegendsAchievement.id).where(LegendsAchievement.company_id == company.id)
        ),
        "legends_mate": members[1].id,
        "legends_loner": members[2].id,
        "legends_export": "members",
    }


def race(work):
    """`work(index)` in RACERS threads released at once; their results in order."""
    return all_at_once(RACERS, work)


def live_sign_in(live_server, email):
    """An httpx client of the live server signed in as `email` through the form, and the CSRF
    token of its session."""
    client = httpx.Client(base_url=live_server, timeout=30)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/signin").text).group(1)
    assert client.post("/signin", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 303
    return client, re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)


def claims_at_once(live_server, email, slug, quest_id):
    """RACERS concurrent claims of the quest by one signed-in session of `email`; the status
    codes, sorted."""
    client, csrf = live_sign_in(live_server, email)

    def claim(_index):
        with httpx.Client(base_url=live_server, timeout=30, cookies=client.cookies) as racer:
            return racer.post(f"/legends/{slug}/quests/{quest_id}/claim", data={"csrf_token": csrf}).status_code

    try:
        return sorted(race(claim))
    finally:
        client.close()
