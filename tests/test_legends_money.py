"""Legends money over HTTP: a quest's cash bonus is paid once on claiming, from the seller's
available balance to the member's affiliate earnings (refused while the seller cannot fund it,
and to anyone outside the game); the creators' bonus field refuses hostile input."""

import httpx
import pytest
from sqlalchemy import func, select

from app.extensions import db as database
from app.models import (
    LedgerEntry,
    LedgerTransaction,
    LegendsQuest,
    LegendsQuestTemplate,
    LegendsXpAward,
    Notification,
    OutboxEvent,
    User,
)
from app.services.affiliates.commissions import affiliate_company_for
from app.services.ledger import account_balance, unbalanced_transactions
from app.services.legends.game import join_game, open_game
from tests.factories import make_seller, make_user
from tests.factories.money import fund_available
from tests.forms import post_form
from tests.hostile import HUGE_NUMBER, NUL, changed_tables, table_counts
from tests.legends_game import (
    RACERS,
    claims_at_once,
    class_id,
    game_for,
    join,
    live_sign_in,
    member_row,
    race,
    referral,
)

BONUS = 250
QUEST_TITLE = "Bring one friend today"


def quest_form(template, **changes):
    form = {
        "title": template.title,
        "period": template.period,
        "target_kind": template.target_kind,
        "difficulty": template.difficulty,
        "base_target": str(template.base_target),
        "reward_xp": str(template.reward_xp),
        "active": "1",
        "bonus_cents": str(template.bonus_cents),
    }
    return {**form, **changes}


def template_of(company, title=QUEST_TITLE):
    return database.session.scalar(
        select(LegendsQuestTemplate).where(
            LegendsQuestTemplate.company_id == company.id, LegendsQuestTemplate.title == title
        )
    )


def set_bonus(client, sign_in, owner, company, cents=BONUS):
    """The owner gives the daily referral quest a cash bonus through the creators' form."""
    sign_in(owner)
    template = template_of(company)
    response = post_form(client, f"/sell/legends/quests/{template.id}", quest_form(template, bonus_cents=str(cents)))
    assert response.status_code == 303, response.get_data(as_text=True)[:400]
    database.session.expire_all()
    assert template_of(company).bonus_cents == cents
    return template


def completed_quest(client, sign_in, player, company, referral_id=601):
    """`player` joins, a referral completes their daily quest; its id."""
    member = join(client, sign_in, player, company, "Sage")
    referral(company, player, referral_id)
    quest = database.session.scalar(
        select(LegendsQuest)
        .join(LegendsQuestTemplate)
        .where(LegendsQuest.member_id == member.id, LegendsQuestTemplate.title == QUEST_TITLE)
    )
    assert quest.completed_at is not None
    return quest.id


def bonus_transactions():
    return database.session.scalars(
        select(LedgerTransaction).where(LedgerTransaction.kind == "legends_quest_bonus")
    ).all()


def test_a_quest_cash_bonus_is_paid_once_on_claiming(client, db, make_seller, make_user, sign_in):
    owner, company = make_seller()
    game_for(company)
    fund_available(company.id, 1000)
    set_bonus(client, sign_in, owner, company)
    assert "+$2.50 cash" in client.get("/sell/legends").get_data(as_text=True)
    player = make_user()
    quest_id = completed_quest(client, sign_in, player, company)
    page = client.get(f"/legends/{company.slug}").get_data(as_text=True)
    assert "50 XP + $2.50" in page
    before_xp = member_row(company, player).total_xp
    assert post_form(client, f"/legends/{company.slug}/quests/{quest_id}/claim").status_code == 303
    again = post_form(client, f"/legends/{company.slug}/quests/{quest_id}/claim")
    assert again.status_code == 409 and "already claimed" in again.get_data(as_text=True)
    db.session.expire_all()
    wallet = affiliate_company_for(db.session.get(User, player.id), create=False)
    [paid] = bonus_transactions()
    quest = db.session.get(LegendsQuest, quest_id)
    assert paid.reference == f"legends:quest-bonus:{quest.bonus_key}" and len(quest.bonus_key) >= 32
    assert account_balance("seller_available", company.id) == 1000 - BONUS
    assert account_balance("affiliate_available", wallet.id) == BONUS
    assert member_row(company, player).total_xp == before_xp + 50
    [event] = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "legends.quest_bonus_paid")).all()
    assert (event.data["amount_cents"], event.data["quest_id"], event.data["affiliate_user_id"]) == (
        BONUS,
        quest_id,
        player.id,
    )
    titles = db.session.scalars(select(Notification.title).where(Notification.kind == "legends.quest_bonus_paid")).all()
    assert "A quest paid you a $2.50 bonus" in titles and "You paid a $2.50 Legends quest bonus" in titles
    assert unbalanced_transactions() == []


def test_a_seller_who_cannot_fund_the_bonus_refuses_the_claim_and_writes_nothing(
    client, db, make_seller, make_user, sign_in
):
    owner, company = make_seller()
    game_for(company)
    fund_available(company.id, BONUS - 1)
    set_bonus(client, sign_in, owner, company)
    player = make_user()
    quest_id = completed_quest(client, sign_in, player, company)
    before = table_counts()
    refused = post_form(client, f"/legends/{company.slug}/quests/{quest_id}/claim")
    assert refused.status_code == 409 and "cannot fund this quest" in refused.get_data(as_text=True)
    assert changed_tables(before, table_counts()) == {}
    db.session.expire_all()
    assert db.session.get(LegendsQuest, quest_id).claimed_at is None
    assert not db.session.scalar(
        select(func.count(LegendsXpAward.id)).where(LegendsXpAward.source_key == f"quest:{quest_id}")
    )
    assert account_balance("seller_available", company.id) == BONUS - 1
    fund_available(company.id, 1, reference="test:top-up")  # now it can: the quest is still claimable
    assert post_form(client, f"/legends/{company.slug}/quests/{quest_id}/claim").status_code == 303
    db.session.expire_all()
    assert account_balance("seller_available", company.id) == 0 and len(bonus_transactions()) == 1


def test_a_member_of_another_game_cannot_claim_the_bonus(client, db, make_seller, make_user, sign_in):
    owner, company = make_seller()
    _other_owner, other = make_seller()
    game_for(company)
    game_for(other)
    fund_available(company.id, 1000)
    set_bonus(client, sign_in, owner, company)
    quest_id = completed_quest(client, sign_in, make_user(), company)
    intruder = make_user()
    join(client, sign_in, intruder, other)
    before = table_counts()
    for slug in (company.slug, other.slug):
        assert post_form(client, f"/legends/{slug}/quests/{quest_id}/claim").status_code == 404
    sign_in(owner)  # the seller is not a player of its own game either
    assert post_form(client, f"/legends/{company.slug}/quests/{quest_id}/claim").status_code == 404
    assert changed_tables(before, table_counts(), ignore=("audit_events", "user_sessions")) == {}
    assert bonus_transactions() == [] and account_balance("seller_available", company.id) == 1000


def test_the_bonus_field_refuses_hostile_input_and_keeps_the_bonus(client, db, make_seller, sign_in):
    owner, company = make_seller()
    game_for(company)
    template = set_bonus(client, sign_in, owner, company, 125)
    for value in ("-1", "100001", "12.5", "1e3", "0x10", "abc", "", NUL, HUGE_NUMBER, "<script>alert(1)</script>"):
        response = post_form(client, f"/sell/legends/quests/{template.id}", quest_form(template, bonus_cents=value))
        body = response.get_data(as_text=True)
        assert response.status_code in (400, 422), (value, response.status_code)
        assert "Cash bonus (cents) must be a whole number" in body or "“bonus_cents”" in body, value
        assert "<script>alert(1)</script>" not in body, value
        db.session.expire_all()
        assert template_of(company).bonus_cents == 125, value
    # The ceiling itself is fine; a form without the field keeps the bonus.
    assert (
        post_form(client, f"/sell/legends/quests/{template.id}", quest_form(template, bonus_cents="100000")).status_code
        == 303
    )
    form = quest_form(template_of(company))
    del form["bonus_cents"]
    assert post_form(client, f"/sell/legends/quests/{template.id}", form).status_code == 303
    db.session.expire_all()
    assert template_of(company).bonus_cents == 100000
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == 0


def _bonus_game(app, players, funds):
    """A seller funded with `funds` cents whose daily referral quest pays BONUS; `players`
    members, each with that quest completed. (slug, seller id, [(email, quest id)])."""
    with app.app_context():
        _owner, company = make_seller()
        open_game(company)
        template = template_of(company)
        template.bonus_cents = BONUS
        fund_available(company.id, funds)
        claims = []
        for index in range(players):
            player = make_user()
            member = join_game(company, player, str(class_id(company, "Scout")))
            database.session.commit()
            referral(company, player, 9000 + index)
            quest_id = database.session.scalar(
                select(LegendsQuest.id).where(
                    LegendsQuest.member_id == member.id,
                    LegendsQuest.template_id == template.id,
                    LegendsQuest.completed_at.is_not(None),
                )
            )
            claims.append((player.email, quest_id))
        found = company.slug, company.id, claims
        database.session.remove()
    return found


@pytest.mark.committed
def test_twenty_concurrent_claims_of_a_bonus_quest_pay_once(app, live_server):
    slug, company_id, [(email, quest_id)] = _bonus_game(app, 1, 10 * BONUS)
    codes = claims_at_once(live_server, email, slug, quest_id)
    assert codes == [303] + [409] * (RACERS - 1), codes
    with app.app_context():
        assert len(bonus_transactions()) == 1
        assert account_balance("seller_available", company_id) == 9 * BONUS
        assert unbalanced_transactions() == []
        database.session.remove()


@pytest.mark.committed
def test_twenty_members_claiming_at_once_never_overdraw_the_seller(app, live_server):
    # Six members (sign-ins are rate limited), each claiming from several racers at once; the
    # seller can fund three bonuses.
    slug, company_id, claims = _bonus_game(app, 6, 3 * BONUS)
    members = [(live_sign_in(live_server, email), quest_id) for email, quest_id in claims]

    def claim(index):
        (client, csrf), quest_id = members[index % len(members)]
        with httpx.Client(base_url=live_server, timeout=30, cookies=client.cookies) as racer:
            return racer.post(f"/legends/{slug}/quests/{quest_id}/claim", data={"csrf_token": csrf}).status_code

    codes = sorted(race(claim))
    for (client, _csrf), _quest in members:
        client.close()
    assert codes == [303] * 3 + [409] * (RACERS - 3), codes
    with app.app_context():
        assert len(bonus_transactions()) == 3
        assert account_balance("seller_available", company_id) == 0
        assert unbalanced_transactions() == []
        database.session.remove()
