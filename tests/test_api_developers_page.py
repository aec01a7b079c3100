"""/sell/developers: owners and admins create API keys (shown once), revoke and roll them;
members and other companies cannot, and bad input is refused naming the field."""

import re

import pytest
from sqlalchemy import select

from app.models import AuditEvent
from app.models.api_key import ApiKey
from app.services import api_keys
from tests.forms import post_form

KEY = re.compile(r"tp_sk_(live|test)_[A-Za-z0-9]{40}")


def keys_of(db, company):
    return list(db.session.scalars(select(ApiKey).where(ApiKey.company_id == company.id).order_by(ApiKey.id)))


def test_owner_creates_a_key_shown_once_that_opens_the_api(client, db, sign_in, make_seller):
    owner, company = make_seller()
    sign_in(owner)
    page = client.get("/sell/developers/")
    assert page.status_code == 200 and "Create a key" in page.get_data(as_text=True)
    created = post_form(
        client,
        "/sell/developers/",
        {"name": "Warehouse sync", "scopes": ["products:read", "orders:read"], "mode": "live", "expires_days": "90"},
    )
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    plaintext = KEY.search(created.get_data(as_text=True)).group()
    (key,) = keys_of(db, company)
    assert key.scope_list == ["products:read", "orders:read"] and key.expires_at is not None
    assert plaintext not in client.get("/sell/developers/").get_data(as_text=True)
    assert client.get("/api/v1/products", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "api_key.created")) is not None


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "scopes": ["products:read"]}, "Give the key a name"),
        ({"name": "k", "scopes": []}, "Choose at least one scope"),
        ({"name": "k", "scopes": ["admin:everything"]}, "Unknown scope"),
        ({"name": "k", "scopes": ["products:read"], "mode": "prod"}, "Mode must be"),
        ({"name": "k", "scopes": ["products:read"], "expires_days": "-1"}, "Choose when the key expires"),
        ({"name": "k" * 81, "scopes": ["products:read"]}, "at most 80"),
    ],
)
def test_create_refuses_bad_input_and_writes_nothing(client, db, sign_in, make_seller, form, message):
    owner, company = make_seller()
    sign_in(owner)
    response = post_form(client, "/sell/developers/", {"mode": "live", **form})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True) and keys_of(db, company) == []


def test_revoke_asks_for_confirmation_then_refuses_the_key(client, db, sign_in, make_seller):
    owner, company = make_seller()
    key, plaintext = api_keys.create_key(company, name="old", scopes=["products:read"])
    db.session.commit()
    sign_in(owner)
    assert client.get(f"/sell/developers/{key.id}/revoke").status_code == 200
    unconfirmed = post_form(client, f"/sell/developers/{key.id}/revoke")
    assert unconfirmed.status_code == 422 and key.revoked_at is None
    done = post_form(client, f"/sell/developers/{key.id}/revoke", {"confirm": "revoke"})
    assert done.status_code == 303
    db.session.refresh(key)
    assert key.revoked_at is not None
    assert client.get("/api/v1/products", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401
    again = post_form(client, f"/sell/developers/{key.id}/revoke", {"confirm": "revoke"})
    assert again.status_code == 409


def test_roll_shows_the_new_key_once_and_keeps_the_old_one_for_the_overlap(client, db, sign_in, make_seller):
    owner, company = make_seller()
    key, old_plain = api_keys.create_key(company, name="deploy", scopes=["products:read"])
    db.session.commit()
    sign_in(owner)
    assert client.get(f"/sell/developers/{key.id}/roll").status_code == 200
    bad = post_form(client, f"/sell/developers/{key.id}/roll", {"confirm": "roll", "overlap_hours": "9999"})
    assert bad.status_code == 422 and "keeps working" in bad.get_data(as_text=True)
    rolled = post_form(client, f"/sell/developers/{key.id}/roll", {"confirm": "roll", "overlap_hours": "24"})
    assert rolled.status_code == 201
    new_plain = KEY.search(rolled.get_data(as_text=True)).group()
    assert new_plain != old_plain
    for plaintext in (old_plain, new_plain):
        assert client.get("/api/v1/products", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
    assert len(keys_of(db, company)) == 2


def test_members_and_other_companies_cannot_touch_keys(client, db, sign_in, make_seller):
    owner, company = make_seller()
    key, _ = api_keys.create_key(company, name="k", scopes=["products:read"])
    db.session.commit()
    member, _ = make_seller(company=company, role="member")
    sign_in(member)
    assert client.get("/sell/developers/").status_code == 403
    assert post_form(client, "/sell/developers/", {"name": "x", "scopes": ["products:read"]}).status_code == 403
    rival, _ = make_seller()
    sign_in(rival)
    assert client.get(f"/sell/developers/{key.id}/revoke").status_code == 404
    assert post_form(client, f"/sell/developers/{key.id}/revoke", {"confirm": "revoke"}).status_code == 404
    assert (
        post_form(client, f"/sell/developers/{key.id}/roll", {"confirm": "roll", "overlap_hours": "1"}).status_code
        == 404
    )
    assert key.revoked_at is None


def test_api_docs_page_is_rendered_from_the_spec(client):
    page = client.get("/docs/api")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert (
        "GET /api/v1/memberships/check" in text
        and "memberships:read" in text
        and "<script" not in text.split("</header>")[-1]
    )
