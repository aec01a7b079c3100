"""The public REST API /api/v1: every resource's success and its refusals (auth, scope,
tenant, cursor, limit, version, idempotency, rate limit, hostile input)."""

from datetime import UTC, datetime

import pytest

from app.clock import freeze
from app.queue import get_redis
from app.services.legends import boards
from app.services.legends.engine import Earning, award_xp
from app.services.legends.game import join_game
from tests.api_v1 import Api, error_of, make_api_shop
from tests.legends_game import class_id


@pytest.fixture
def shop(db):
    return make_api_shop()


@pytest.fixture
def api(client, shop):
    return Api(client, shop.key)


def test_list_products_answers_a_page_with_plans_money_and_utc_timestamps(api, shop):
    response = api.get("/products")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["object"] == "list" and body["has_more"] is False
    (product,) = body["data"]
    assert product["id"] == shop.product.id and product["amount"] == 2900 and product["currency"] == "usd"
    assert product["created"].endswith("Z") and len(product["plans"]) == 2
    assert response.headers["RateLimit-Limit"] == "100" and response.headers["Tradepost-Version"] == "2026-11-30"


RETRIEVE = [
    ("/products/{}", "product"),
    ("/plans/{}", "plan"),
    ("/memberships/{}", "membership"),
    ("/payments/{}", "payment"),
    ("/orders/{}", "order"),
    ("/customers/{}", "buyer"),
    ("/licenses/{}", "license"),
    ("/webhook_endpoints/{}", "endpoint"),
    ("/referrals/{}", "referral"),
    ("/commissions/{}", "commission"),
    ("/legends_members/{}", "legends_member"),
]
LISTS = [
    "/products",
    "/plans",
    "/memberships",
    "/payments",
    "/orders",
    "/customers",
    "/licenses",
    "/webhook_endpoints",
    "/referrals",
    "/commissions",
    "/legends_members",
]


@pytest.mark.parametrize(("path", "attribute"), RETRIEVE)
def test_every_object_is_retrieved_by_id_and_another_companys_is_missing(client, shop, path, attribute):
    other = make_api_shop("b-")
    own_id, their_id = getattr(shop, attribute).id, getattr(other, attribute).id
    response = Api(client, shop.key).get(path.format(own_id))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["id"] == own_id and response.get_json()["created"].endswith("Z")
    refused = Api(client, shop.key).get(path.format(their_id))
    assert refused.status_code == 404
    assert error_of(refused)["code"] == "resource_missing"
    assert Api(client, other.key).get(path.format(their_id)).status_code == 200


@pytest.mark.parametrize("path", LISTS)
def test_every_list_holds_only_the_companys_objects(client, shop, path):
    other = make_api_shop("b-")
    mine = Api(client, shop.key).get(path).get_json()["data"]
    theirs = Api(client, other.key).get(path).get_json()["data"]
    assert mine and theirs and not {row["id"] for row in mine} & {row["id"] for row in theirs}


def test_cursor_pages_walk_every_object_once(api, shop):
    from tests.factories import make_plan

    for number in range(5):
        make_plan(shop.product, f"Plan {number}")
    seen, cursor = [], None
    while True:
        query = {"limit": 3, **({"starting_after": cursor} if cursor else {})}
        body = api.get("/plans", **query).get_json()
        seen += [plan["id"] for plan in body["data"]]
        if not body["has_more"]:
            break
        cursor = body["data"][-1]["id"]
    assert len(seen) == 7 and seen == sorted(seen, reverse=True)
    only = api.get("/plans", product=shop.product.id, limit=100).get_json()["data"]
    assert len(only) == 7


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"starting_after": "abc"}, "starting_after"),
        ({"starting_after": -1}, "starting_after"),
        ({"starting_after": 10**30}, "starting_after"),
        ({"starting_after": "１２"}, "starting_after"),
    ],
)
def test_bad_limit_or_cursor_is_a_400_naming_the_parameter(api, query, param):
    response = api.get("/products", **query)
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_nul_in_a_parameter_is_a_400_naming_it(api):
    response = api.get("/products", starting_after="1\x00")
    assert response.status_code == 400 and error_of(response)["param"] == "starting_after"


def test_membership_access_check(api, shop, client):
    answer = api.get("/memberships/check", product=shop.product.id, user=shop.buyer.id)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["has_access"] is True and body["membership"] == shop.membership.id and body["tier_rank"] == 2
    stranger = api.get("/memberships/check", product=shop.product.id, user=shop.cast.other_buyer.id).get_json()
    assert stranger["has_access"] is False and stranger["membership"] is None
    shop.membership.status = "canceled"
    from app.extensions import db

    db.session.commit()
    lapsed = api.get("/memberships/check", product=shop.product.id, user=shop.buyer.id).get_json()
    assert lapsed["has_access"] is False and lapsed["status"] == "canceled"
    other = make_api_shop("b-")
    refused = api.get("/memberships/check", product=other.product.id, user=other.buyer.id)
    assert refused.status_code == 404 and error_of(refused)["param"] == "product"
    missing = api.get("/memberships/check", product=shop.product.id)
    assert missing.status_code == 400 and error_of(missing)["param"] == "user"
    filtered = api.get("/memberships", product=shop.product.id, user=shop.buyer.id).get_json()["data"]
    assert [row["id"] for row in filtered] == [shop.membership.id]


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing_api_key"),
        ("Bearer nope", "malformed_api_key"),
        ("Basic dXNlcjpwYXNz", "malformed_api_key"),
        ("Bearer tp_sk_live_" + "A" * 40, "invalid_api_key"),
    ],
)
def test_requests_without_a_usable_key_are_401(client, shop, authorization, code):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/api/v1/products", headers=headers)
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == code and error["type"] == "authentication_error"


def test_revoked_and_expired_keys_are_401(client, shop):
    from datetime import timedelta

    from app.clock import freeze, now
    from app.extensions import db
    from app.services import api_keys

    expiring, expiring_plain = api_keys.create_key(
        shop.company, name="short", scopes=["products:read"], expires_at=now() + timedelta(hours=1)
    )
    api_keys.revoke_key(shop.key_row)
    db.session.commit()
    assert error_of(Api(client, shop.key).get("/products"))["code"] == "revoked_api_key"
    assert Api(client, expiring_plain).get("/products").status_code == 200
    freeze(now() + timedelta(hours=2))
    try:
        assert error_of(Api(client, expiring_plain).get("/products"))["code"] == "expired_api_key"
    finally:
        freeze(None)


def test_a_key_without_the_scope_is_403(client, db):
    shop = make_api_shop(scopes=["orders:read"])
    api = Api(client, shop.key)
    assert api.get("/orders").status_code == 200
    for path in ["/products", "/payments", "/licenses", "/customers", "/memberships", "/webhook_endpoints"]:
        response = api.get(path)
        assert response.status_code == 403, path
        assert error_of(response)["code"] == "missing_scope"
    refused = api.post(f"/licenses/{shop.license.id}/suspend")
    assert refused.status_code == 403 and error_of(refused)["type"] == "permission_error"


def test_last_used_is_noted(api, shop, db):
    assert shop.key_row.last_used_at is None
    api.get("/products")
    db.session.expire_all()
    assert shop.key_row.last_used_at is not None


def test_version_header_pins_a_known_version_and_refuses_others(api):
    assert api.get("/products", headers={"Tradepost-Version": "2026-11-30"}).status_code == 200
    response = api.get("/products", headers={"Tradepost-Version": "2019-01-01"})
    assert response.status_code == 400
    assert error_of(response) | {"message": ""} == {
        "type": "invalid_request_error",
        "code": "unknown_version",
        "message": "",
        "param": "Tradepost-Version",
    }


def test_unknown_paths_and_methods_answer_the_envelope(api, client):
    missing = api.get("/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    not_allowed = client.put("/api/v1/products")
    assert not_allowed.status_code == 405 and error_of(not_allowed)["code"] == "method_not_allowed"
    assert api.get("/products/99999999999").status_code == 404


def test_rate_limit_is_100_a_minute_per_key_with_headers_then_429(api):
    # Pinned to the start of a minute: a fixed window would otherwise roll over mid-loop.
    freeze(datetime(2026, 12, 1, 17, 0, 5, tzinfo=UTC))
    try:
        for _ in range(100):
            response = api.get("/plans", limit=1)
            assert response.status_code == 200
        assert response.headers["RateLimit-Remaining"] == "0"
        limited = api.get("/plans")
    finally:
        freeze(None)
    assert limited.status_code == 429
    assert error_of(limited)["type"] == "rate_limit_error"
    assert int(limited.headers["Retry-After"]) >= 1 and limited.headers["RateLimit-Remaining"] == "0"
    assert int(limited.headers["RateLimit-Reset"]) == 55


def test_rate_limit_counts_per_address_too(client, shop, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_PER_MINUTE", 3)
    for number in range(3):
        assert client.get("/api/v1/products", headers={"Authorization": f"Bearer bad{number}"}).status_code == 401
    assert Api(client, shop.key).get("/products").status_code == 429


def test_redis_down_is_a_503_envelope(api, app, monkeypatch):
    from redis import Redis

    monkeypatch.setitem(app.extensions, "redis", Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    response = api.get("/products")
    assert response.status_code == 503
    assert error_of(response)["code"] == "service_unavailable" and response.headers["Retry-After"]


def test_the_gate_loads_its_script_again_when_redis_lost_it(api):
    first = api.get("/products")
    get_redis().script_flush()  # a Redis restarted (or SCRIPT FLUSH): the gate's EVALSHA is refused
    again = api.get("/products")
    assert again.status_code == 200 and again.get_json() == first.get_json()
    remaining = int(first.headers["RateLimit-Remaining"]) - int(again.headers["RateLimit-Remaining"])
    assert remaining == 1  # counted once


def test_the_gate_reconnects_when_redis_closed_its_connection(api):
    from app.blueprints.api_v1 import gate

    first = api.get("/products")
    (connection,) = gate.wire.idle
    connection.send_command("CLIENT", "ID")
    get_redis().client_kill_filter(_id=connection.read_response())  # an idle timeout, a restart
    again = api.get("/products")
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert int(first.headers["RateLimit-Remaining"]) - int(again.headers["RateLimit-Remaining"]) == 1


def test_requests_on_threads_of_their_own_share_the_gates_connection(app, shop):
    """The development server answers each request on a new thread: the gate's connection
    goes back for the next one, not one per thread left open."""
    import threading

    from app.blueprints.api_v1 import gate

    answers = []

    def request_once():
        answers.append(Api(app.test_client(), shop.key).get("/products").status_code)

    for _ in range(3):
        thread = threading.Thread(target=request_once)
        thread.start()
        thread.join()
    assert answers == [200, 200, 200] and len(gate.wire.idle) == 1


# --- license keys ---------------------------------------------------------------------------


def test_create_license_is_idempotent_and_refuses_a_reused_key_with_another_body(api, shop, db):
    from sqlalchemy import func, select

    from app.models import License

    def count():
        return db.session.scalar(select(func.count()).select_from(License).where(License.company_id == shop.company.id))

    before = count()
    body = {"product": shop.product.id, "user": shop.buyer.id, "max_activations": 3}
    first = api.post("/licenses", body, headers={"Idempotency-Key": "create-1"})
    assert first.status_code == 201, first.get_json()
    created = first.get_json()
    assert created["key"].startswith("TP-") and created["max_activations"] == 3 and created["user"] == shop.buyer.id
    again = api.post("/licenses", body, headers={"Idempotency-Key": "create-1"})
    assert again.status_code == 201 and again.get_json() == created and again.headers["Idempotent-Replayed"] == "true"
    assert count() == before + 1
    conflict = api.post("/licenses", {**body, "max_activations": 4}, headers={"Idempotency-Key": "create-1"})
    assert conflict.status_code == 409 and error_of(conflict)["code"] == "idempotency_key_reused"
    assert api.post("/licenses", body).status_code == 201 and count() == before + 2


def test_idempotency_keys_are_per_api_key_and_expire_after_a_day(api, shop, client, db):
    from datetime import timedelta

    from app.clock import freeze, now
    from app.services import api_keys

    _, second = api_keys.create_key(shop.company, name="second", scopes=["licenses:write"])
    db.session.commit()
    body = {"product": shop.product.id}
    one = api.post("/licenses", body, headers={"Idempotency-Key": "k"}).get_json()
    two = Api(client, second).post("/licenses", body, headers={"Idempotency-Key": "k"}).get_json()
    assert one["id"] != two["id"]
    freeze(now() + timedelta(hours=25))
    try:
        later = api.post("/licenses", body, headers={"Idempotency-Key": "k"}).get_json()
    finally:
        freeze(None)
    assert later["id"] not in (one["id"], two["id"])
    bad = api.post("/licenses", body, headers={"Idempotency-Key": "x" * 256})
    assert bad.status_code == 400 and error_of(bad)["param"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "product"),
        ({"product": "1"}, "product"),
        ({"product": -1}, "product"),
        ({"product": 1, "max_activations": 0}, "max_activations"),
        ({"product": 1, "max_activations": 10**12}, "max_activations"),
        ({"product": 1, "expires_in_days": True}, "expires_in_days"),
        ({"product": 1, "surprise": "x"}, "surprise"),
    ],
)
def test_create_license_refuses_bad_bodies_naming_the_field(api, body, param):
    response = api.post("/licenses", body)
    assert response.status_code == 400
    assert error_of(response)["param"] == param


def test_create_license_refusals(api, shop, db):
    other = make_api_shop("b-")
    foreign = api.post("/licenses", {"product": other.product.id})
    assert foreign.status_code == 404 and error_of(foreign)["param"] == "product"
    stranger = api.post("/licenses", {"product": shop.product.id, "user": shop.cast.other_buyer.id})
    assert stranger.status_code == 404 and error_of(stranger)["param"] == "user"
    from tests.factories import make_product

    unlicensed = make_product(shop.company, "plain")
    refused = api.post("/licenses", {"product": unlicensed.id})
    assert refused.status_code == 409 and error_of(refused)["code"] == "no_license_policy"
    hostile = api.client.post(
        "/api/v1/licenses",
        data=b'{"product": "\\u0000"}',
        headers={**api.headers(), "Content-Type": "application/json"},
    )
    assert hostile.status_code == 400 and error_of(hostile)["param"] == "product"
    not_json = api.client.post("/api/v1/licenses", data="product=1", headers=api.headers())
    assert not_json.status_code == 400


def test_suspend_and_reset_a_license(api, shop):
    license_id = shop.license.id
    suspended = api.post(f"/licenses/{license_id}/suspend")
    assert suspended.status_code == 200 and suspended.get_json()["status"] == "suspended"
    again = api.post(f"/licenses/{license_id}/suspend")
    assert again.status_code == 409 and error_of(again)["code"] == "license_state"
    reset = api.post(f"/licenses/{license_id}/reset")
    assert reset.status_code == 200 and reset.get_json()["reset_count"] == 1
    listed = api.get("/licenses", status="suspended", product=shop.product.id).get_json()["data"]
    assert [row["id"] for row in listed] == [license_id]
    other = make_api_shop("b-")
    assert api.post(f"/licenses/{other.license.id}/suspend").status_code == 404
    assert api.post(f"/licenses/{other.license.id}/reset").status_code == 404


# --- webhook endpoints ---------------------------------------------------------------------


def test_create_and_delete_a_webhook_endpoint(api, shop, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS", True)
    created = api.post("/webhook_endpoints", {"url": "http://127.0.0.1:9/new", "event_types": ["order.created"]})
    assert created.status_code == 201, created.get_json()
    endpoint = created.get_json()
    assert endpoint["secret"].startswith("whsec_") and endpoint["event_types"] == ["order.created"]
    assert "secret" not in api.get(f"/webhook_endpoints/{endpoint['id']}").get_json()
    deleted = api.delete(f"/webhook_endpoints/{endpoint['id']}")
    assert deleted.status_code == 200 and deleted.get_json()["deleted"] is True
    assert api.delete(f"/webhook_endpoints/{endpoint['id']}").status_code == 404
    other = make_api_shop("b-")
    assert api.delete(f"/webhook_endpoints/{other.endpoint.id}").status_code == 404


@pytest.mark.parametrize(
    ("body", "param", "status"),
    [
        ({"url": "ftp://example.test/x"}, "url", 422),
        ({"url": "http://127.0.0.1:9/x", "event_types": ["no.such"]}, "event_types", 422),
        ({"url": "x" * 501}, "url", 400),
        ({"url": 5}, "url", 400),
        ({"url": "http://127.0.0.1:9/x", "enabled": "yes"}, "enabled", 400),
    ],
)
def test_create_webhook_endpoint_refuses_bad_input(api, app, monkeypatch, body, param, status):
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS", True)
    response = api.post("/webhook_endpoints", body)
    assert response.status_code == status
    assert error_of(response)["param"] == param


def test_openapi_document_describes_every_route_and_the_security(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert "/api/v1/memberships/check" in document["paths"] and "/api/v1/licenses/validate" in document["paths"]
    assert document["paths"]["/api/v1/licenses/validate"]["post"]["security"] == []


def test_legends_leaderboard_ranks_members_and_answers_a_members_rank(api, shop, client, db):
    other = make_api_shop("b-")
    leader = join_game(shop.company, shop.owner, str(class_id(shop.company)))
    award_xp(leader, "api:lead", Earning("quest", 500, exact=True))
    award_xp(shop.legends_member, "api:follow", Earning("quest", 200, exact=True))
    db.session.commit()
    board = api.get("/legends/leaderboard", category="xp", period="all", limit=5, member=shop.legends_member.id)
    assert board.status_code == 200, board.get_json()
    answer = board.get_json()
    assert [(row["rank"], row["member"], row["score"]) for row in answer["data"]] == [
        (1, leader.id, 500),
        (2, shop.legends_member.id, 200),
    ]
    assert (answer["member_rank"], answer["member_score"], answer["total"]) == (2, 200, 2)
    # Redis restarted empty: the database answers the same, and the boards are written again.
    get_redis().flushdb()
    assert api.get("/legends/leaderboard", limit=5, member=shop.legends_member.id).get_json() == answer
    assert get_redis().exists(boards.key(shop.company.id, "xp", "all"))
    # Another company's game is not on this company's board, nor its member's rank.
    theirs = api.get("/legends/leaderboard", member=other.legends_member.id).get_json()
    assert other.legends_member.id not in {row["member"] for row in theirs["data"]}
    assert theirs["member_rank"] is None
    refused = api.get("/legends/leaderboard", category="level", period="weekly")
    assert refused.status_code == 400 and error_of(refused)["param"] == "period"
    assert error_of(api.get("/legends/leaderboard", category="gold"))["param"] == "category"
    reader = make_api_shop("c-", scopes=("products:read",))
    assert Api(client, reader.key).get("/legends/leaderboard").status_code == 403


def test_commissions_show_money_in_minor_units_and_narrow_by_affiliate_and_status(api, shop):
    [commission] = api.get("/commissions").get_json()["data"]
    assert (commission["amount"], commission["base_amount"], commission["currency"]) == (1000, 10000, "usd")
    assert commission["affiliate"] == shop.commission.affiliate_user_id and commission["status"] == "pending"
    assert api.get("/commissions", status="paid").get_json()["data"] == []
    assert api.get("/commissions", affiliate=shop.commission.affiliate_user_id).get_json()["data"] == [commission]
    assert error_of(api.get("/commissions", status="lost"))["param"] == "status"
    [referral] = api.get("/referrals").get_json()["data"]
    assert (referral["status"], referral["refusal_reason"], referral["listing_type"]) == (
        "refused",
        "self_referral",
        "gig",
    )
