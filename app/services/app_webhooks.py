"""App webhooks: an app with a webhook URL receives the events of each company that installed
it, for the event types the scopes it was granted cover, through the outbound machinery
(services/outbound) like any seller endpoint: same fan-out, signing (Standard Webhooks, with
the app's secret), retries and delivery log.

Each such installation owns one hidden `WebhookEndpoint` of the installing company
(`app_installation_id` set), kept in step with the app: made at install, its URL and secret
following the app's (`sync_app_endpoints` after the app changes), disabled at uninstall — so
pending messages are not sent (the claim marks them failed) and nothing new fans out to it.
Every function flushes, never commits.
"""

from sqlalchemy import select

from app.extensions import db
from app.models import App, AppInstallation, WebhookEndpoint
from app.services.outbound.catalogue import EVENT_TYPES
from app.tenancy import without_tenant

# The scope that lets an app receive each family of events (the part of the type before the dot).
EVENT_SCOPES = {
    "order": "orders:read",
    "payment": "payments:read",
    "membership": "memberships:read",
    "license": "licenses:read",
    "referral": "affiliates:read",
    "commission": "affiliates:read",
    "gig": "products:read",
}
UNINSTALLED = "The app was uninstalled."


def covered_event_types(scopes: list[str]) -> list[str]:
    """The event types an installation granted `scopes` receives (licenses:write covers the
    license events too); payouts and test events go to no app."""
    granted = set(scopes) | ({"licenses:read"} if "licenses:write" in scopes else set())
    return [kind for kind in EVENT_TYPES if EVENT_SCOPES.get(kind.split(".")[0]) in granted]


def installation_endpoint(installation: AppInstallation) -> WebhookEndpoint | None:
    return db.session.scalar(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.app_installation_id == installation.id)
        .execution_options(skip_tenant_scope=True)
    )


def sync_installation_endpoint(app: App, installation: AppInstallation) -> WebhookEndpoint | None:
    """Make or update the installation's hidden endpoint to match the app now: enabled with the
    app's URL and secret while the installation is active and the app has a webhook URL and a
    covered event type; otherwise disabled (kept, with its delivery log)."""
    endpoint = installation_endpoint(installation)
    event_types = covered_event_types(list(installation.granted_scopes or []))
    wanted = installation.active and bool(app.webhook_url) and bool(event_types)
    if endpoint is None:
        if not wanted:
            return None
        endpoint = WebhookEndpoint(company_id=installation.company_id, app_installation_id=installation.id)
        db.session.add(endpoint)
    endpoint.description = f"App: {app.name}"[:200]
    endpoint.event_types = event_types
    endpoint.secret_encrypted = app.webhook_secret_encrypted
    endpoint.previous_secret_encrypted = None
    endpoint.previous_secret_expires_at = None
    if app.webhook_url:
        endpoint.url = app.webhook_url
    if wanted and not endpoint.enabled:
        endpoint.failing_since = None
    endpoint.enabled = wanted
    endpoint.disabled_reason = None if wanted else (UNINSTALLED if not installation.active else "No webhook URL.")
    db.session.flush()
    return endpoint


def sync_app_endpoints(app: App) -> None:
    """After `app` changed (webhook URL, secret, name): every installation's endpoint follows.
    The developer changes endpoints of the installing companies here, outside its own tenant
    scope, and of these endpoints only."""
    installations = db.session.scalars(
        select(AppInstallation)
        .where(AppInstallation.app_id == app.id, AppInstallation.revoked_at.is_(None))
        .execution_options(skip_tenant_scope=True)
    ).all()
    db.session.flush()  # the caller's own changes, inside its scope
    with without_tenant():
        for installation in installations:
            sync_installation_endpoint(app, installation)
