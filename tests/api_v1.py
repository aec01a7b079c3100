"""Helpers for the /api/v1 tests: a shop with something of every resource, and a client that
sends its API key."""

from types import SimpleNamespace

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Commission, Payment, Referral
from app.models.api_key import API_SCOPES
from app.services import api_keys
from app.services.legends.game import join_game, open_game
from app.services.licensing.issuing import issue_license_for_membership
from app.services.outbound.endpoints import create_endpoint
from tests.affiliate_flows import affiliate_rows
from tests.factories import make_cast, make_membership, make_order, make_plan, make_policy, make_product
from tests.legends_game import class_id


def make_api_shop(prefix="", scopes=API_SCOPES):
    """A seller company with a licensed product (two plans), a member with a license, a gig
    order, a payment, a webhook endpoint, an affiliate referral and commission, a Legends game
    with one member, and an API key holding `scopes` (`shop.key`)."""
    cast = make_cast(prefix)
    company = cast.company
    product = make_product(company, f"{prefix}pro-tool")
    plan = make_plan(product, "Gold", tier_rank=2)
    make_policy(product, max_activations=2)
    membership = make_membership(product, cast.buyer, plan=plan)
    license = issue_license_for_membership(membership)
    order = make_order(cast)
    payment = Payment(
        company_id=company.id,
        kind="gig",
        buyer_id=cast.buyer.id,
        checkout_id=order.checkout_id,
        order_id=order.id,
        amount_cents=10000,
        fee_cents=1000,
        currency="usd",
        status="succeeded",
    )
    db.session.add(payment)
    with_private = current_app.config["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"]
    current_app.config["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"] = True
    try:
        endpoint = create_endpoint(company, "http://127.0.0.1:9/hooks", "CRM", ["order.created"])
    finally:
        current_app.config["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"] = with_private
    db.session.flush()
    affiliate_rows(company, order, payment, code=f"{prefix}apicode01")
    referral, commission = (
        db.session.scalars(select(Referral).where(Referral.company_id == company.id)).one(),
        (db.session.scalars(select(Commission).where(Commission.company_id == company.id)).one()),
    )
    open_game(company)
    legends_member = join_game(company, cast.buyer, str(class_id(company)))
    key_row, key = api_keys.create_key(company, name="Tests", scopes=scopes, actor=cast.owner)
    db.session.commit()
    made = {name: value for name, value in locals().items() if name not in ("prefix", "scopes", "with_private")}
    return SimpleNamespace(**made, owner=cast.owner, buyer=cast.buyer)


class Api:
    """The test client speaking to /api/v1 with `key` (None: no Authorization header)."""

    def __init__(self, client, key):
        self.client, self.key = client, key

    def headers(self, extra=None):
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**headers, **(extra or {})}

    def get(self, path, headers=None, **query):
        return self.client.get("/api/v1" + path, query_string=query, headers=self.headers(headers))

    def post(self, path, json=None, headers=None, **options):
        return self.client.post("/api/v1" + path, json=json, headers=self.headers(headers), **options)

    def delete(self, path, headers=None):
        return self.client.delete("/api/v1" + path, headers=self.headers(headers))


def error_of(response):
    """The envelope's error object, after checking the envelope's shape."""
    error = response.get_json()["error"]
    assert set(error) == {"type", "code", "message", "param"}, error
    return error
