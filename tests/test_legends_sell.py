"""The creators' Legends dashboard (/sell/legends): opening the game, settings, classes, quest
templates and achievements (each saved, and refused with hostile input, writing nothing),
figures, CSV exports, and another company's rows out of reach."""

import csv
import io

import pytest
from sqlalchemy import func, select

from app.models import (
    Company,
    LegendsAchievement,
    LegendsClass,
    LegendsGame,
    LegendsGuild,
    LegendsMember,
    LegendsMemberAchievement,
    LegendsQuestTemplate,
    LegendsXpAward,
)
from app.services.legends import boards
from tests.forms import post_form
from tests.hostile import HUGE_NUMBER, NUL, changed_tables, table_counts
from tests.legends_game import game_for, join, referral

CLASS = {"name": "Bard", "description": "Sings.", "xp_multiplier_pct": "150", "commission_bonus_bps": "250"}
QUEST = {
    "title": "Five friends",
    "period": "weekly",
    "target_kind": "referrals",
    "difficulty": "epic",
    "base_target": "5",
    "reward_xp": "400",
}
ACHIEVEMENT = {
    "name": "Quest Master",
    "description": "Claimed 3 quests.",
    "rule": "quests",
    "threshold": "3",
    "reward_xp": "90",
}
SETTINGS = {
    "name": "Studio Legends",
    "terms": "Sages earn +5% commission, paid by us.",
    "class_change_days": "7",
    "guild_member_cap": "12",
    "enabled": "1",
}


def test_an_owner_opens_and_configures_the_game(client, db, make_seller, sign_in):
    owner, company = make_seller()
    sign_in(owner)
    assert "Open your Legends game" in client.get("/sell/legends").get_data(as_text=True)
    assert post_form(client, "/sell/legends/settings", SETTINGS).status_code == 404  # no game yet
    assert post_form(client, "/sell/legends/open").status_code == 303
    assert post_form(client, "/sell/legends/open").status_code == 409
    assert post_form(client, "/sell/legends/settings", SETTINGS).status_code == 303
    game = db.session.scalar(select(LegendsGame))
    assert (game.name, game.class_change_days, game.guild_member_cap, game.enabled) == ("Studio Legends", 7, 12, True)
    assert post_form(client, "/sell/legends/classes", CLASS).status_code == 303
    bard = db.session.scalar(select(LegendsClass).where(LegendsClass.name == "Bard"))
    assert (bard.xp_multiplier_pct, bard.commission_bonus_bps) == (150, 250)
    assert post_form(client, f"/sell/legends/classes/{bard.id}", {**CLASS, "name": "Minstrel"}).status_code == 303
    assert post_form(client, "/sell/legends/quests", QUEST).status_code == 303
    quest = db.session.scalar(select(LegendsQuestTemplate).where(LegendsQuestTemplate.title == "Five friends"))
    assert (quest.difficulty, quest.base_target, quest.active) == ("epic", 5, True)
    assert post_form(client, f"/sell/legends/quests/{quest.id}", {**QUEST, "active": "0"}).status_code == 303
    assert post_form(client, "/sell/legends/achievements", ACHIEVEMENT).status_code == 303
    badge = db.session.scalar(select(LegendsAchievement).where(LegendsAchievement.code == "quest-master"))
    assert (
        post_form(client, f"/sell/legends/achievements/{badge.id}", {**ACHIEVEMENT, "threshold": "4"}).status_code
        == 303
    )
    db.session.expire_all()
    assert (bard.name, quest.active, badge.threshold) == ("Minstrel", False, 4)
    page = client.get("/sell/legends").get_data(as_text=True)
    assert "Minstrel" in page and "Five friends" in page and "Quest Master" in page
    assert "Minstrel" in client.get(f"/legends/{company.slug}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "good", "field", "values"),
    [
        ("/sell/legends/settings", SETTINGS, "name", ("", NUL, "x" * 81)),
        ("/sell/legends/settings", SETTINGS, "class_change_days", ("", "-1", "366", "abc", HUGE_NUMBER, "1.5")),
        ("/sell/legends/settings", SETTINGS, "guild_member_cap", ("1", "501", "²")),
        ("/sell/legends/classes", CLASS, "name", ("", "Scout", "x" * 41)),
        ("/sell/legends/classes", CLASS, "xp_multiplier_pct", ("49", "301", "-100", HUGE_NUMBER)),
        ("/sell/legends/classes", CLASS, "commission_bonus_bps", ("-1", "5001", "ten")),
        ("/sell/legends/quests", QUEST, "period", ("yearly", "", NUL)),
        ("/sell/legends/quests", QUEST, "target_kind", ("xp", "")),
        ("/sell/legends/quests", QUEST, "difficulty", ("legendary",)),
        ("/sell/legends/quests", QUEST, "base_target", ("0", "-5", HUGE_NUMBER)),
        ("/sell/legends/quests", QUEST, "reward_xp", ("100001", "x")),
        ("/sell/legends/quests", QUEST, "bonus_cents", ("-1", "100001", "abc", "1.5", "", NUL, HUGE_NUMBER)),
        ("/sell/legends/achievements", ACHIEVEMENT, "rule", ("magic",)),
        ("/sell/legends/achievements", ACHIEVEMENT, "threshold", ("0", HUGE_NUMBER)),
        ("/sell/legends/achievements", ACHIEVEMENT, "name", ("", NUL, "😀" * 81)),
    ],
)
def test_creator_forms_refuse_hostile_input_naming_the_field(
    client, db, make_seller, sign_in, path, good, field, values
):
    owner, company = make_seller()
    game_for(company)
    sign_in(owner)
    for value in values:
        before = table_counts()
        response = post_form(client, path, {**good, field: value})
        assert response.status_code in (400, 422), (field, value, response.status_code)
        assert field in response.get_data(as_text=True), (field, value)
        assert changed_tables(before, table_counts(), ignore=("audit_events",)) == {}, (field, value)


def test_another_companys_rows_are_out_of_reach(client, db, make_seller, sign_in):
    owner, company = make_seller()
    _other_owner, other = make_seller()
    game_for(company)
    game_for(other)
    theirs = {
        "classes": db.session.scalar(select(LegendsClass.id).where(LegendsClass.company_id == other.id)),
        "quests": db.session.scalar(select(LegendsQuestTemplate.id).where(LegendsQuestTemplate.company_id == other.id)),
        "achievements": db.session.scalar(
            select(LegendsAchievement.id).where(LegendsAchievement.company_id == other.id)
        ),
    }
    forms = {"classes": CLASS, "quests": QUEST, "achievements": ACHIEVEMENT}
    sign_in(owner)
    for kind, row_id in theirs.items():
        assert post_form(client, f"/sell/legends/{kind}/{row_id}", forms[kind]).status_code == 404
    assert db.session.scalar(select(func.count(LegendsClass.id)).where(LegendsClass.name == "Bard")) == 0


def test_figures_and_csv_exports(client, db, make_seller, make_user, sign_in):
    owner, company = make_seller()
    game_for(company)
    player = make_user(display_name="=HYPERLINK(evil)")
    join(client, sign_in, player, company, "Sage")
    referral(company, player, 9)
    sign_in(owner)
    page = client.get("/sell/legends").get_data(as_text=True)
    assert "1 members" in page and "1 referrals" in page
    members = client.get("/sell/legends/export/members.csv")
    assert members.status_code == 200 and members.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(members.get_data(as_text=True))))
    assert rows[0][0] == "member_id" and rows[1][1] == "'=HYPERLINK(evil)" and rows[1][2] == "Sage"
    referrals = list(csv.reader(io.StringIO(client.get("/sell/legends/export/referrals.csv").get_data(as_text=True))))
    assert referrals[1][2] == "referral:9"
    for kind in ("commissions", "quests"):
        assert client.get(f"/sell/legends/export/{kind}.csv").status_code == 200
    assert client.get("/sell/legends/export/passwords.csv").status_code == 404


def test_exports_need_a_game(client, db, make_seller, sign_in):
    owner, _company = make_seller()
    sign_in(owner)
    assert client.get("/sell/legends/export/members.csv").status_code == 404


def test_seed_demo_opens_a_populated_game(app, client, db):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    url = next(line.split()[1] for line in first.output.splitlines() if line.startswith("legends "))
    slug = url.rsplit("/", 1)[1]
    company = db.session.scalar(select(Company).where(Company.slug == slug))
    per_class = dict(
        db.session.execute(
            select(LegendsClass.name, func.count(LegendsMember.id))
            .join(LegendsMember, LegendsMember.class_id == LegendsClass.id)
            .where(LegendsClass.company_id == company.id)
            .group_by(LegendsClass.name)
        ).all()
    )
    assert set(per_class) == {"Scout", "Sage", "Champion"} and sum(per_class.values()) == 12
    assert db.session.scalar(select(func.count(LegendsGuild.id)).where(LegendsGuild.company_id == company.id)) == 1
    assert db.session.scalar(select(func.count(LegendsMemberAchievement.id))) > 0
    assert len(boards.top(company.id, "xp", "all").rows) == 12
    awards = db.session.scalar(select(func.count(LegendsXpAward.id)))
    second = runner.invoke(args=["seed-demo"])
    assert second.output == first.output and db.session.scalar(select(func.count(LegendsXpAward.id))) == awards
