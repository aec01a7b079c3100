"""Whop iframe views: user-token verification, access, the dashboard, and framing headers.

Tokens are minted by the sandbox's Whop emulator (the app fetches its JWKS over HTTP), or
signed here with a key Whop never published.
"""

import secrets
from datetime import datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from app.models import Membership, Payment, WhopCompanyLink, WhopIdentity, WhopProductLink
from app.services.member_areas import add_member_post
from tests import loopback
from tests.factories import make_product

WHOP_FRAMING = "frame-ancestors 'self' https://whop.com https://*.whop.com"


@pytest.fixture
def mint(sandbox):
    """mint(user_id, app_id=None, ttl=300) → an x-whop-user-token from the emulator."""

    def make(user_id, app_id=None, ttl=300):
        body = {"user_id": user_id, "ttl": ttl, **({"app_id": app_id} if app_id else {})}
        response = loopback.post(sandbox + "/whop/tokens", json=body)
        assert response.status_code == 200, response.text
        return response.json()["token"]

    return make


@pytest.fixture
def shop(db, make_seller):
    """A seller with a product linked to a Whop experience and a member post."""
    owner, company = make_seller(title="Olive Studio", kyc="unstarted", display_name="Olive Owner")
    product = make_product(company, slug="studio-course-" + secrets.token_hex(3))
    experience_id = "exp_" + secrets.token_hex(6)
    db.session.add(
        WhopProductLink(
            company_id=company.id,
            product_id=product.id,
            whop_experience_id=experience_id,
            whop_product_id="prod_" + secrets.token_hex(6),
        )
    )
    add_member_post(product, owner, {"title": "Welcome aboard", "body": "Start with **lesson one**."})
    db.session.commit()
    return type("Shop", (), {"owner": owner, "company": company, "product": product, "experience_id": experience_id})


def whop_user_id():
    return "user_" + secrets.token_hex(6)


def grant(db, user_id_whop, product, status="active"):
    identity = db.session.scalar(select(WhopIdentity).where(WhopIdentity.whop_user_id == user_id_whop))
    db.session.add(
        Membership(
            company_id=product.company_id,
            product_id=product.id,
            buyer_id=identity.user_id,
            status=status,
            source="stripe",
        )
    )
    db.session.commit()


def open_experience(client, shop, token):
    headers = {"x-whop-user-token": token} if token is not None else {}
    return client.get(f"/experiences/{shop.experience_id}", headers=headers)


def test_token_with_access_renders_the_member_area(client, db, shop, mint):
    whop_id = whop_user_id()
    first = open_experience(client, shop, mint(whop_id))
    assert first.status_code == 403  # a new Whop user: account made, no access yet
    grant(db, whop_id, shop.product)

    response = open_experience(client, shop, mint(whop_id))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Welcome aboard" in page and "<strong>lesson one</strong>" in page
    assert "You have access" in page
    assert response.headers["Content-Security-Policy"].endswith(WHOP_FRAMING)
    assert "X-Frame-Options" not in response.headers
    assert "Set-Cookie" not in response.headers


def test_token_without_access_gets_the_get_access_page(client, db, shop, mint):
    response = open_experience(client, shop, mint(whop_user_id()))
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Get access" in page and f"/products/{shop.product.slug}" in page
    assert "Welcome aboard" not in page
    identity = db.session.scalar(select(WhopIdentity))
    assert identity.created_via == "iframe" and identity.user.password_hash is None


def test_ended_membership_gets_the_get_access_page(client, db, shop, mint):
    whop_id = whop_user_id()
    open_experience(client, shop, mint(whop_id))
    grant(db, whop_id, shop.product, status="canceled")
    assert open_experience(client, shop, mint(whop_id)).status_code == 403


def test_seller_team_sees_their_own_experience(client, db, shop, mint):
    whop_id = whop_user_id()
    db.session.add(WhopIdentity(user_id=shop.owner.id, whop_user_id=whop_id, created_via="oauth"))
    db.session.commit()
    assert open_experience(client, shop, mint(whop_id)).status_code == 200


def test_missing_header_gets_401(client, db, shop):
    response = open_experience(client, shop, None)
    assert response.status_code == 401
    assert "Open this page from Whop" in response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"].endswith(WHOP_FRAMING)


def test_malformed_token_gets_401(client, db, shop):
    assert open_experience(client, shop, "not-a-jwt").status_code == 401


def test_token_for_another_app_gets_401(client, db, shop, mint):
    response = open_experience(client, shop, mint(whop_user_id(), app_id="app_someone_else"))
    assert response.status_code == 401
    assert "token is for another app" in response.get_data(as_text=True)


def test_expired_token_gets_401(client, db, shop, mint, monkeypatch):
    token = mint(whop_user_id(), ttl=60)

    class AnHourLater(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(hours=1)

    monkeypatch.setattr(jwt.api_jwt, "datetime", AnHourLater)
    response = open_experience(client, shop, token)
    assert response.status_code == 401
    assert "token expired" in response.get_data(as_text=True)


def test_token_signed_by_another_key_gets_401(client, db, shop, mint, sandbox):
    published = loopback.get(sandbox + "/whop/.well-known/jwks.json").json()["keys"][0]
    impostor = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        {
            "iss": "urn:whopcom:exp-proxy",
            "sub": whop_user_id(),
            "aud": "app_tradepost_dev",
            "iat": int(datetime.now().timestamp()),
            "exp": int(datetime.now().timestamp()) + 300,
        },
        impostor,
        algorithm="ES256",
        headers={"kid": published["kid"]},
    )
    response = open_experience(client, shop, token)
    assert response.status_code == 401
    assert "bad signature" in response.get_data(as_text=True)
    unknown_kid = jwt.encode({"sub": whop_user_id()}, impostor, algorithm="ES256", headers={"kid": "kid_unknown"})
    assert open_experience(client, shop, unknown_kid).status_code == 401


def test_unlinked_experience_is_404(client, db, mint):
    response = client.get("/experiences/exp_nobodylinked", headers={"x-whop-user-token": mint(whop_user_id())})
    assert response.status_code == 404
    assert "isn&#39;t connected" in response.get_data(as_text=True)


def test_experience_file_download_needs_a_valid_token_and_access(client, db, shop, mint, app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path))
    from io import BytesIO

    from werkzeug.datastructures import FileStorage

    from app.services.member_areas import add_member_file

    member_file = add_member_file(shop.product, shop.owner, FileStorage(BytesIO(b"%PDF-1.4 guide"), "guide.pdf"))
    db.session.commit()
    path = f"/experiences/{shop.experience_id}/files/{member_file.id}"
    whop_id = whop_user_id()
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"x-whop-user-token": mint(whop_id)}).status_code == 403
    grant(db, whop_id, shop.product)
    with client.get(path, headers={"x-whop-user-token": mint(whop_id)}) as response:
        assert response.status_code == 200 and response.data == b"%PDF-1.4 guide"
        assert response.headers["Content-Disposition"].startswith("attachment")


# --------------------------------------------------------------------------- dashboard


@pytest.fixture
def linked_company(db, shop):
    whop_company_id = "biz_" + secrets.token_hex(6)
    db.session.add(WhopCompanyLink(company_id=shop.company.id, whop_company_id=whop_company_id))
    db.session.add(
        Payment(
            company_id=shop.company.id,
            kind="product",
            buyer_id=shop.owner.id,
            amount_cents=2900,
            fee_cents=290,
            currency="usd",
        )
    )
    db.session.commit()
    return whop_company_id


def test_dashboard_shows_stats_to_company_admins(client, db, shop, linked_company, mint):
    whop_id = whop_user_id()
    db.session.add(WhopIdentity(user_id=shop.owner.id, whop_user_id=whop_id, created_via="oauth"))
    db.session.commit()
    response = client.get(f"/dashboard/{linked_company}", headers={"x-whop-user-token": mint(whop_id)})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Olive Studio" in page and "$29.00" in page and "Active members" in page
    assert response.headers["Content-Security-Policy"].endswith(WHOP_FRAMING)


def test_dashboard_refuses_whop_users_who_are_not_admins(client, db, shop, linked_company, mint):
    response = client.get(f"/dashboard/{linked_company}", headers={"x-whop-user-token": mint(whop_user_id())})
    assert response.status_code == 403
    assert "Olive Studio" not in response.get_data(as_text=True)


def test_dashboard_needs_a_token_and_a_linked_company(client, db, linked_company, mint):
    assert client.get(f"/dashboard/{linked_company}").status_code == 401
    response = client.get("/dashboard/biz_unknown", headers={"x-whop-user-token": mint(whop_user_id())})
    assert response.status_code == 404


# --------------------------------------------------------------------------- framing


@pytest.mark.parametrize("path", ["/", "/signin", "/whop/settings", "/whop/login"])
def test_other_routes_refuse_framing(client, db, path):
    response = client.get(path)
    assert response.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
    assert response.headers["X-Frame-Options"] == "DENY"
