"""The Legends game inside the Whop iframe (/experiences/<id>/legends): live like
/legends/<slug> (the signed stream link, the frame's own polling feed, the me/board regions),
and a Whop member with access joins and claims quests there with the signed form token —
while a viewer without access, a forged or someone else's token, a missing Whop token, or a
quest of another member is refused and writes nothing."""

import re

from sqlalchemy import func, select

from app.models import LegendsMember, LegendsQuest, LegendsQuestTemplate, LegendsXpAward, WhopIdentity
from app.services.legends.frame import frame_token
from tests import test_whop_app_experiences as whop_tests
from tests.hostile import NUL, changed_tables, table_counts
from tests.legends_game import class_id, game_for, join, member_row, referral
from tests.test_whop_app_experiences import grant, whop_user_id

shop = whop_tests.shop
mint = whop_tests.mint
IGNORED = ("audit_events", "user_sessions")


def _page(client, shop, token, query=""):
    return client.get(f"/experiences/{shop.experience_id}/legends{query}", headers={"x-whop-user-token": token})


def _post(client, shop, token, path, data):
    return client.post(
        f"/experiences/{shop.experience_id}/legends{path}", data=data, headers={"x-whop-user-token": token}
    )


def _form_token(body):
    return re.search(r'name="frame_token" value="([^"]+)"', body).group(1)


def _viewer(db, client, shop, mint, access=True):
    """A Whop viewer (their Tradepost user made on the first visit), granted the product."""
    whop_id = whop_user_id()
    first = _page(client, shop, mint(whop_id))
    assert first.status_code == 403  # no access yet
    if access:
        grant(db, whop_id, shop.product)
    user = db.session.scalar(select(WhopIdentity).where(WhopIdentity.whop_user_id == whop_id)).user
    return whop_id, user


def test_a_whop_member_joins_plays_live_and_claims_a_quest_in_the_frame(client, db, shop, mint):
    game_for(shop.company)
    whop_id, user = _viewer(db, client, shop, mint)
    page = _page(client, shop, mint(whop_id))
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Pick your class" in body and 'name="csrf_token"' not in body
    joined = _post(
        client,
        shop,
        mint(whop_id),
        "/join",
        {"frame_token": _form_token(body), "class_id": str(class_id(shop.company, "Champion"))},
    )
    assert joined.status_code == 303 and joined.headers["Location"].endswith(
        f"/experiences/{shop.experience_id}/legends"
    )
    member = member_row(shop.company, user)
    assert member.klass.name == "Champion"

    live = _page(client, shop, mint(whop_id)).get_data(as_text=True)
    assert "data-legends-stream" in live and "/stream/legends/" in live  # the signed stream link
    assert f'data-feed-url="/experiences/{shop.experience_id}/legends/feed"' in live
    assert "?part=me" in live and "?part=board" in live and "Your rank" in live and "Claim" not in live

    referral(shop.company, user, 4711)  # completes "Bring one friend today"
    feed = client.get(
        f"/experiences/{shop.experience_id}/legends/feed?after=0", headers={"x-whop-user-token": mint(whop_id)}
    )
    events = [row["event"] for row in feed.get_json()["events"]]
    assert feed.status_code == 200 and "quest_completed" in events and "level_up" in events
    region = _page(client, shop, mint(whop_id), "?part=me").get_data(as_text=True)
    assert "<html" in region and 'id="legends-me"' in region  # without HX-Request: the whole page
    fragment = client.get(
        f"/experiences/{shop.experience_id}/legends?part=me",
        headers={"x-whop-user-token": mint(whop_id), "HX-Request": "true"},
    ).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section class="card section" id="legends-me">') and "<html" not in fragment

    page = _page(client, shop, mint(whop_id)).get_data(as_text=True)
    quest_id = db.session.scalar(
        select(LegendsQuest.id)
        .join(LegendsQuestTemplate)
        .where(LegendsQuest.member_id == member.id, LegendsQuestTemplate.title == "Bring one friend today")
    )
    assert f"/experiences/{shop.experience_id}/legends/quests/{quest_id}/claim" in page
    before = member_row(shop.company, user).total_xp
    claim = {"frame_token": _form_token(page)}
    assert _post(client, shop, mint(whop_id), f"/quests/{quest_id}/claim", claim).status_code == 303
    assert member_row(shop.company, user).total_xp == before + 50
    again = _post(client, shop, mint(whop_id), f"/quests/{quest_id}/claim", claim)
    assert again.status_code == 409 and "already claimed" in again.get_data(as_text=True)


def test_the_frames_actions_refuse_everyone_else_and_write_nothing(client, db, shop, mint, make_user, sign_in):
    game_for(shop.company)
    whop_id, user = _viewer(db, client, shop, mint)
    outsider_id, outsider = _viewer(db, client, shop, mint, access=False)
    good = _form_token(_page(client, shop, mint(whop_id)).get_data(as_text=True))
    sage = str(class_id(shop.company, "Sage"))
    before = table_counts()
    refusals = [
        # no Whop token: the 401 page
        (None, {"frame_token": good, "class_id": sage}, 401),
        # no form token, a forged one, a NUL, someone else's, another experience's
        (mint(whop_id), {"class_id": sage}, 403),
        (mint(whop_id), {"frame_token": good + "x", "class_id": sage}, 403),
        (mint(whop_id), {"frame_token": NUL, "class_id": sage}, 400),
        (mint(whop_id), {"frame_token": frame_token(shop.experience_id, outsider.id), "class_id": sage}, 403),
        (mint(whop_id), {"frame_token": frame_token("exp_other", user.id), "class_id": sage}, 403),
        # a viewer without access, even with a form token of their own
        (mint(outsider_id), {"frame_token": frame_token(shop.experience_id, outsider.id), "class_id": sage}, 403),
        # a class of no game
        (mint(whop_id), {"frame_token": good, "class_id": "99999"}, 422),
    ]
    for token, data, status in refusals:
        headers = {"x-whop-user-token": token} if token else {}
        response = client.post(f"/experiences/{shop.experience_id}/legends/join", data=data, headers=headers)
        assert response.status_code == status, (data, response.status_code)
    assert changed_tables(before, table_counts(), ignore=IGNORED) == {}
    # A Whop member of the game cannot claim someone else's quest through the frame.
    other = make_user()
    other_member = join(client, sign_in, other, shop.company)
    referral(shop.company, other, 4712)
    their_quest = db.session.scalar(
        select(LegendsQuest.id).where(LegendsQuest.member_id == other_member.id, LegendsQuest.completed_at.is_not(None))
    )
    not_joined = _post(client, shop, mint(whop_id), f"/quests/{their_quest}/claim", {"frame_token": good})
    assert not_joined.status_code == 404
    assert _post(client, shop, mint(whop_id), "/join", {"frame_token": good, "class_id": sage}).status_code == 303
    stolen = _post(client, shop, mint(whop_id), f"/quests/{their_quest}/claim", {"frame_token": good})
    assert stolen.status_code == 404
    assert not db.session.scalar(
        select(func.count(LegendsXpAward.id)).where(LegendsXpAward.source_key == f"quest:{their_quest}")
    )
    # The feed and the page refuse a viewer without access, and a viewer who has not joined.
    for token, status in ((mint(outsider_id), 403), (None, 401)):
        headers = {"x-whop-user-token": token} if token else {}
        assert client.get(f"/experiences/{shop.experience_id}/legends/feed", headers=headers).status_code == status
    assert db.session.scalar(select(func.count(LegendsMember.id)).where(LegendsMember.user_id == outsider.id)) == 0
