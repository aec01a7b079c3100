"""The public REST API /api/v1: every resource's success and its refusals (auth, scope,
tenant, cursor, limit, version, idempotency, rate limit, hostile input)."""

import pytest

from tests.api_v1 import Api, make_api_shop


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
