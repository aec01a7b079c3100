"""Who may read and act in a Legends game: a member of company A's game cannot read or act in
company B's (every member route answers 404), people who have not joined see only the join
page, a game that is off or missing is not there, and the Whop experience view shows the game
to a Whop member with access to the product and refuses everyone else."""

import pytest
from sqlalchemy import func, select

from app.models import LegendsGuild, LegendsMember, LegendsQuest, LegendsXpAward
from app.services.legends.game import join_game
from tests import test_whop_app_experiences as whop_tests
from tests.forms import post_form
from tests.legends_game import class_id, game_for, join, member_row
from tests.test_whop_app_experiences import grant, whop_user_id

# The Whop view's fixtures: a seller's product linked to an experience, and user tokens.
shop = whop_tests.shop
mint = whop_tests.mint


@pytest.fixture
def two_games(client, db, make_seller, make_user, sign_in):
    """Company A's game with `player` (who leads guild "Aces") and company B's with `rival`
    (guild "Bees"); the client is signed in as `player`."""
    _a_owner, a = make_seller(title="Alpha")
    _b_owner, b = make_seller(title="Beta")
    game_for(a)
    game_for(b)
    player, rival = make_user(), make_user()
    join(client, sign_in, rival, b)
    assert post_form(client, f"/legends/{b.slug}/guilds", {"name": "Bees"}).status_code == 303
    join(client, sign_in, player, a)
    assert post_form(client, f"/legends/{a.slug}/guilds", {"name": "Aces"}).status_code == 303
    return a, b, player, rival


def _routes(slug, quest_id, guild_id):
    return [
        ("get", f"/legends/{slug}/board"),
        ("get", f"/legends/{slug}/me"),
        ("get", f"/legends/{slug}/feed?after=0"),
        ("post", f"/legends/{slug}/class"),
        ("post", f"/legends/{slug}/prestige"),
        ("post", f"/legends/{slug}/quests/{quest_id}/claim"),
        ("post", f"/legends/{slug}/guilds"),
        ("post", f"/legends/{slug}/guilds/{guild_id}/join"),
        ("post", f"/legends/{slug}/guilds/leave"),
        ("post", f"/legends/{slug}/guilds/{guild_id}/invite"),
        ("post", f"/legends/{slug}/guilds/{guild_id}/officers"),
    ]


def test_a_member_of_one_game_cannot_read_or_act_in_another(client, db, two_games):
    a, b, player, rival = two_games
    mine = member_row(a, player)
    their_quest = db.session.scalar(select(LegendsQuest.id).where(LegendsQuest.member_id == member_row(b, rival).id))
    their_guild = db.session.scalar(select(LegendsGuild.id).where(LegendsGuild.company_id == b.id))
    my_quest = db.session.scalar(select(LegendsQuest.id).where(LegendsQuest.member_id == mine.id))
    my_guild = mine.guild_id
    before = db.session.scalar(select(func.count(LegendsXpAward.id)))
    for quest_id, guild_id in ((their_quest, their_guild), (my_quest, my_guild)):
        for method, path in _routes(b.slug, quest_id, guild_id):
            data = {"class_id": str(class_id(b)), "name": "Intruders", "member_id": str(mine.id)}
            response = client.get(path) if method == "get" else post_form(client, path, data)
            assert response.status_code == 404, (method, path, response.status_code)
    page = client.get(f"/legends/{b.slug}").get_data(as_text=True)
    assert "Pick your class" in page and "Bees" not in page and "Your rank" not in page
    assert db.session.scalar(select(func.count(LegendsXpAward.id))) == before
    assert db.session.scalar(select(func.count(LegendsMember.id)).where(LegendsMember.company_id == b.id)) == 1
    assert db.session.scalar(select(func.count(LegendsGuild.id))) == 2
    # Through A's own URLs, B's quest and guild are not there either.
    assert post_form(client, f"/legends/{a.slug}/quests/{their_quest}/claim").status_code == 404
    assert post_form(client, f"/legends/{a.slug}/guilds/{their_guild}/invite", {"member_id": "1"}).status_code == 404
    assert client.get(f"/legends/{a.slug}/me").status_code == 200


def test_signed_out_visitors_see_the_join_page_and_must_sign_in_to_act(client, db, make_seller):
    _owner, company = make_seller()
    game_for(company)
    client.post("/signout")
    page = client.get(f"/legends/{company.slug}")
    assert page.status_code == 200 and "Sign in to play" in page.get_data(as_text=True)
    assert client.get(f"/legends/{company.slug}/feed").status_code == 302


def test_a_game_that_is_off_or_missing_is_not_there(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game = game_for(company)
    _other_owner, no_game = make_seller()
    player = make_user()
    join(client, sign_in, player, company)
    game.enabled = False
    db.session.commit()
    for path in (
        f"/legends/{company.slug}",
        f"/legends/{no_game.slug}",
        "/legends/no-such-company",
        f"/legends/{company.slug}/feed",
    ):
        assert client.get(path).status_code == 404, path
    assert post_form(client, f"/legends/{no_game.slug}/join", {"class_id": "1"}).status_code == 404


def test_the_feed_polls_the_members_events(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    player, other = make_user(), make_user()
    join(client, sign_in, other, company)
    join(client, sign_in, player, company)
    mine = member_row(company, player)
    from tests.legends_game import referral

    referral(company, player, 77)
    referral(company, other, 78)
    everything = client.get(f"/legends/{company.slug}/feed?after=0&format=json").get_json()
    assert everything["events"] and {row["data"].get("member_id") for row in everything["events"]} == {mine.id}
    later = client.get(f"/legends/{company.slug}/feed?after={everything['last_id']}&format=json").get_json()
    assert later == {"events": [], "last_id": everything["last_id"]}
    html = client.get(f"/legends/{company.slug}/feed?after=abc", headers={"HX-Request": "true"})
    assert (
        html.status_code == 200
        and 'id="legends-feed"' in html.get_data(as_text=True)
        and "level up" in html.get_data(as_text=True)
    )


def _experience(client, shop, token):
    return client.get(f"/experiences/{shop.experience_id}/legends", headers={"x-whop-user-token": token})


def test_the_whop_experience_view_shows_the_game_to_members_with_access(client, db, shop, mint):
    game_for(shop.company)
    whop_id = whop_user_id()
    refused = _experience(client, shop, mint(whop_id))
    assert refused.status_code == 403 and "Scout" not in refused.get_data(as_text=True)
    grant(db, whop_id, shop.product)
    page = _experience(client, shop, mint(whop_id))
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Legends" in body and "Scout" in body and 'id="legends-live"' in body
    user = db.session.scalar(select(LegendsMember.user_id).limit(1))
    assert user is None  # viewing joins nobody
    from app.models import WhopIdentity

    identity = db.session.scalar(select(WhopIdentity).where(WhopIdentity.whop_user_id == whop_id))
    join_game(shop.company, identity.user, str(class_id(shop.company, "Champion")))
    db.session.commit()
    joined = _experience(client, shop, mint(whop_id)).get_data(as_text=True)
    assert "Champion" in joined and "Level 1" in joined and "Your rank" in joined


def test_the_whop_experience_view_refuses_without_a_token_or_a_game(client, db, shop, mint):
    assert client.get(f"/experiences/{shop.experience_id}/legends").status_code == 401
    whop_id = whop_user_id()
    _experience(client, shop, mint(whop_id))
    grant(db, whop_id, shop.product)
    assert _experience(client, shop, mint(whop_id)).status_code == 404  # the seller opened no game
    assert (
        client.get("/experiences/exp_nothing/legends", headers={"x-whop-user-token": mint(whop_id)}).status_code == 404
    )
