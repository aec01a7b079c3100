"""Seller webhook pages: managing endpoints, the delivery log, replay, and tenancy refusals."""

import socket

import pytest
from sqlalchemy import func, select

from app.models import AuditEvent, CompanyMember, WebhookEndpoint, WebhookMessage
from app.services.companies import create_seller_company
from app.services.outbound import catalogue, dispatch, endpoints, outbox, signing, ssrf
from app.services.outbound.catalogue import example_data
from app.tenancy import without_tenant
from tests.forms import post_form


@pytest.fixture
def seller_owner(db, make_user):
    owner = make_user(intent="sell")
    company = create_seller_company(owner, "Alpha Studio")
    db.session.commit()
    return owner, company


@pytest.fixture
def endpoint(db, app, seller_owner, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS", True)
    endpoint = endpoints.create_endpoint(seller_owner[1], "http://127.0.0.1:9/alpha", description="Alpha CRM")
    db.session.commit()
    return endpoint


def endpoint_count(db):
    return db.session.scalar(select(func.count()).select_from(WebhookEndpoint))


def test_pages_need_an_owner_or_admin_of_a_seller_company(client, db, make_user, sign_in, seller_owner):
    assert client.get("/sell/webhooks/").status_code == 302
    buyer = make_user()
    sign_in(buyer)
    assert client.get("/sell/webhooks/").status_code in (302, 403)
    assert post_form(client, "/sell/webhooks/", {"url": "https://93.184.215.14/"}).status_code == 403
    member = make_user(intent="sell")
    db.session.add(CompanyMember(company_id=seller_owner[1].id, user_id=member.id, role="member"))
    db.session.commit()
    post_form(client, "/signout")
    sign_in(member)
    assert client.get("/sell/webhooks/").status_code == 403
    assert endpoint_count(db) == 0


def test_owner_adds_an_endpoint_and_reveals_its_secret(client, db, sign_in, seller_owner):
    owner, company = seller_owner
    sign_in(owner)
    assert "No endpoints yet" in client.get("/sell/webhooks/").get_data(as_text=True)
    assert "order.requirements_submitted" in client.get("/sell/webhooks/new").get_data(as_text=True)
    response = post_form(
        client,
        "/sell/webhooks/",
        {
            "url": "https://93.184.215.14/hooks",
            "description": "CRM sync",
            "event_types": ["order.created", "payment.succeeded"],
            "enabled": "on",
        },
    )
    assert response.status_code == 303
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    assert (endpoint.company_id, endpoint.event_types, endpoint.enabled) == (
        company.id,
        ["order.created", "payment.succeeded"],
        True,
    )
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    secret = signing.endpoint_secret(endpoint)
    assert "https://93.184.215.14/hooks" in detail and secret not in detail
    revealed = client.get(f"/sell/webhooks/{endpoint.id}/secret")
    assert secret in revealed.get_data(as_text=True)
    assert revealed.headers["Cache-Control"] == "no-store"
    fragment = client.get(f"/sell/webhooks/{endpoint.id}/secret", headers={"HX-Request": "true"})
    assert secret in fragment.get_data(as_text=True) and "<html" not in fragment.get_data(as_text=True)
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "webhook.endpoint_created")
        )
        == 1
    )


@pytest.mark.parametrize(
    "url, message",
    [
        ("", "Enter the URL"),
        ("https://10.0.0.7/hook", "public internet"),
        ("https://169.254.169.254/latest", "metadata"),
        ("https://localhost/hook", "loopback"),
        ("gopher://93.184.215.14/", "http:// or https://"),
    ],
)
def test_bad_urls_are_refused_with_a_field_message_and_nothing_saved(client, db, sign_in, seller_owner, url, message):
    sign_in(seller_owner[0])
    response = post_form(client, "/sell/webhooks/", {"url": url, "description": "kept text"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and "kept text" in page
    assert endpoint_count(db) == 0


def resolving(monkeypatch, answers):
    """Let test hostnames resolve to chosen addresses (DNS is the one thing faked here)."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "url, message",
    [
        ("https://169.254.169.254/latest/meta-data", "a cloud metadata address"),
        ("http://169.254.170.2/v2/credentials", "a link-local address"),
        ("https://169.254.1.1/hook", "a link-local address"),
        ("https://[fe80::1]/hook", "a link-local address"),
        ("https://[fd00:ec2::254]/latest", "a cloud metadata address"),
        ("https://[::ffff:169.254.169.254]/", "a cloud metadata address"),
        ("https://[64:ff9b::a9fe:a9fe]/", "a cloud metadata address"),
        ("https://metadata.example.test/computeMetadata/v1/", "a cloud metadata address"),
        ("https://link-local.example.test/hook", "a link-local address"),
    ],
)
def test_metadata_and_link_local_are_refused_even_with_private_networks_allowed(
    client, db, app, sign_in, seller_owner, monkeypatch, url, message
):
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS", True)
    resolving(monkeypatch, {"metadata.example.test": "169.254.169.254", "link-local.example.test": "fe80::a1"})
    sign_in(seller_owner[0])
    response = post_form(client, "/sell/webhooks/", {"url": url, "description": "kept text"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and "kept text" in page
    assert endpoint_count(db) == 0
    # Private networks are allowed here: a loopback endpoint is accepted next to the refusals.
    assert post_form(client, "/sell/webhooks/", {"url": "http://127.0.0.1:9/dev"}).status_code == 303
    assert endpoint_count(db) == 1


def test_unknown_event_type_is_refused(client, db, sign_in, seller_owner):
    sign_in(seller_owner[0])
    response = post_form(
        client, "/sell/webhooks/", {"url": "https://93.184.215.14/", "event_types": ["order.exploded"]}
    )
    assert response.status_code == 422 and "Unknown event type" in response.get_data(as_text=True)
    assert endpoint_count(db) == 0


def test_edit_disable_rotate_and_delete(client, db, sign_in, seller_owner, endpoint):
    sign_in(seller_owner[0])
    assert "Alpha CRM" in client.get(f"/sell/webhooks/{endpoint.id}/edit").get_data(as_text=True)
    response = post_form(
        client,
        f"/sell/webhooks/{endpoint.id}",
        {"url": "http://127.0.0.1:9/alpha2", "description": "Renamed", "event_types": ["gig.published"]},
    )
    assert response.status_code == 303
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert (endpoint.url, endpoint.enabled, endpoint.event_types) == (
        "http://127.0.0.1:9/alpha2",
        False,
        ["gig.published"],
    )
    old = signing.endpoint_secret(endpoint)
    # Rotating and deleting ask first: the page links to confirmation pages whose forms say so;
    # a POST without the confirmation changes nothing.
    detail = client.get(f"/sell/webhooks/{endpoint.id}").get_data(as_text=True)
    assert f"/sell/webhooks/{endpoint.id}/rotate" in detail and f"/sell/webhooks/{endpoint.id}/delete" in detail
    confirm = client.get(f"/sell/webhooks/{endpoint.id}/rotate")
    assert confirm.status_code == 200 and 'name="confirm" value="rotate"' in confirm.get_data(as_text=True)
    unconfirmed = post_form(client, f"/sell/webhooks/{endpoint.id}/rotate")
    assert unconfirmed.status_code == 422 and "Rotate the signing secret?" in unconfirmed.get_data(as_text=True)
    assert post_form(client, f"/sell/webhooks/{endpoint.id}/rotate", {"confirm": "delete"}).status_code == 422
    db.session.expire_all()
    assert signing.endpoint_secret(db.session.get(WebhookEndpoint, endpoint.id)) == old
    assert post_form(client, f"/sell/webhooks/{endpoint.id}/rotate", {"confirm": "rotate"}).status_code == 303
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert signing.signing_secrets(endpoint)[1] == old and signing.endpoint_secret(endpoint) != old
    assert post_form(client, f"/sell/webhooks/{endpoint.id}/test").status_code == 409
    confirm = client.get(f"/sell/webhooks/{endpoint.id}/delete")
    assert confirm.status_code == 200 and 'name="confirm" value="delete"' in confirm.get_data(as_text=True)
    unconfirmed = post_form(client, f"/sell/webhooks/{endpoint.id}/delete")
    assert unconfirmed.status_code == 422 and "Delete this endpoint?" in unconfirmed.get_data(as_text=True)
    assert endpoint_count(db) == 1
    assert post_form(client, f"/sell/webhooks/{endpoint.id}/delete", {"confirm": "delete"}).status_code == 303
    assert endpoint_count(db) == 0


def test_test_event_resend_and_log_filters(client, db, app, sign_in, seller_owner, sink, run_jobs):
    owner, company = seller_owner
    endpoint = endpoints.create_endpoint(company, sink.url + "/alpha")
    db.session.commit()
    sign_in(owner)
    sink.respond_with(500, "receiver crashed", path="/alpha")
    assert post_form(client, f"/sell/webhooks/{endpoint.id}/test").status_code == 303
    outbox.record_event(company.id, "order.created", example_data("order.created", order_id=7))
    db.session.commit()
    run_jobs()
    assert len(sink.wait_for("/alpha", 2)) == 2
    page = client.get(f"/sell/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "webhook.test" in page and "order.created" in page
    failed = client.get(f"/sell/webhooks/{endpoint.id}?status=pending").get_data(as_text=True)
    assert "webhook.test" in failed and "<code>order.created</code>" not in failed
    fragment = client.get(
        f"/sell/webhooks/{endpoint.id}?event_type=order.created",
        headers={"HX-Request": "true", "HX-Target": "deliveries"},
    ).get_data(as_text=True)
    assert "<html" not in fragment and "<code>order.created</code>" in fragment
    assert "webhook.test</code>" not in fragment
    message = db.session.scalars(select(WebhookMessage).where(WebhookMessage.event_type == "webhook.test")).one()
    detail = client.get(f"/sell/webhooks/{endpoint.id}/messages/{message.id}").get_data(as_text=True)
    assert message.public_id in detail and "receiver crashed" in detail and "This is a test event" in detail
    assert post_form(client, f"/sell/webhooks/{endpoint.id}/messages/{message.id}/resend").status_code == 303
    run_jobs()
    db.session.expire_all()
    assert db.session.get(WebhookMessage, message.id).status == "delivered"
    assert [r.headers["Webhook-Id"] for r in sink.on("/alpha")].count(message.public_id) == 2


def test_recover_failed_since(client, db, sign_in, seller_owner, sink, run_jobs):
    owner, company = seller_owner
    endpoint = endpoints.create_endpoint(company, sink.url + "/recover")
    db.session.commit()
    outbox.record_event(company.id, "order.created", example_data("order.created", order_id=1))
    db.session.commit()
    run_jobs()
    message = db.session.scalars(select(WebhookMessage)).one()
    message.status = "failed"
    db.session.commit()
    sign_in(owner)
    bad = post_form(client, f"/sell/webhooks/{endpoint.id}/recover", {"since": "yesterday"})
    assert bad.status_code == 422 and "Enter a date and time" in bad.get_data(as_text=True)
    since = message.created_at.strftime("%Y-%m-%dT%H:%M")
    response = post_form(client, f"/sell/webhooks/{endpoint.id}/recover", {"since": since})
    assert response.status_code == 303
    assert "1 failed message queued again" in client.get(response.headers["Location"]).get_data(as_text=True)
    run_jobs()
    db.session.expire_all()
    assert db.session.get(WebhookMessage, message.id).status == "delivered"
    assert len(sink.on("/recover")) == 2


def test_seller_b_cannot_see_or_manage_seller_a_endpoints(client, db, make_user, sign_in, seller_owner, endpoint):
    owner_a, company_a = seller_owner
    event = outbox.record_event(company_a.id, "order.created", example_data("order.created", order_id=1))
    [message_id] = dispatch.dispatch_outbox_event(event.id)
    db.session.commit()
    owner_b = make_user(intent="sell")
    create_seller_company(owner_b, "Beta Studio")
    db.session.commit()
    sign_in(owner_b)
    assert "alpha" not in client.get("/sell/webhooks/").get_data(as_text=True)
    base = f"/sell/webhooks/{endpoint.id}"
    for path in (
        base,
        base + "/edit",
        base + "/secret",
        base + "/rotate",
        base + "/delete",
        f"{base}/messages/{message_id}",
    ):
        assert client.get(path).status_code == 404, path
    for path, data in (
        (base, {"url": "https://93.184.215.14/stolen", "enabled": "on"}),
        (base + "/rotate", {"confirm": "rotate"}),
        (base + "/test", {}),
        (base + "/delete", {"confirm": "delete"}),
        (base + "/recover", {"since": "2026-01-01T00:00"}),
        (f"{base}/messages/{message_id}/resend", {}),
    ):
        assert post_form(client, path, data).status_code == 404, path
    db.session.expire_all()
    with without_tenant():  # the test client's requests share this app context and its tenant
        survivor = db.session.get(WebhookEndpoint, endpoint.id)
        assert survivor.url == "http://127.0.0.1:9/alpha" and survivor.previous_secret_encrypted is None
        assert db.session.scalar(select(func.count()).select_from(WebhookMessage)) == 1


def test_own_message_under_another_endpoint_is_404(client, db, sign_in, seller_owner, endpoint):
    owner, company = seller_owner
    other = endpoints.create_endpoint(company, "http://127.0.0.1:9/second")
    event = outbox.record_event(company.id, "order.created", example_data("order.created", order_id=1))
    dispatch.dispatch_outbox_event(event.id)
    db.session.commit()
    message = db.session.scalars(select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint.id)).one()
    sign_in(owner)
    assert client.get(f"/sell/webhooks/{other.id}/messages/{message.id}").status_code == 404


def test_docs_page_lists_every_event_with_an_example(client):
    page = client.get("/docs/webhooks").get_data(as_text=True)
    for event_type in catalogue.EVENT_TYPES:
        assert f'id="{event_type}"' in page
    assert "webhook-signature" in page and "10 hours later" in page


def test_docs_page_says_delivery_is_at_least_once_and_to_deduplicate(client):
    page = " ".join(client.get("/docs/webhooks").get_data(as_text=True).split())
    assert 'id="delivery"' in page and "at least once" in page
    assert "the same <code>webhook-id</code>" in page and "deduplicate on <code>webhook-id</code>" in page
    assert "cloud metadata addresses are always refused" in page
