"""Legends over HTTP: joining with a class, XP from server-side events awarded once, levels,
quests issued / progressed / claimed once, achievements, prestige and class changes."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (
    LegendsMemberAchievement,
    LegendsQuest,
    LegendsQuestTemplate,
    LegendsXpAward,
    Notification,
)
from app.services.legends.engine import Earning, award_xp
from app.services.legends.levels import MAX_LEVEL, level_for_xp, xp_for_level
from app.services.outbound.catalogue import example_data
from app.services.outbound.outbox import record_event
from app.tasks.legends import issue_legends_quests
from tests.factories import make_order
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
    # A commission quest counts money (hard: 3 × $100 at level 1), a referral quest counts people.
    assert "$0.00 / $300.00" in body and "0 / 30000" not in body and "0 / 6" in body
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


def _quest(member, title):
    return db.session.scalar(
        select(LegendsQuest)
        .where(LegendsQuest.member_id == member.id)
        .join(LegendsQuest.template)
        .where(LegendsQuestTemplate.title == title)
    )


def test_quests_issue_on_schedule_progress_from_events_and_pay_once(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    player, other = make_user(), make_user()
    member = join(client, sign_in, player, company, "Sage")
    issued_on_join = db.session.scalar(select(func.count(LegendsQuest.id)).where(LegendsQuest.member_id == member.id))
    assert issued_on_join == 4
    assert issue_legends_quests() == 0  # the job issues each period's quest once
    quest = _quest(member, "Bring one friend today")
    assert quest.target == 1 and quest.progress == 0
    refused = post_form(client, f"/legends/{company.slug}/quests/{quest.id}/claim")
    assert refused.status_code == 409 and "not complete yet" in refused.get_data(as_text=True)
    referral(company, player, 501)
    db.session.expire_all()
    assert quest.completed_at is not None
    before = member_row(company, player).total_xp
    assert post_form(client, f"/legends/{company.slug}/quests/{quest.id}/claim").status_code == 303
    assert member_row(company, player).total_xp == before + 50
    assert post_form(client, f"/legends/{company.slug}/quests/{quest.id}/claim").status_code == 409
    assert member_row(company, player).total_xp == before + 50
    join(client, sign_in, other, company)
    assert post_form(client, f"/legends/{company.slug}/quests/{quest.id}/claim").status_code == 404


def test_the_next_period_issues_new_quests_scaled_to_the_level(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    player = make_user()
    member = join(client, sign_in, player, company, "Sage")
    award_xp(member, "test:levels", Earning("quest", 4_500, exact=True))  # level 10
    db.session.commit()
    clock.freeze(datetime.now(UTC) + timedelta(days=40))
    try:
        assert issue_legends_quests() == 3  # the new day's, week's and month's quests
    finally:
        clock.freeze(None)
    targets = {
        quest.template.title: quest.target
        for quest in db.session.scalars(
            select(LegendsQuest).where(LegendsQuest.member_id == member.id).order_by(LegendsQuest.id)
        )
    }  # the newest quest of each template
    assert targets["Three referrals this week"] == 3 * 2 * 2
    assert targets["Earn commission this month"] == 10_000 * 3 * 2


def test_a_cleared_commission_earns_xp_and_its_reversal_takes_it_back(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    player = make_user()
    join(client, sign_in, player, company, "Scout")
    commission(company, player, 140, "commission.created")
    assert member_row(company, player).total_xp == 0
    commission(company, player, 140, "commission.cleared", 12_000)
    member = member_row(company, player)
    assert (member.total_xp, member.commission_cents) == (144, 12_000)  # 120 × 1.2
    commission(company, player, 140, "commission.reversed", 12_000)
    commission(company, player, 140, "commission.reversed", 12_000)
    member = member_row(company, player)
    assert (member.total_xp, member.commission_cents) == (0, 0)
    amounts = db.session.scalars(
        select(LegendsXpAward.amount).where(LegendsXpAward.member_id == member.id).order_by(LegendsXpAward.id)
    ).all()
    assert amounts == [144, -144]
    commission(company, player, 141, "commission.reversed")  # never cleared: nothing to take back
    assert member_row(company, player).total_xp == 0


def test_purchases_and_memberships_earn_buyers_xp_only_when_they_play(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    player, outsider = make_user(), make_user()
    join(client, sign_in, player, company, "Sage")
    for buyer in (player, outsider):
        record_event(company.id, "membership.activated", example_data("membership.activated", buyer_id=buyer.id))
    db.session.commit()
    assert member_row(company, player).total_xp == 20
    assert member_row(company, outsider) is None
    assert db.session.scalar(select(func.count(LegendsXpAward.id))) == 1


def test_prestige_at_the_top_level_resets_the_level_and_keeps_the_badge(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    player = make_user()
    member = join(client, sign_in, player, company, "Sage")
    early = post_form(client, f"/legends/{company.slug}/prestige")
    assert early.status_code == 409 and "Prestige opens at level 50" in early.get_data(as_text=True)
    award_xp(member, "test:top", Earning("quest", xp_for_level(MAX_LEVEL), exact=True))
    db.session.commit()
    assert member_row(company, player).level == MAX_LEVEL
    assert post_form(client, f"/legends/{company.slug}/prestige").status_code == 303
    member = member_row(company, player)
    # Level 1 again, then the prestige achievement's reward (1,000 XP) counts in the new prestige.
    assert member.prestige == 1 and member.prestige_xp >= xp_for_level(MAX_LEVEL)
    assert member.total_xp - member.prestige_xp == 1_000 and member.level == level_for_xp(1_000) == 5
    codes = {
        row.achievement.code
        for row in db.session.scalars(
            select(LegendsMemberAchievement).where(LegendsMemberAchievement.member_id == member.id)
        )
    }
    assert "prestige" in codes
    assert "Prestige 1" in client.get(f"/legends/{company.slug}").get_data(as_text=True)


def test_class_changes_once_per_period(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    player = make_user()
    join(client, sign_in, player, company, "Scout")
    too_soon = post_form(client, f"/legends/{company.slug}/class", {"class_id": str(class_id(company, "Sage"))})
    assert too_soon.status_code == 409 and "change class again" in too_soon.get_data(as_text=True)
    member = member_row(company, player)
    member.class_changed_at -= timedelta(days=31)
    db.session.commit()
    changed = post_form(client, f"/legends/{company.slug}/class", {"class_id": str(class_id(company, "Sage"))})
    assert changed.status_code == 303 and member_row(company, player).klass.name == "Sage"
    for hostile in ("", "abc", "-1", "\x00", "9" * 30, str(class_id(company, "Sage"))):
        response = post_form(client, f"/legends/{company.slug}/class", {"class_id": hostile})
        assert response.status_code in (400, 409, 422), hostile
    assert member_row(company, player).klass.name == "Sage"


def test_joining_refuses_bad_classes_and_writes_nothing(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    _other_owner, other = make_seller()
    game_for(company)
    game_for(other)
    player = make_user()
    sign_in(player)
    for hostile in ("", "x", "\x00", "-5", "1e3", "9" * 40, str(class_id(other))):
        response = post_form(client, f"/legends/{company.slug}/join", {"class_id": hostile})
        assert response.status_code in (400, 422) and "class_id" in response.get_data(as_text=True), hostile
    assert member_row(company, player) is None


def test_a_review_and_a_completed_order_earn_the_buyer_xp_once(client, db, cast, sign_in):
    game_for(cast.company)
    join(client, sign_in, cast.buyer, cast.company, "Sage")
    order = make_order(cast, "completed")
    record_event(cast.company.id, "order.completed", example_data("order.completed", order_id=order.id))
    record_event(cast.company.id, "order.completed", example_data("order.completed", order_id=order.id))
    db.session.commit()
    assert member_row(cast.company, cast.buyer).total_xp == 25
    assert post_form(client, f"/orders/{order.id}/review", {"rating": "5", "body": "Lovely."}).status_code == 303
    assert member_row(cast.company, cast.buyer).total_xp == 25 + 15
    kinds = db.session.scalars(select(LegendsXpAward.kind).order_by(LegendsXpAward.id)).all()
    assert kinds == ["order", "review"]
