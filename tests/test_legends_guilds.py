"""Legends guilds over HTTP: found, invite, join (open or invited, up to the cap), officers,
leave (the leader hands over; the last one out closes it), guild XP and its leaderboard —
each with its refusals and hostile inputs."""

from sqlalchemy import func, select

from app.extensions import db
from app.models import LegendsGuild, LegendsGuildInvite
from app.services.legends import boards
from tests.forms import post_form
from tests.hostile import NUL
from tests.legends_game import game_for, join, member_row, referral


def _guild(company, name):
    return db.session.scalar(
        select(LegendsGuild).where(LegendsGuild.company_id == company.id, LegendsGuild.name == name)
    )


def test_a_guild_is_founded_invites_members_and_earns_xp(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game = game_for(company)
    game.guild_member_cap = 3
    db.session.commit()
    leader, mate, third, fourth = (make_user() for _ in range(4))
    for user in (mate, third, fourth):
        join(client, sign_in, user, company)
    join(client, sign_in, leader, company)
    base = f"/legends/{company.slug}/guilds"
    assert post_form(client, base, {"name": "Night Owls"}).status_code == 303
    guild = _guild(company, "Night Owls")
    assert member_row(company, leader).guild_role == "leader" and guild.member_cap == 3
    again = post_form(client, base, {"name": "Second"})
    assert again.status_code == 409
    for person in (mate, third, fourth):
        assert (
            post_form(
                client, f"{base}/{guild.id}/invite", {"member_id": str(member_row(company, person).id)}
            ).status_code
            == 303
        )
    sign_in(mate)
    assert post_form(client, f"{base}/{guild.id}/join").status_code == 303
    assert (
        post_form(client, f"{base}/{guild.id}/invite", {"member_id": str(member_row(company, third).id)}).status_code
        == 403
    )
    sign_in(leader)
    refused = post_form(client, f"{base}/{guild.id}/officers", {"member_id": str(member_row(company, fourth).id)})
    assert refused.status_code == 422
    assert (
        post_form(client, f"{base}/{guild.id}/officers", {"member_id": str(member_row(company, mate).id)}).status_code
        == 303
    )
    assert (
        post_form(client, f"{base}/{guild.id}/officers", {"member_id": str(member_row(company, mate).id)}).status_code
        == 409
    )
    sign_in(third)
    assert post_form(client, f"{base}/{guild.id}/join").status_code == 303
    sign_in(fourth)
    full = post_form(client, f"{base}/{guild.id}/join")
    assert full.status_code == 409 and "full" in full.get_data(as_text=True)
    referral(company, mate, 31)
    db.session.expire_all()
    assert guild.xp == 170
    board = boards.top(company.id, "guilds", "all")
    assert board.rows == [(1, guild.id, 170)]
    assert [row[1] for row in boards.top(company.id, "xp", "all", f"guild:{guild.id}").rows][0] == member_row(
        company, mate
    ).id
    sign_in(mate)
    page = client.get(f"/legends/{company.slug}/board?category=guilds").get_data(as_text=True)
    assert "Night Owls" in page


def test_leaving_hands_the_guild_over_and_the_last_one_out_closes_it(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    leader, mate = make_user(), make_user()
    join(client, sign_in, mate, company)
    join(client, sign_in, leader, company)
    base = f"/legends/{company.slug}/guilds"
    assert post_form(client, base, {"name": "Open House", "open": "1"}).status_code == 303
    guild = _guild(company, "Open House")
    sign_in(mate)
    assert post_form(client, f"{base}/{guild.id}/join").status_code == 303
    assert post_form(client, f"{base}/{guild.id}/join").status_code == 409
    sign_in(leader)
    assert post_form(client, f"{base}/leave").status_code == 303
    assert post_form(client, f"{base}/leave").status_code == 409
    assert member_row(company, mate).guild_role == "leader"
    sign_in(mate)
    assert post_form(client, f"{base}/leave").status_code == 303
    assert _guild(company, "Open House") is None
    assert boards.top(company.id, "guilds", "all").rows == []


def test_invitation_only_guilds_refuse_the_uninvited(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    leader, stranger = make_user(), make_user()
    join(client, sign_in, stranger, company)
    join(client, sign_in, leader, company)
    assert post_form(client, f"/legends/{company.slug}/guilds", {"name": "Closed"}).status_code == 303
    guild = _guild(company, "Closed")
    sign_in(stranger)
    refused = post_form(client, f"/legends/{company.slug}/guilds/{guild.id}/join")
    assert refused.status_code == 403 and "invitation only" in refused.get_data(as_text=True)
    assert (
        post_form(client, f"/legends/{company.slug}/guilds/{guild.id}/officers", {"member_id": "1"}).status_code == 403
    )


def test_guild_forms_refuse_hostile_input_and_write_nothing(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    leader = make_user()
    join(client, sign_in, leader, company)
    base = f"/legends/{company.slug}/guilds"
    for name in ("", "   ", NUL, "x" * 41):
        response = post_form(client, base, {"name": name})
        assert response.status_code in (400, 422) and "name" in response.get_data(as_text=True), repr(name)
    assert db.session.scalar(select(func.count(LegendsGuild.id))) == 0
    assert post_form(client, base, {"name": "Ünïcødé 🦉"}).status_code == 303
    guild = _guild(company, "Ünïcødé 🦉")
    assert post_form(client, base, {"name": "Ünïcødé 🦉"}).status_code == 409
    for member_id in ("", "abc", "-1", "0", "99999999999999999999", NUL):
        response = post_form(client, f"{base}/{guild.id}/invite", {"member_id": member_id})
        assert response.status_code in (400, 422), repr(member_id)
        response = post_form(client, f"{base}/{guild.id}/officers", {"member_id": member_id})
        assert response.status_code in (400, 422), repr(member_id)
    own = post_form(client, f"{base}/{guild.id}/invite", {"member_id": str(member_row(company, leader).id)})
    assert own.status_code == 409
    assert db.session.scalar(select(func.count(LegendsGuildInvite.id))) == 0
    assert post_form(client, f"{base}/999999/join").status_code == 404
