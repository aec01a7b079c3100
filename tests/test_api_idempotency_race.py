"""Concurrent POSTs with one Idempotency-Key over real HTTP make one effect, and every
request gets the same answer (the second waits on the unique index, then replays)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import License
from tests import loopback
from tests.api_v1 import make_api_shop

pytestmark = pytest.mark.committed
THREADS = 8


def test_concurrent_requests_with_one_key_create_one_license(app, live_server):
    with app.app_context():
        shop = make_api_shop()
        company_id, product_id, key = shop.company.id, shop.product.id, shop.key
        before = db.session.scalar(select(func.count()).select_from(License).where(License.company_id == company_id))
        db.session.remove()

    def post(_):
        return loopback.post(
            f"{live_server}/api/v1/licenses",
            json={"product": product_id},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "race-1"},
            timeout=30,
        )

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(post, range(THREADS)))
    assert {answer.status_code for answer in answers} == {201}, [answer.text for answer in answers]
    assert len({answer.json()["id"] for answer in answers}) == 1
    with app.app_context():
        after = db.session.scalar(select(func.count()).select_from(License).where(License.company_id == company_id))
        db.session.remove()
    assert after == before + 1
