"""App webhooks (services/app_webhooks.py): an installed app with a webhook URL receives the
installing company's events that its granted scopes cover, signed with the app's secret as
seller webhooks are (Standard Webhooks), through the outbound machinery; other events are not
sent; uninstalling stops deliveries, also of events already queued; the hidden endpoint is
none of the seller's own."""

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from app.crypto import decrypt
from app.models import Company, Notification, WebhookEndpoint, WebhookMessage
from app.services import apps
from app.services.outbound import outbox
from app.services.outbound.catalogue import example_data
from app.services.outbound.endpoints import list_endpoints
from tests.factories.apps import install_app, make_app
from tests.forms import post_form


@pytest.fixture
def hooked(db, sink, make_seller, sign_in):
    """A developer's published app asking for orders:read with its webhook URL on the sink,
    installed by a signed-in shop owner."""
    _, developer = make_seller("dev@example.com", "Dev Studio")
    owner, shop = make_seller("shop@example.com", "Shop")
    app = make_app(developer, "Hooky", scopes=["orders:read"], webhook_url=sink.url + "/app-hook")
    installation = install_app(app, shop, actor=owner)
    sign_in(owner)
    return app, installation, shop


def commit_event(db, company, event_type):
    event = outbox.record_event(company.id, event_type, example_data(event_type))
    db.session.commit()
    return event


def verify(received, app):
    """The delivery's claims, verified with the app's secret as the app would (raises if not)."""
    headers = {name.lower(): value for name, value in received.headers.items()}
    return Webhook(decrypt(app.webhook_secret_encrypted)).verify(received.body.decode(), headers)


def test_an_installed_app_receives_the_companys_events_signed_with_its_secret(db, sink, hooked, run_jobs):
    app, _, shop = hooked
    event = commit_event(db, shop, "order.created")
    run_jobs()
    [received] = sink.wait_for("/app-hook")
    payload = verify(received, app)
    assert payload["type"] == "order.created" and received.json["id"] == event.public_id
    assert received.headers["Webhook-Id"].startswith("msg_")


def test_events_outside_the_granted_scopes_are_not_sent(db, sink, hooked, run_jobs):
    _, _, shop = hooked
    commit_event(db, shop, "payment.succeeded")  # payments:read was not granted
    commit_event(db, shop, "license.activated")
    commit_event(db, shop, "order.completed")
    run_jobs()
    [received] = sink.wait_for("/app-hook")
    assert received.json["type"] == "order.completed"
    assert [r.json["type"] for r in sink.on("/app-hook")] == ["order.completed"]


def test_uninstalling_stops_deliveries_also_of_queued_messages(db, client, sink, hooked, run_jobs):
    app, _, shop = hooked
    commit_event(db, shop, "order.created")  # queued, not yet delivered
    done = post_form(client, f"/sell/apps/{app.public_id}/uninstall", {"confirm": "uninstall"})
    assert done.status_code == 303
    commit_event(db, shop, "order.completed")
    run_jobs()
    assert sink.on("/app-hook") == []
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    assert not endpoint.enabled and endpoint.disabled_reason == "The app was uninstalled."


def test_an_apps_endpoint_is_none_of_the_sellers_own(db, client, hooked, run_jobs):
    app, installation, shop = hooked
    endpoint = db.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.app_installation_id == installation.id))
    assert endpoint is not None and endpoint.company_id == shop.id and endpoint.url == app.webhook_url
    assert list_endpoints(shop) == []
    assert client.get(f"/sell/webhooks/{endpoint.id}").status_code == 404
    assert "Hooky" not in client.get("/sell/webhooks/").get_data(as_text=True)


def test_the_endpoint_follows_the_apps_url_and_secret(db, sink, hooked, run_jobs):
    app, _, shop = hooked
    secret = apps.rotate_webhook_secret(app)
    data = apps.AppInput(
        name=app.name,
        base_url=app.base_url,
        dashboard_path=app.dashboard_path,
        experience_path=app.experience_path,
        scopes=app.scopes,
        webhook_url=sink.url + "/moved",
    )
    apps.update_app(app, data)
    db.session.commit()
    commit_event(db, shop, "order.created")
    run_jobs()
    [received] = sink.wait_for("/moved")
    assert Webhook(secret).verify(received.body.decode(), {k.lower(): v for k, v in received.headers.items()})
    assert db.session.scalars(select(WebhookMessage)).one().status == "delivered"


def test_a_failing_app_endpoint_is_disabled_and_both_companies_are_told_with_links_that_work(
    db, client, sink, hooked, run_jobs, sign_in
):
    app, _, shop = hooked
    sink.respond_with(410, "gone", path="/app-hook")
    commit_event(db, shop, "order.created")
    run_jobs()
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    notes = {note.user_id: note for note in db.session.scalars(select(Notification)).all()}
    developer_owner = db.session.get(Company, app.company_id).members[0].user
    shop_owner = shop.members[0].user
    assert set(notes) == {developer_owner.id, shop_owner.id}
    to_developer, to_shop = notes[developer_owner.id], notes[shop_owner.id]
    assert to_developer.link == f"/sell/developers/apps/{app.public_id}" and "Shop" in to_developer.body
    assert to_shop.link == f"/sell/apps/{app.public_id}" and "Hooky" in to_shop.title
    assert client.get(to_shop.link).status_code == 200  # the shop owner is signed in
    sign_in(developer_owner)
    assert client.get(to_developer.link).status_code == 200
    # Saving the app with a working URL resumes deliveries.
    sink.respond_with(200, "ok", path="/app-hook")
    form = {
        "name": app.name,
        "base_url": app.base_url,
        "dashboard_path": app.dashboard_path or "/",
        "webhook_url": app.webhook_url,
        "scopes": app.scopes,
    }
    assert post_form(client, f"/sell/developers/apps/{app.public_id}", form).status_code == 303
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).enabled
    commit_event(db, shop, "order.completed")
    run_jobs()
    sink.wait_for("/app-hook")
    # The 410 answer to the first event, then the event after resuming (the failed one stays failed).
    assert [r.json["type"] for r in sink.on("/app-hook")] == ["order.created", "order.completed"]
