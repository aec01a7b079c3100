"""Outbound webhooks: the event outbox, sellers' endpoints, signed delivery, retries, replay.

Flow: a workflow calls `record_event` inside its own transaction; the outbox row commits (or
rolls back) with the change that caused it. After the commit, a session hook enqueues
`app.tasks.outbound.dispatch_event`, which fans the event out into one `WebhookMessage` per
matching enabled endpoint; each message is delivered by `app.tasks.outbound.deliver_message`
on the "webhooks" queue. The database, not Redis, is the source of truth: a sweep re-enqueues
committed events that were never dispatched and messages whose delivery is overdue (a lost
job, a worker killed mid-request), and a lease on each message makes duplicate jobs harmless.

Secrets are Standard Webhooks `whsec_` secrets, stored encrypted (app/crypto.py).
"""
import base64
import ipaddress
import json
import logging
import os
import random
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from flask import current_app
from sqlalchemy import event as sa_event
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from app.clock import now
from app.crypto import decrypt, encrypt
from app.extensions import db
from app.models import CompanyMember, OutboxEvent, WebhookAttempt, WebhookEndpoint, WebhookMessage
from app.services.audit import record_audit_event
from app.services.notifications import notify_user

log = logging.getLogger(__name__)

TEST_EVENT_TYPE = "webhook.test"

# type -> (when it is sent, example `data`). The docs page and the endpoint form read this.
EVENT_CATALOGUE = {
    "order.created": ("A buyer paid for a gig; the order is waiting for requirements.",
                      {"order_id": 1042, "gig_id": 77, "package": "standard", "buyer_id": 311,
                       "amount_cents": 12000, "currency": "usd", "status": "awaiting_requirements",
                       "due_at": None}),
    "order.requirements_submitted": ("The buyer answered the gig's questions; work starts now.",
                                     {"order_id": 1042, "status": "in_progress",
                                      "due_at": "2026-12-01T17:00:00Z"}),
    "order.delivered": ("You delivered the work; the buyer can accept it or ask for a revision.",
                        {"order_id": 1042, "status": "delivered", "delivery_id": 5,
                         "auto_complete_at": "2026-12-04T17:00:00Z"}),
    "order.revision_requested": ("The buyer asked for changes to a delivery.",
                                 {"order_id": 1042, "status": "revision_requested",
                                  "message": "Could the logo be a little larger?"}),
    "order.completed": ("The buyer accepted the delivery (or it auto-completed); funds start clearing.",
                        {"order_id": 1042, "status": "completed", "seller_amount_cents": 10800,
                         "currency": "usd", "clears_at": "2026-12-18T17:00:00Z"}),
    "order.cancelled": ("The order was cancelled by agreement or by an admin.",
                        {"order_id": 1042, "status": "cancelled", "reason": "mutual"}),
    "order.disputed": ("The buyer opened a dispute; an admin will review it.",
                       {"order_id": 1042, "status": "disputed", "reason": "not_as_described"}),
    "order.refunded": ("The buyer was refunded.",
                       {"order_id": 1042, "status": "refunded", "amount_cents": 12000,
                        "currency": "usd"}),
    "payment.succeeded": ("A payment for one of your products or gigs succeeded.",
                          {"payment_id": 901, "amount_cents": 4900, "currency": "usd",
                           "product_id": 12, "order_id": None}),
    "payment.refunded": ("A payment was refunded in full or in part.",
                         {"payment_id": 901, "amount_refunded_cents": 4900, "currency": "usd"}),
    "membership.activated": ("A buyer's subscription to one of your products became active.",
                             {"membership_id": 58, "product_id": 12, "buyer_id": 311,
                              "status": "active", "renews_at": "2027-01-01T00:00:00Z"}),
    "membership.deactivated": ("A subscription ended (cancelled, unpaid or refunded).",
                               {"membership_id": 58, "product_id": 12, "status": "inactive",
                                "reason": "cancelled"}),
    "license.activated": ("A license key was issued or re-activated.",
                          {"license_id": 230, "product_id": 12, "key_last4": "9F2C",
                           "status": "active"}),
    "license.deactivated": ("A license key was revoked or its membership ended.",
                            {"license_id": 230, "product_id": 12, "status": "revoked"}),
    "gig.published": ("An admin approved your gig; it is live in search.",
                      {"gig_id": 77, "slug": "minimal-logo-design", "status": "published"}),
    "gig.rejected": ("An admin sent your gig back with a reason.",
                     {"gig_id": 77, "status": "rejected", "reason": "Images are blurry."}),
    "payout.created": ("A payout of your available balance was started.",
                       {"payout_id": 19, "amount_cents": 25000, "currency": "usd",
                        "status": "pending"}),
}
EVENT_TYPES = tuple(EVENT_CATALOGUE)

# After attempt n fails, attempt n+1 runs RETRY_DELAYS[n-1] later (±10% jitter): 8 attempts.
RETRY_DELAYS = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
                timedelta(hours=2), timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
JITTER = 0.1
MAX_RETRY_AFTER = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=5)
REQUEST_TIMEOUT = 15.0
# A claimed message is retried by the sweep only after its lease ends: longer than any request.
LEASE = timedelta(seconds=60)
RESPONSE_EXCERPT_BYTES = 2048
ROTATION_OVERLAP = timedelta(hours=24)
SECRET_BYTES = 24
# Cloud instance metadata services (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba, Oracle); the
# rest of 169.254.0.0/16 and fe80::/10 is refused as link-local.
METADATA_ADDRESSES = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254",
                                                        "100.100.100.200", "192.0.0.192")}
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
USER_AGENT = "Tradepost-Webhooks/1.0"
_PENDING_KEY = "outbound_pending_event_ids"


class EndpointInvalid(ValueError):
    """Endpoint input that cannot be saved; `errors` maps field name → message."""

    def __init__(self, errors):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class UnsafeUrl(ValueError):
    """A URL we refuse to send to (bad scheme, unresolvable, or a non-public address)."""


# ---- secrets ------------------------------------------------------------------------------

def generate_secret():
    """A fresh Standard Webhooks secret: "whsec_" + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def endpoint_secret(endpoint):
    """The endpoint's current signing secret in clear, for the owner's "reveal"."""
    return decrypt(endpoint.secret_encrypted)


def signing_secrets(endpoint, at=None):
    """Secrets that sign a delivery at `at`: the current one, plus the previous during rotation."""
    return _active_secrets(endpoint.secret_encrypted, endpoint.previous_secret_encrypted,
                           endpoint.previous_secret_expires_at, at or now())


def _active_secrets(current, previous, previous_expires_at, at):
    result = [decrypt(current)]
    if previous and previous_expires_at and previous_expires_at > at:
        result.append(decrypt(previous))
    return result


def rotate_endpoint_secret(endpoint, actor=None):
    """Give the endpoint a new secret; the old one keeps signing alongside it for 24 hours."""
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = now() + ROTATION_OVERLAP
    endpoint.secret_encrypted = encrypt(generate_secret())
    record_audit_event("webhook.secret_rotated", actor=actor, company=endpoint_company(endpoint),
                       subject=endpoint)
    db.session.flush()
    return endpoint


def endpoint_company(endpoint):
    """The company that owns `endpoint` (for audit rows)."""
    from app.models import Company

    return db.session.get(Company, endpoint.company_id)


# ---- URL safety ---------------------------------------------------------------------------

def allow_private_networks():
    return bool(current_app.config.get("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", False))


def require_https():
    default = current_app.config.get("ENV_NAME") == "production"
    return bool(current_app.config.get("WEBHOOKS_REQUIRE_HTTPS", default))


def forbidden_reason(address, allow_private=False):
    """Why `address` may not receive webhooks, or None for a public unicast address.

    Link-local and cloud metadata addresses are refused always, also when `allow_private`
    (WEBHOOKS_ALLOW_PRIVATE_NETWORKS, for development) lets loopback and private ones through;
    so are IPv6 forms that embed such an IPv4 address (mapped, NAT64, 6to4, Teredo).
    """
    ip = ipaddress.ip_address(address)
    for candidate in (ip, *_embedded_ipv4(ip)):
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if candidate.is_link_local:
            return "a link-local address"
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if allow_private:
        return None
    for label, flag in (("a loopback", ip.is_loopback), ("a private", ip.is_private),
                        ("a multicast", ip.is_multicast), ("a reserved", ip.is_reserved),
                        ("an unspecified", ip.is_unspecified)):
        if flag:
            return f"{label} address"
    if not ip.is_global:
        return "a non-public address"
    return None


def _embedded_ipv4(ip):
    """IPv4 addresses an IPv6 address carries (and may be routed to)."""
    if ip.version != 6:
        return []
    found = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if ip in NAT64_PREFIX:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in found if address is not None]


def resolve_url(url):
    """Check `url`'s scheme and resolve its host: the addresses it may be delivered to.

    Raises UnsafeUrl unless every resolved address is public (or private networks are allowed
    by WEBHOOKS_ALLOW_PRIVATE_NETWORKS, for development and tests: link-local and metadata
    addresses never are).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("Use a full http:// or https:// URL.")
    if require_https() and parts.scheme != "https":
        raise UnsafeUrl("Use an https:// URL.")
    if parts.username or parts.password:
        raise UnsafeUrl("Leave credentials out of the URL; verify our signature instead.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise UnsafeUrl(f"We could not resolve {parts.hostname}.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    allow_private = allow_private_networks()
    for address in addresses:
        reason = forbidden_reason(address, allow_private)
        if reason:
            raise UnsafeUrl(f"{parts.hostname} resolves to {address}, {reason}; "
                            "webhooks go only to public internet addresses.")
    return addresses


# ---- endpoints ----------------------------------------------------------------------------

def _clean_endpoint_input(url, description, event_types):
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


def create_endpoint(company, url, description="", event_types=(), enabled=True, actor=None):
    """Validate and add an endpoint with a fresh secret; raises EndpointInvalid, writing nothing."""
    url, description, event_types = _clean_endpoint_input(url, description, event_types)
    endpoint = WebhookEndpoint(company_id=company.id, url=url, description=description,
                               event_types=event_types, enabled=bool(enabled),
                               secret_encrypted=encrypt(generate_secret()))
    db.session.add(endpoint)
    db.session.flush()
    record_audit_event("webhook.endpoint_created", actor=actor, company=company, subject=endpoint,
                       url=url)
    return endpoint


def update_endpoint(endpoint, url, description="", event_types=(), enabled=True):
    """Validate and change an endpoint; re-enabling clears its failure record."""
    url, description, event_types = _clean_endpoint_input(url, description, event_types)
    endpoint.url, endpoint.description, endpoint.event_types = url, description, event_types
    if enabled and not endpoint.enabled:
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    endpoint.enabled = bool(enabled)
    db.session.flush()
    return endpoint


def delete_endpoint(endpoint, actor=None):
    """Remove an endpoint with its messages and delivery log."""
    record_audit_event("webhook.endpoint_deleted", actor=actor, company=endpoint_company(endpoint),
                       subject=endpoint, url=endpoint.url)
    db.session.delete(endpoint)
    db.session.flush()


def disable_endpoint(endpoint, reason):
    """Stop sending to an endpoint and tell the company's owners why."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:200]
    owners = db.session.scalars(
        select(CompanyMember).where(CompanyMember.company_id == endpoint.company_id,
                                    CompanyMember.role == "owner")
    ).all()
    for member in owners:
        notify_user(member.user, "webhook_endpoint_disabled", "A webhook endpoint was disabled",
                    f"We stopped sending events to {endpoint.url}: {reason}",
                    link=f"/sell/webhooks/{endpoint.id}")
    record_audit_event("webhook.endpoint_disabled", company=endpoint_company(endpoint),
                       subject=endpoint, reason=reason)
    db.session.flush()


# ---- the outbox ---------------------------------------------------------------------------

def record_event(company_id, event_type, data):
    """Record `event_type` for the company in the caller's transaction; flushed, never committed.

    Guarantees: the event exists only if the caller's transaction commits; once it commits,
    dispatch is enqueued by the session's after-commit hook, and should that enqueue be lost
    (crash, Redis down) the sweep dispatches it. A rolled-back transaction sends nothing.
    """
    if event_type not in EVENT_CATALOGUE:
        raise ValueError(f"unknown outbound event type {event_type!r}")
    event = OutboxEvent(company_id=company_id, public_id="evt_" + secrets.token_hex(12),
                        type=event_type, data=data)
    db.session.add(event)
    db.session.flush()
    db.session.info.setdefault(_PENDING_KEY, []).append(event.id)
    return event


@sa_event.listens_for(Session, "after_commit")
def _enqueue_committed_events(session):
    pending = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
    from app.tasks.outbound import enqueue_dispatch

    for event_id in pending:
        try:
            enqueue_dispatch(event_id)
        except Exception:  # the sweep dispatches it; the commit already happened
            log.exception("could not enqueue dispatch of outbox event %s", event_id)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back_events(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


def event_payload(event):
    """The JSON body sent for `event`: identical bytes on every attempt."""
    return _payload_json(event.public_id, event.type, event.created_at, event.company_id, event.data)


def _payload_json(public_id, event_type, created_at, company_id, data):
    created = created_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"id": public_id, "type": event_type, "created": created,
                       "company_id": company_id, "data": data},
                      separators=(",", ":"), sort_keys=True)


def pretty_payload(event):
    """The event's body, indented for people (the bytes sent are `event_payload`)."""
    return json.dumps(json.loads(event_payload(event)), indent=2, sort_keys=True)


def example_payload(event_type):
    """A documented example body for `event_type` (the docs page shows one per type)."""
    data = ({"endpoint_id": 7, "message": "This is a test event from Tradepost."}
            if event_type == TEST_EVENT_TYPE else EVENT_CATALOGUE[event_type][1])
    return {"company_id": 12, "created": "2026-11-22T17:00:00.000000Z", "data": data,
            "id": "evt_5f0c2a9b7e1d4c3b8a6f0e21", "type": event_type}


def dispatch_outbox_event(event_id):
    """Fan a committed event out into one pending message per matching enabled endpoint.

    Idempotent: the event is claimed by a conditional UPDATE, so a second run (or the sweep
    racing the after-commit job) creates nothing. Returns the new messages' ids.
    """
    moment = now()
    claimed = db.session.execute(
        update(OutboxEvent).where(OutboxEvent.id == event_id, OutboxEvent.dispatched_at.is_(None))
        .values(dispatched_at=moment).execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return []
    event = db.session.get(OutboxEvent, event_id, populate_existing=True)
    endpoints = db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.company_id == event.company_id,
                                      WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id)
    ).all()
    messages = [_new_message(event, endpoint, moment) for endpoint in endpoints
                if endpoint.receives(event.type)]
    db.session.flush()
    return [message.id for message in messages]


def _new_message(event, endpoint, moment):
    message = WebhookMessage(company_id=event.company_id, public_id="msg_" + secrets.token_hex(12),
                             event_id=event.id, endpoint_id=endpoint.id, event_type=event.type,
                             status="pending", next_attempt_at=moment, created_at=moment)
    db.session.add(message)
    return message


def send_test_event(endpoint):
    """A `webhook.test` event addressed to this endpoint only; returns its pending message."""
    moment = now()
    event = OutboxEvent(company_id=endpoint.company_id, public_id="evt_" + secrets.token_hex(12),
                        type=TEST_EVENT_TYPE, created_at=moment, dispatched_at=moment,
                        data={"endpoint_id": endpoint.id,
                              "message": "This is a test event from Tradepost."})
    db.session.add(event)
    db.session.flush()
    message = _new_message(event, endpoint, moment)
    db.session.flush()
    return message


def withdraw_test_event(message_id):
    """Delete a test event whose delivery could not be queued (Redis down), so what the seller
    is told is true: it was not sent and nothing is left to be sent later.

    A worker that already claimed the message (the queue took the job after all) keeps it:
    returns False then, True when the message and its event are gone. Flushed, not committed.
    """
    event_id = db.session.scalar(select(WebhookMessage.event_id).where(
        WebhookMessage.id == message_id, WebhookMessage.event_type == TEST_EVENT_TYPE))
    deleted = db.session.execute(
        delete(WebhookMessage).where(WebhookMessage.id == message_id,
                                     WebhookMessage.event_type == TEST_EVENT_TYPE,
                                     WebhookMessage.attempt_count == 0,
                                     WebhookMessage.locked_until.is_(None))
        .execution_options(synchronize_session=False)
    ).rowcount
    if not deleted:
        return False
    db.session.execute(delete(OutboxEvent).where(OutboxEvent.id == event_id)
                       .execution_options(synchronize_session=False))
    db.session.flush()
    return True


def undispatched_event_ids(older_than=timedelta(seconds=30), limit=500):
    """Committed events still waiting for dispatch (their after-commit enqueue was lost)."""
    return db.session.scalars(
        select(OutboxEvent.id).where(OutboxEvent.dispatched_at.is_(None),
                                     OutboxEvent.created_at <= now() - older_than)
        .order_by(OutboxEvent.id).limit(limit)
    ).all()


def overdue_message_ids(grace=timedelta(minutes=2), limit=1000):
    """Pending messages whose delivery job should have run by now but did not (lost or killed)."""
    moment = now()
    return db.session.scalars(
        select(WebhookMessage.id).where(
            WebhookMessage.status == "pending",
            WebhookMessage.next_attempt_at <= moment - grace,
            or_(WebhookMessage.locked_until.is_(None), WebhookMessage.locked_until < moment),
        ).order_by(WebhookMessage.next_attempt_at).limit(limit)
    ).all()


# ---- delivery -----------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one delivery attempt produced."""

    started_at: datetime
    status_code: int | None = None
    duration_ms: int = 0
    excerpt: str = ""
    error: str | None = None
    retry_after: timedelta | None = None

    @property
    def succeeded(self):
        return self.status_code is not None and 200 <= self.status_code < 300


_client = None
_client_pid = None


def http_client():
    """The one httpx client of this process (rebuilt only after a fork)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        _client = httpx.Client(
            timeout=httpx.Timeout(REQUEST_TIMEOUT), follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            headers={"User-Agent": USER_AGENT},
        )
        _client_pid = os.getpid()
    return _client


@dataclass(frozen=True)
class DeliveryRequest:
    """One claimed message, signed and detached from the session, so no transaction stays
    open while the HTTP request runs; carries what `record_outcome` needs afterwards."""

    message_id: int
    company_id: int
    endpoint_id: int
    url: str
    body: str
    headers: dict
    started_at: datetime
    retry_index: int
    failing_since: datetime | None


_CLAIM_COLUMNS = (
    WebhookMessage.id, WebhookMessage.public_id, WebhookMessage.company_id,
    WebhookMessage.endpoint_id, WebhookMessage.attempt_count, WebhookMessage.retry_index,
    WebhookMessage.locked_until, OutboxEvent.public_id.label("event_public_id"),
    OutboxEvent.type, OutboxEvent.created_at, OutboxEvent.data, WebhookEndpoint.url,
    WebhookEndpoint.enabled, WebhookEndpoint.secret_encrypted,
    WebhookEndpoint.previous_secret_encrypted, WebhookEndpoint.previous_secret_expires_at,
    WebhookEndpoint.failing_since,
)


def claim_message(message_id):
    """Lease a due pending message for one delivery and sign it; None if it is not due, leased
    elsewhere, or its endpoint is disabled (then it is marked failed, recoverable later).

    The lease is a conditional UPDATE that also checks the attempt counters read a moment
    before, so what was read is what was claimed. A lease left by a worker that died
    mid-request expires after LEASE; the next claim logs that interrupted attempt.
    """
    moment = now()
    row = db.session.execute(
        select(*_CLAIM_COLUMNS).join(OutboxEvent, OutboxEvent.id == WebhookMessage.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .where(WebhookMessage.id == message_id)
    ).one_or_none()
    if row is None:
        return None
    interrupted = row.locked_until is not None
    claimed = db.session.execute(
        update(WebhookMessage).where(
            WebhookMessage.id == message_id, WebhookMessage.status == "pending",
            WebhookMessage.next_attempt_at <= moment,
            WebhookMessage.attempt_count == row.attempt_count,
            WebhookMessage.retry_index == row.retry_index,
            or_(WebhookMessage.locked_until.is_(None), WebhookMessage.locked_until < moment),
        ).values(locked_until=moment + LEASE, attempt_count=row.attempt_count + int(interrupted))
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return None
    if interrupted:
        db.session.execute(insert(WebhookAttempt).values(
            company_id=row.company_id, message_id=message_id, attempted_at=row.locked_until - LEASE,
            succeeded=False, duration_ms=0, response_excerpt="",
            error="Interrupted: the worker stopped before recording an outcome; sending again."))
    if not row.enabled:
        db.session.execute(update(WebhookMessage).where(WebhookMessage.id == message_id).values(
            status="failed", locked_until=None, next_attempt_at=None,
            last_error="Not sent: the endpoint is disabled.").execution_options(
            synchronize_session=False))
        return None
    body = _payload_json(row.event_public_id, row.type, row.created_at, row.company_id, row.data)
    secrets_now = _active_secrets(row.secret_encrypted, row.previous_secret_encrypted,
                                  row.previous_secret_expires_at, moment)
    return DeliveryRequest(
        message_id=message_id, company_id=row.company_id, endpoint_id=row.endpoint_id,
        url=row.url, body=body, headers=signed_headers(row.public_id, moment, body, secrets_now),
        started_at=moment, retry_index=row.retry_index, failing_since=row.failing_since)


def due_later(message_id):
    """When a pending, unleased message becomes due, if that is still in the future; else None
    (delivered, failed, leased by a worker, or due already)."""
    moment = now()
    return db.session.scalar(select(WebhookMessage.next_attempt_at).where(
        WebhookMessage.id == message_id, WebhookMessage.status == "pending",
        WebhookMessage.next_attempt_at > moment,
        or_(WebhookMessage.locked_until.is_(None), WebhookMessage.locked_until < moment)))


def signed_headers(message_public_id, at, body, secrets_):
    """Standard Webhooks headers for `body`, one v1 signature per secret."""
    signatures = [Webhook(secret).sign(message_public_id, at, body) for secret in secrets_]
    return {
        "content-type": "application/json",
        "accept-encoding": "identity",
        "webhook-id": message_public_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def send_request(request):
    """POST once: vet the URL's addresses now, connect to a vetted one (no redirects), read a
    capped excerpt of the answer. Never raises for network trouble: the Outcome has the error."""
    url = httpx.URL(request.url)
    clock_start = time.monotonic()
    try:
        addresses = resolve_url(request.url)
    except UnsafeUrl as exc:
        return Outcome(request.started_at, error=f"Refused: {exc}"[:500])
    headers = {**request.headers, "host": url.netloc.decode("ascii")}
    # Connect to the address we vetted (DNS may change between check and connect); TLS still
    # verifies the certificate against the endpoint's own hostname.
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    try:
        with http_client().stream("POST", url.copy_with(host=addresses[0]),
                                  content=request.body.encode(), headers=headers,
                                  extensions=extensions) as response:
            outcome = Outcome(request.started_at, status_code=response.status_code,
                              excerpt=_read_capped(response),
                              retry_after=_retry_after(response, request.started_at))
    except httpx.TimeoutException:
        outcome = Outcome(request.started_at, error=f"Timed out after {REQUEST_TIMEOUT:.0f} s.")
    except httpx.HTTPError as exc:
        outcome = Outcome(request.started_at, error=f"{type(exc).__name__}: {exc}"[:500])
    outcome.duration_ms = int((time.monotonic() - clock_start) * 1000)
    return outcome


def _read_capped(response):
    chunks, size = [], 0
    for chunk in response.iter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_EXCERPT_BYTES:
            break
    return b"".join(chunks)[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")


def _retry_after(response, at):
    if response.status_code not in (429, 503):
        return None
    value = (response.headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            delay = parsedate_to_datetime(value) - at
        except (TypeError, ValueError):
            return None
    return min(max(delay, timedelta(0)), MAX_RETRY_AFTER)


def record_outcome(request, outcome):
    """Log the attempt and move the message on: delivered, retried later, or failed for good.

    410 Gone disables the endpoint; an endpoint that has only failed for 5 days is disabled and
    its owners notified. Returns when the next attempt is due, or None.
    """
    moment = now()
    db.session.execute(insert(WebhookAttempt).values(
        company_id=request.company_id, message_id=request.message_id,
        attempted_at=outcome.started_at, succeeded=outcome.succeeded,
        status_code=outcome.status_code, duration_ms=outcome.duration_ms,
        response_excerpt=outcome.excerpt, error=outcome.error))
    values = {"attempt_count": WebhookMessage.attempt_count + 1, "locked_until": None,
              "next_attempt_at": None, "last_status_code": outcome.status_code,
              "last_error": outcome.error or (None if outcome.succeeded else f"HTTP {outcome.status_code}")}
    endpoint_values, disable_reason = {}, None
    if outcome.succeeded:
        values.update(status="delivered", delivered_at=moment)
        if request.failing_since is not None:
            endpoint_values["failing_since"] = None
    elif outcome.status_code == 410:
        values["status"] = "failed"
        disable_reason = "it answered 410 Gone."
    else:
        failing_since = request.failing_since or outcome.started_at
        if request.failing_since is None:
            endpoint_values["failing_since"] = failing_since
        if request.retry_index < len(RETRY_DELAYS):
            delay = outcome.retry_after
            if delay is None:
                delay = RETRY_DELAYS[request.retry_index] * random.uniform(1 - JITTER, 1 + JITTER)
            values.update(retry_index=request.retry_index + 1, next_attempt_at=moment + delay)
        else:
            values["status"] = "failed"
        if moment - failing_since >= DISABLE_AFTER:
            disable_reason = "every delivery has failed for 5 days."
    db.session.execute(update(WebhookMessage).where(WebhookMessage.id == request.message_id)
                       .values(**values).execution_options(synchronize_session=False))
    if endpoint_values:
        db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == request.endpoint_id)
                           .values(**endpoint_values).execution_options(synchronize_session=False))
    if disable_reason:
        endpoint = db.session.get(WebhookEndpoint, request.endpoint_id, populate_existing=True)
        if endpoint.enabled:
            disable_endpoint(endpoint, disable_reason)
    return values["next_attempt_at"]


# ---- replay -------------------------------------------------------------------------------

def _requeue(message):
    message.status = "pending"
    message.retry_index = 0
    message.next_attempt_at = now()
    message.locked_until = None


def resend_message(message):
    """Send a message again now, with the same webhook-id, restarting its retry schedule.

    A message being delivered right now (leased) is left alone; returns whether it was requeued.
    """
    if message.status == "pending" and message.locked_until and message.locked_until > now():
        return False
    _requeue(message)
    db.session.flush()
    return True


def recover_failed_messages(endpoint, since):
    """Resend every failed message of the endpoint created at or after `since`; returns them."""
    messages = db.session.scalars(
        select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint.id,
                                     WebhookMessage.status == "failed",
                                     WebhookMessage.created_at >= since)
        .order_by(WebhookMessage.id)
    ).all()
    for message in messages:
        _requeue(message)
    db.session.flush()
    return messages


def list_endpoints(company):
    """The company's endpoints, oldest first."""
    return db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.company_id == company.id)
                              .order_by(WebhookEndpoint.id)).all()


def message_counts(company):
    """{endpoint id: {status: number of messages}} for the company's endpoints."""
    counts = {}
    for endpoint_id, status, n in db.session.execute(
            select(WebhookMessage.endpoint_id, WebhookMessage.status, func.count())
            .where(WebhookMessage.company_id == company.id)
            .group_by(WebhookMessage.endpoint_id, WebhookMessage.status)):
        counts.setdefault(endpoint_id, {})[status] = n
    return counts


def list_messages(endpoint, event_type=None, status=None, limit=50):
    """The endpoint's newest messages, optionally filtered by event type and status."""
    query = select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint.id)
    if event_type:
        query = query.where(WebhookMessage.event_type == event_type)
    if status:
        query = query.where(WebhookMessage.status == status)
    return db.session.scalars(query.order_by(WebhookMessage.id.desc()).limit(limit)).all()
