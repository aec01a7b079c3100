"""Legends over HTTP: joining with a class, XP from server-side events awarded once, levels,
quests issued / progressed / claimed once, achievements, prestige and class changes."""

from sqlalchemy import func, select

from app.extensions import db
from app.models import LegendsMemberAchievement, LegendsQuest, LegendsXpAward, Notification
from tests.forms import post_form
from tests.legends_game import class_id, commission, game_for, join, member_row, referral


def test_a_member_joins_with_a_class_and_sees_the_game(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller(title="Quill Co")
    game_for(company)
    player = make_user(display_name="Pia Player")
    page = client.get(f"/legends/{company.slug}")
    assert page.status_code == 200 and "Pick your class" in page.get_data(as_text=True)
    member = join(client, sign_in, player, company, "Sage")
    assert member.klass.name == "Sage" and member.level == 1
    body = client.get(f"/legends/{company.slug}").get_data(as_text=True)
    assert 'id="legends-live"' in body and f'data-company-id="{company.id}"' in body
    assert "Level 1" in body and "Quests" in body and "Your rank: <strong>#1</strong>" in body
    again = post_form(client, f"/legends/{company.slug}/join", {"class_id": str(class_id(company))})
    assert again.status_code == 409


def test_a_referral_awards_xp_once_with_the_class_multiplier(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    player = make_user()
    member = join(client, sign_in, player, company, "Scout")
    referral(company, player, 88)
    referral(company, player, 88)
    member = member_row(company, player)
    # Scout: 120 % of 100 XP, plus the "first referral" achievement's 50 XP (exact).
    assert member.referrals == 1 and member.total_xp == 170 and member.level == 2
    keys = set(db.session.scalars(select(LegendsXpAward.source_key).where(LegendsXpAward.member_id == member.id)))
    assert "referral:88" in keys and any(key.startswith("achievement:") for key in keys)
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == player.id, Notification.kind == "legends.achievement")
        )
        == 1
    )
    feed = client.get(f"/legends/{company.slug}/feed?after=0", headers={"Accept": "application/json"}).get_json()
    assert {"xp_awarded", "level_up", "achievement_unlocked"} <= {row["event"] for row in feed["events"]}
