"""Legends under concurrency (run on PostgreSQL too): 20 concurrent replays of one referral
conversion award its XP once, and 20 concurrent claims of one completed quest over HTTP pay
its reward once."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import LegendsMember, LegendsQuest, LegendsQuestTemplate, LegendsXpAward, OutboxEvent
from app.services.legends.game import join_game, open_game
from app.services.outbound.catalogue import example_data
from app.services.outbound.outbox import record_event
from tests.factories import make_seller, make_user
from tests.legends_game import RACERS, claims_at_once, class_id, race

pytestmark = pytest.mark.committed


def _game_with_player(app):
    with app.app_context():
        _owner, company = make_seller()
        open_game(company)
        player = make_user()
        member = join_game(company, player, str(class_id(company, "Sage")))
        db.session.commit()
        ids = company.id, company.slug, player.id, player.email, member.id
        db.session.remove()
    return ids


def test_twenty_concurrent_replays_of_a_referral_award_once(app):
    company_id, _slug, user_id, _email, member_id = _game_with_player(app)
    data = example_data("referral.converted", affiliate_user_id=user_id, referral_id=4242)

    def replay(_index):
        with app.app_context():
            try:
                record_event(company_id, "referral.converted", data)
                db.session.commit()
                return "ok"
            finally:
                db.session.remove()

    assert race(replay) == ["ok"] * RACERS
    with app.app_context():
        awards = db.session.scalars(
            select(LegendsXpAward).where(
                LegendsXpAward.member_id == member_id, LegendsXpAward.source_key == "referral:4242"
            )
        ).all()
        member = db.session.get(LegendsMember, member_id)
        events = db.session.scalar(select(func.count(OutboxEvent.id)).where(OutboxEvent.type == "referral.converted"))
        db.session.remove()
    assert len(awards) == 1 and awards[0].amount == 100
    assert member.referrals == 1 and member.total_xp == 100 + 50  # the referral, then "first referral"
    assert events == RACERS  # every replay recorded its event; the XP came once


def test_twenty_concurrent_claims_of_a_quest_pay_once(app, live_server):
    company_id, slug, user_id, email, member_id = _game_with_player(app)
    with app.app_context():
        record_event(
            company_id,
            "referral.converted",
            example_data("referral.converted", affiliate_user_id=user_id, referral_id=7),
        )
        db.session.commit()
        quest_id = db.session.scalar(
            select(LegendsQuest.id)
            .join(LegendsQuestTemplate)
            .where(LegendsQuest.member_id == member_id, LegendsQuestTemplate.title == "Bring one friend today")
        )
        before = db.session.get(LegendsMember, member_id).total_xp
        db.session.remove()
    codes = claims_at_once(live_server, email, slug, quest_id)
    assert codes == [303] + [409] * (RACERS - 1), codes
    with app.app_context():
        quest_awards = db.session.scalar(
            select(func.count(LegendsXpAward.id)).where(LegendsXpAward.source_key == f"quest:{quest_id}")
        )
        after = db.session.get(LegendsMember, member_id).total_xp
        db.session.remove()
    assert quest_awards == 1 and after == before + 50
