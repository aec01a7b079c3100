"""Factories and client helpers for licensing tests: licensed products, keys, signed answers."""
import base64
import json

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from app.extensions import db
from app.models import LicensePolicy, Membership
from app.services.licensing.issuing import issue_license_for_membership
from app.services.licensing.license_keys import license_key
from tests.buy_factories import make_buyer, make_product, make_seller


def make_policy(product, max_activations=2, duration_days=None, key_prefix="TP", key_format="grouped", enabled=True):
    policy = LicensePolicy(company_id=product.company_id, product_id=product.id, enabled=enabled,
                           max_activations=max_activations, duration_days=duration_days,
                           key_prefix=key_prefix, key_format=key_format)
    db.session.add(policy)
    db.session.flush()
    return policy


def make_membership(product, buyer, status="active", current_period_end=None):
    membership = Membership(company_id=product.company_id, product_id=product.id, buyer_id=buyer.id,
                            status=status, current_period_end=current_period_end)
    db.session.add(membership)
    db.session.flush()
    return membership


def make_licensed_shop(seller_email="seller@example.com", buyer_email="buyer@example.com", slug="pro-tool",
                       **policy):
    """A seller with a licensed product, a buyer holding it, and the buyer's key (committed)."""
    owner, company = make_seller(seller_email, title=f"Shop of {seller_email}")
    product = make_product(company, slug)
    make_policy(product, **policy)
    buyer = make_buyer(buyer_email)
    membership = make_membership(product, buyer)
    license = issue_license_for_membership(membership)
    db.session.commit()
    return {"owner": owner, "company": company, "product": product, "buyer": buyer,
            "membership": membership, "license": license, "key": license_key(license)}


class Api:
    """Calls the license API through a Flask test client and checks every answer's signature."""

    def __init__(self, client):
        self.client = client
        answer = client.get("/api/v1/licenses/public-key")
        assert answer.status_code == 200
        self.public_key = load_pem_public_key(json.loads(answer.data)["public_key_pem"].encode())
        self.verify(answer)

    def verify(self, response):
        scheme, _, signature = response.headers["Tradepost-Signature"].partition(" ")
        assert scheme == "ed25519"
        self.public_key.verify(base64.b64decode(signature), response.data)
        return json.loads(response.data)

    def post(self, path, body=None, **kwargs):
        response = self.client.post(path, json=body, **kwargs) if body is not None else self.client.post(path, **kwargs)
        return response.status_code, self.verify(response)

    def validate(self, **body):
        return self.post("/api/v1/licenses/validate", body)

    def activate(self, **body):
        return self.post("/api/v1/licenses/activate", body)

    def deactivate(self, **body):
        return self.post("/api/v1/licenses/deactivate", body)

    def checkout(self, **body):
        return self.post("/api/v1/licenses/checkout", body)
