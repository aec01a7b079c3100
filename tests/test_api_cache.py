"""The API's Redis caches (services/api_cache.py) never answer with what is no longer true: a
key revoked or rolled through /sell/developers is refused by the very next request though its
grant was cached; a product or plan edited through the seller's forms shows on the next GET of
the cached catalogue pages; a warm products page sends no SQL; one company's cached page is
never another's."""

import re

import pytest

from app.queue import get_redis
from app.services import api_cache, api_keys
from tests.forms import post_form
from tests.queries import statements_during
from tests.test_products_form import product_form

KEY = re.compile(r"tp_sk_live_[A-Za-z0-9]{40}")


@pytest.fixture
def shop(db, client, sign_in, make_seller):
    """A signed-in owner's company with one product made through the form, and a products:read key."""
    owner, company = make_seller()
    sign_in(owner)
    assert post_form(client, "/sell/products/new", product_form()).status_code == 303
    key, plaintext = api_keys.create_key(company, name="deploy", scopes=["products:read"])
    db.session.commit()
    return company, key, plaintext


def get(client, plaintext, path="/products"):
    return client.get("/api/v1" + path, headers={"Authorization": f"Bearer {plaintext}"})


def test_a_revoked_key_is_refused_at_once_though_its_grant_was_cached(client, db, shop):
    _, key, plaintext = shop
    assert get(client, plaintext).status_code == 200
    assert get(client, plaintext).status_code == 200
    assert get_redis().get(api_cache.key_entry(key.key_hash)) is not None  # the grant is cached
    done = post_form(client, f"/sell/developers/{key.id}/revoke", {"confirm": "revoke"})
    assert done.status_code == 303
    refused = get(client, plaintext)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "revoked_api_key"
    assert get(client, plaintext).status_code == 401  # and it is not cached again


def test_a_key_rolled_without_overlap_is_refused_at_once_and_the_new_one_works(client, db, shop):
    _, key, old_plain = shop
    assert get(client, old_plain).status_code == 200
    rolled = post_form(client, f"/sell/developers/{key.id}/roll", {"confirm": "roll", "overlap_hours": "0"})
    assert rolled.status_code == 201
    new_plain = KEY.search(rolled.get_data(as_text=True)).group()
    assert get(client, old_plain).status_code == 401
    assert get(client, new_plain).status_code == 200


def test_a_product_edit_shows_on_the_next_get(client, db, shop):
    company, _, plaintext = shop
    first = get(client, plaintext).get_json()["data"][0]
    assert first["amount"] == 2900 and get(client, plaintext).get_json()["data"][0] == first  # served cached
    edited = post_form(client, f"/sell/products/{first['id']}/edit", product_form(price="35", title="Icon pack 2"))
    assert edited.status_code == 303
    after = get(client, plaintext).get_json()["data"][0]
    assert (after["amount"], after["title"]) == (3500, "Icon pack 2")
    assert get(client, plaintext, f"/products/{first['id']}").get_json()["amount"] == 3500


def test_a_plan_taken_off_sale_shows_on_the_next_get(client, db, shop):
    _, _, plaintext = shop
    product = get(client, plaintext).get_json()["data"][0]
    (plan,) = product["plans"]
    assert plan["enabled"] is True and get(client, plaintext, "/plans").get_json()["data"][0]["enabled"] is True
    done = post_form(client, f"/sell/products/{product['id']}/plans/{plan['id']}/status", {"enabled": "off"})
    assert done.status_code == 303
    assert get(client, plaintext).get_json()["data"][0]["plans"][0]["enabled"] is False
    assert get(client, plaintext, "/plans").get_json()["data"][0]["enabled"] is False


def test_a_warm_products_page_sends_no_sql(app, db, shop):
    _, _, plaintext = shop
    client = app.test_client()  # no session cookie: an API client
    cold = get(client, plaintext)
    warm = []
    assert statements_during(lambda: warm.append(get(client, plaintext, "/products?limit=100"))) != []
    assert statements_during(lambda: warm.append(get(client, plaintext, "/products?limit=100"))) == []
    assert warm[0].get_json() == warm[1].get_json() == cold.get_json()
    assert warm[1].headers["RateLimit-Remaining"] == "97"  # each still counted


def test_one_companys_cached_page_is_never_anothers(client, db, shop, make_seller):
    _, _, plaintext = shop
    other_owner, other = make_seller("other@example.com", "Other Shop")
    _, other_plain = api_keys.create_key(other, name="theirs", scopes=["products:read"])
    db.session.commit()
    mine = get(client, plaintext).get_json()["data"]
    theirs = get(client, other_plain).get_json()["data"]
    assert len(mine) == 1 and theirs == []


def test_a_bad_query_is_refused_and_not_cached(client, db, shop):
    _, _, plaintext = shop
    for _ in range(2):
        refused = get(client, plaintext, "/products?limit=0")
        assert refused.status_code == 400 and refused.get_json()["error"]["param"] == "limit"


def test_a_held_page_is_the_page_as_computed_and_is_sent_by_no_redis_read(app, db, shop):
    _, key, plaintext = shop
    client = app.test_client()
    cold = get(client, plaintext, "/products?limit=5")
    warm = get(client, plaintext, "/products?limit=5")
    held = [page for (key_hash, _), page in api_cache.kept_pages.items() if key_hash == key.key_hash]
    assert len(held) == 1 and held[0].body == cold.get_data() == warm.get_data()
    get_redis().delete(*get_redis().keys(api_cache.PAGE_PREFIX + "*"))  # Redis's copy gone: the held one serves
    assert get(client, plaintext, "/products?limit=5").get_data() == cold.get_data()


def test_a_held_page_is_not_served_after_redis_lost_its_keys(client, db, shop):
    _, _, plaintext = shop
    product_id = get(client, plaintext).get_json()["data"][0]["id"]
    assert post_form(client, f"/sell/products/{product_id}/edit", product_form(title="Second")).status_code == 303
    assert get(client, plaintext).get_json()["data"][0]["title"] == "Second"  # now held at this version
    get_redis().flushdb()  # a Redis restarted empty: the versions count again, from elsewhere
    assert get(client, plaintext, "/plans").status_code == 200  # the key's grant is cached again
    for title in ("Third", "Fourth"):  # as many changes as before: counted from 0, the same version again
        assert post_form(client, f"/sell/products/{product_id}/edit", product_form(title=title)).status_code == 303
    assert get(client, plaintext).get_json()["data"][0]["title"] == "Fourth"
