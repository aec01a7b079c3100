"""Sellers' webhook endpoints: adding, changing, removing, rotating secrets, disabling, and
the lists their pages show. Every function flushes, never commits."""

from datetime import timedelta

from sqlalchemy import func, select

from app.clock import now
from app.crypto import encrypt
from app.errors import ServiceError
from app.extensions import db
from app.models import App, AppInstallation, Company, CompanyMember, User, WebhookEndpoint, WebhookMessage
from app.services.audit import record_audit_event
from app.services.notifications import notify_user
from app.services.outbound.catalogue import EVENT_CATALOGUE
from app.services.outbound.signing import generate_secret
from app.services.outbound.ssrf import UnsafeUrl, resolve_url

ROTATION_OVERLAP = timedelta(hours=24)


class EndpointInvalid(ServiceError):
    """Endpoint input that cannot be saved; `errors` maps field name → message (422)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(422, "invalid_endpoint", "; ".join(errors.values()), errors=errors)


def endpoint_company(endpoint: WebhookEndpoint) -> Company | None:
    """The company that owns `endpoint` (for audit rows)."""
    return db.session.get(Company, endpoint.company_id)


def _clean_endpoint_input(
    url: str | None, description: str | None, event_types: list[str] | tuple[str, ...] | None
) -> tuple[str, str, list[str]]:
    errors = {}
    url = (url or "").strip()
    description = (description or "").strip()
    event_types = list(dict.fromkeys(event_types or []))
    if not url:
        errors["url"] = "Enter the URL we should send events to."
    elif len(url) > 500:
        errors["url"] = "Keep the URL under 500 characters."
    else:
        try:
            resolve_url(url)
        except UnsafeUrl as exc:
            errors["url"] = str(exc)
    if len(description) > 200:
        errors["description"] = "Keep the description under 200 characters."
    unknown = [t for t in event_types if t not in EVENT_CATALOGUE]
    if unknown:
        errors["event_types"] = f"Unknown event type: {', '.join(unknown)}."
    if errors:
        raise EndpointInvalid(errors)
    return url, description, event_types


def create_endpoint(
    company: Company,
    url: str | None,
    description: str | None = "",
    event_types: list[str] | tuple[str, ...] = (),
    enabled: bool = True,
    actor: User | None = None,
) -> WebhookEndpoint:
    """Validate and add an endpoint with a fresh secret; raises EndpointInvalid, writing nothing."""
    url, description, event_types = _clean_endpoint_input(url, description, event_types)
    endpoint = WebhookEndpoint(
        company_id=company.id,
        url=url,
        description=description,
        event_types=event_types,
        enabled=bool(enabled),
        secret_encrypted=encrypt(generate_secret()),
    )
    db.session.add(endpoint)
    db.session.flush()
    record_audit_event("webhook.endpoint_created", actor=actor, company=company, subject=endpoint, url=url)
    return endpoint


def update_endpoint(
    endpoint: WebhookEndpoint,
    url: str | None,
    description: str | None,
    event_types: list[str] | tuple[str, ...],
    enabled: bool,
) -> WebhookEndpoint:
    """Validate and change an endpoint: every field is replaced, so none has a default (an
    omitted description would blank it). Re-enabling clears its failure record."""
    url, description, event_types = _clean_endpoint_input(url, description, event_types)
    endpoint.url, endpoint.description, endpoint.event_types = url, description, event_types
    if enabled and not endpoint.enabled:
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    endpoint.enabled = bool(enabled)
    db.session.flush()
    return endpoint


def delete_endpoint(endpoint: WebhookEndpoint, actor: User | None = None) -> None:
    """Remove an endpoint with its messages and delivery log."""
    record_audit_event(
        "webhook.endpoint_deleted", actor=actor, company=endpoint_company(endpoint), subject=endpoint, url=endpoint.url
    )
    db.session.delete(endpoint)
    db.session.flush()


def rotate_endpoint_secret(endpoint: WebhookEndpoint, actor: User | None = None) -> WebhookEndpoint:
    """Give the endpoint a new secret; the old one keeps signing alongside it for 24 hours."""
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = now() + ROTATION_OVERLAP
    endpoint.secret_encrypted = encrypt(generate_secret())
    record_audit_event("webhook.secret_rotated", actor=actor, company=endpoint_company(endpoint), subject=endpoint)
    db.session.flush()
    return endpoint


def disable_endpoint(endpoint: WebhookEndpoint, reason: str) -> None:
    """Stop sending to an endpoint and tell the owners of the companies concerned why."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:200]
    for company_id, title, body, link in _disabled_notices(endpoint, reason):
        owners = db.session.scalars(
            select(CompanyMember)
            .where(CompanyMember.company_id == company_id, CompanyMember.role == "owner")
            .execution_options(skip_tenant_scope=True)
        ).all()
        for member in owners:
            notify_user(member.user, "webhook_endpoint_disabled", title, body, link=link)
    record_audit_event("webhook.endpoint_disabled", company=endpoint_company(endpoint), subject=endpoint, reason=reason)
    db.session.flush()


def _disabled_notices(endpoint: WebhookEndpoint, reason: str) -> list[tuple[int, str, str, str]]:
    """(company id, title, body, link) of each notice a disabled endpoint sends.

    A seller's own endpoint: its owners, linked to the endpoint's page. An installed app's hidden
    endpoint (services/app_webhooks.py) has no page of its own: the app's developer is told,
    linked to the app (saving the app with a working URL resumes deliveries), and the installing
    company, linked to the installed app.
    """
    if endpoint.app_installation_id is None:
        body = f"We stopped sending events to {endpoint.url}: {reason}"
        return [(endpoint.company_id, "A webhook endpoint was disabled", body, f"/sell/webhooks/{endpoint.id}")]
    found = db.session.execute(
        select(App, Company.title)
        .join(AppInstallation, AppInstallation.app_id == App.id)
        .join(Company, Company.id == AppInstallation.company_id)
        .where(AppInstallation.id == endpoint.app_installation_id)
        .execution_options(skip_tenant_scope=True)
    ).first()
    if found is None:
        return []
    app, shop = found
    return [
        (
            app.company_id,
            f"Webhooks of your app {app.name} were disabled",
            f"We stopped sending {shop}'s events to {endpoint.url}: {reason} "
            "Fix the webhook URL and save the app to resume.",
            f"/sell/developers/apps/{app.public_id}",
        ),
        (
            endpoint.company_id,
            f"The app {app.name} stopped receiving events",
            f"Its webhook URL failed and we stopped sending it your events: {reason}",
            f"/sell/apps/{app.public_id}",
        ),
    ]


def list_endpoints(company: Company) -> list[WebhookEndpoint]:
    """The company's own endpoints, oldest first (not those its installed apps own)."""
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.company_id == company.id, WebhookEndpoint.app_installation_id.is_(None))
            .order_by(WebhookEndpoint.id)
        ).all()
    )


def message_counts(company: Company) -> dict[int, dict[str, int]]:
    """{endpoint id: {status: number of messages}} for the company's endpoints."""
    counts: dict[int, dict[str, int]] = {}
    for endpoint_id, status, n in db.session.execute(
        select(WebhookMessage.endpoint_id, WebhookMessage.status, func.count())
        .where(WebhookMessage.company_id == company.id)
        .group_by(WebhookMessage.endpoint_id, WebhookMessage.status)
    ):
        counts.setdefault(endpoint_id, {})[status] = n
    return counts


def list_messages(
    endpoint: WebhookEndpoint, event_type: str | None = None, status: str | None = None, limit: int = 50
) -> list[WebhookMessage]:
    """The endpoint's newest messages, optionally filtered by event type and status."""
    query = select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint.id)
    if event_type:
        query = query.where(WebhookMessage.event_type == event_type)
    if status:
        query = query.where(WebhookMessage.status == status)
    return list(db.session.scalars(query.order_by(WebhookMessage.id.desc()).limit(limit)).all())
