"""One way errors travel (app/errors.py, app/web.py): a service's refusal is answered by the
one handler — rolled back, then the page the view declared, else the JSON envelope for API
clients, else the error page — and never by a view catching it."""

import html

import pytest
from sqlalchemy import func, select

from app.errors import InputError, NotFound, ServiceError
from app.models import AuditEvent, Gig
from app.services.gigs import GigInputError
from tests.factories import make_gig
from tests.forms import csrf_token, post_form


@pytest.fixture
def seller_client(client, make_seller, sign_in):
    user, company = make_seller()
    sign_in(user)
    return client, company


def test_a_refusal_carries_its_status_code_message_and_fields():
    refused = ServiceError(409, "busy", "Not now.")
    assert (refused.status, refused.code, refused.message, refused.field, refused.errors) == (
        409,
        "busy",
        "Not now.",
        None,
        {},
    )
    assert InputError("days", "Enter a number.").errors == {"days": "Enter a number."}
    several = GigInputError({("extras", 0, "title"): "Name it.", ("title",): "Too short."})
    assert several.status == 422 and several.field_name() == "extras-0-title"
    assert NotFound().status == 404 and isinstance(several, ServiceError)


def test_a_refusal_without_a_page_is_the_error_page_naming_why(db, seller_client):
    client, company = seller_client
    gig = make_gig(company, slug="a-draft", status="draft")
    db.session.commit()
    response = post_form(client, f"/sell/gigs/{gig.id}/pause")
    assert response.status_code == 409
    page = html.unescape(response.get_data(as_text=True))
    assert "That can't happen right now" in page and "draft" in page.split("error-code")[1]
    assert db.session.get(Gig, gig.id).status == "draft"


def test_api_clients_get_the_json_envelope(db, seller_client):
    client, company = seller_client
    gig = make_gig(company, slug="a-draft", status="draft")
    db.session.commit()
    response = client.post(
        f"/sell/gigs/{gig.id}/pause", data={"csrf_token": csrf_token(client)}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "gig_state" and error["message"] and "field" not in error


def test_the_declared_page_shows_the_form_again_and_nothing_written_stays(db, seller_client):
    client, company = seller_client
    audits = db.session.scalar(select(func.count(AuditEvent.id)))
    response = post_form(client, "/sell/products/new", {"title": "Kept title", "price": "0.10", "billing": "one_time"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'value="Kept title"' in page and "Price must be between" in page
    assert db.session.scalar(select(func.count(AuditEvent.id))) == audits


def test_the_page_is_only_declared_for_people_the_view_serves(db, client, make_user, sign_in):
    sign_in(make_user())  # no seller company: refused before the view, by its access decorator
    response = post_form(client, "/sell/products/new", {"title": "Kept title"})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 403 and "doesn't have access" in page and "Kept title" not in page
