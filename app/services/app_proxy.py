"""The app proxy: Tradepost forwards an embedded app's requests to the app's base URL with a
fresh user token in the `x-tradepost-user-token` header, as Whop's iframe proxy does with
`x-whop-user-token`.

The frame loads `/apps/proxy/<grant>/<path>` on Tradepost's origin. The grant is a signed,
expiring (GRANT_MAX_AGE) statement "this user may see this app's view for this company"
made when the embedding page was shown; it sits in the path, so the app's relative links,
assets and form posts come back through the proxy without cookies. Every proxied request
checks again that the app is still installed and the user still allowed, then mints a token
living TOKEN_LIFETIME for that one request.

Limits: methods GET, HEAD and POST; request bodies up to MAX_REQUEST_BYTES; answers up to
MAX_RESPONSE_BYTES, within TIMEOUT; only the headers in FORWARDED_REQUEST_HEADERS go to the
app (never Tradepost's cookies or Authorization) and only KEPT_RESPONSE_HEADERS come back
(never Set-Cookie, never hop-by-hop headers); redirects are not followed (a Location inside the
app is rewritten to its proxy path, others are dropped). The app's address passes the SSRF
guard (services/outbound/ssrf.py) before every request and is the address connected to: public
https addresses only, or loopback only for an app in localhost mode. The answer is sandboxed
by its own CSP (`sandbox allow-scripts allow-forms`): it runs in an opaque origin, never as
Tradepost.
"""

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from app.errors import ServiceError
from app.extensions import db
from app.models import App, Company, CompanyMember, Product, User
from app.services import apps, user_tokens
from app.services.outbound.ssrf import UnsafeUrl, UrlPolicy, resolve_url

GRANT_MAX_AGE = timedelta(hours=1)
TOKEN_LIFETIME = timedelta(seconds=60)
METHODS = ("GET", "HEAD", "POST")
MAX_REQUEST_BYTES = 256 * 1024
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
FORWARDED_REQUEST_HEADERS = (
    "accept",
    "accept-language",
    "content-type",
    "if-none-match",
    "if-modified-since",
    "hx-request",
    "hx-target",
    "hx-trigger",
    "hx-current-url",
)
KEPT_RESPONSE_HEADERS = ("content-type", "content-language", "cache-control", "etag", "last-modified", "vary")
SANDBOX_CSP = "sandbox allow-scripts allow-forms; frame-ancestors 'self'"
_SALT = "app-proxy-grant"


class ProxyRefused(ServiceError):
    """A proxied request we do not forward (bad grant, access gone, limits, unsafe address)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, code, message)


class BadGateway(ProxyRefused):
    def __init__(self, message: str):
        super().__init__(502, "bad_gateway", message)


@dataclass(frozen=True)
class Grant:
    """Who may see which view of which app, for which company (and product, for experiences)."""

    user_id: int
    app_id: str
    company_id: int
    view: str
    product_id: int | None = None


@dataclass
class ProxyAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def sign_grant(grant: Grant) -> str:
    return _serializer().dumps([grant.user_id, grant.app_id, grant.company_id, grant.view, grant.product_id])


def read_grant(signed: str) -> Grant:
    """The grant in `signed`; ProxyRefused (403) when forged, malformed or older than GRANT_MAX_AGE."""
    try:
        user_id, app_id, company_id, view, product_id = _serializer().loads(
            signed, max_age=int(GRANT_MAX_AGE.total_seconds())
        )
    except (BadSignature, ValueError, TypeError):
        raise ProxyRefused(403, "grant_invalid", "This app frame has expired; reload the page.") from None
    return Grant(user_id, app_id, company_id, view, product_id)


def allowed(grant: Grant) -> tuple[User, App, Company]:
    """(user, app, company) when the grant still holds now: the user is active, the app is
    installed by the company, and the user may see the view (dashboard: a member of the company
    whose role has the apps right; experience: someone who may open the product's member
    area). ProxyRefused 404 otherwise (nothing said about what exists)."""
    from app.access import role_may
    from app.services.whop_access import can_open_member_area

    user = db.session.get(User, grant.user_id)
    company = db.session.get(Company, grant.company_id)
    app = apps.installed_app(grant.app_id, company) if company is not None else None
    if user is None or not user.active or app is None or company is None:
        raise ProxyRefused(404, "not_found", "Not found.")
    if grant.view == "dashboard":
        role = db.session.scalar(
            select(CompanyMember.role).where(CompanyMember.company_id == company.id, CompanyMember.user_id == user.id)
        )
        if app.dashboard_path and role_may(role, "apps"):
            return user, app, company
    elif grant.view == "experience" and grant.product_id is not None and app.experience_path:
        product = db.session.get(Product, grant.product_id)
        if product is not None and product.company_id == company.id and can_open_member_area(user, product):
            return user, app, company
    raise ProxyRefused(404, "not_found", "Not found.")


def vetted_address(app: App) -> str:
    """The address to connect to for `app`: its base URL's host resolved and checked now."""
    policy = UrlPolicy(allow_private=app.localhost_mode, https_only=not app.localhost_mode)
    try:
        addresses = resolve_url(app.base_url, policy)
    except UnsafeUrl as exc:
        raise BadGateway(f"The app's address is refused: {exc}") from None
    if app.localhost_mode and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise BadGateway("An app in localhost mode is reached on this machine only.")
    return addresses[0]


_client: httpx.Client | None = None
_client_pid: int | None = None


def http_client() -> httpx.Client:
    """The process's client for proxied requests (rebuilt after a fork)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        _client = httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False)
        _client_pid = os.getpid()
    return _client


def _location(value: str, base_url: str, prefix: str) -> str | None:
    """An upstream Location inside the app, as its proxy path; None for anything else."""
    base = urlsplit(base_url)
    target = urlsplit(value)
    if target.scheme or target.netloc:
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            return None
    elif not value.startswith("/") or value.startswith("//"):
        return None
    path = target.path.removeprefix(base.path.rstrip("/")) if target.netloc else target.path
    return prefix + path.lstrip("/") + (f"?{target.query}" if target.query else "")


@dataclass(frozen=True)
class Target:
    """Where one proxied request goes: the app's base URL, the vetted address, the token."""

    base_url: str
    address: str
    token: str


def prepare(grant: Grant, method: str, body_size: int) -> Target:
    """Check one proxied request (method, size, the grant still holding, the app's address)
    and mint its token. Reads only: the caller ends its transaction before `send`, so no
    database transaction waits on the app."""
    if method not in METHODS:
        raise ProxyRefused(405, "method_not_allowed", f"The app proxy forwards {', '.join(METHODS)} only.")
    if body_size > MAX_REQUEST_BYTES:
        raise ProxyRefused(413, "too_large", f"Requests through the app proxy are at most {MAX_REQUEST_BYTES} bytes.")
    user, app, company = allowed(grant)
    token = user_tokens.issue_user_token(
        user, app, company, view=grant.view, product_id=grant.product_id, lifetime=TOKEN_LIFETIME
    )
    return Target(app.base_url, vetted_address(app), token)


def send(
    target: Target,
    path: str,
    *,
    method: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    prefix: str,
) -> ProxyAnswer:
    """Send one request of the app's frame on to the app (see the module docstring); `prefix`
    is the proxy path of the grant, for Location headers. BadGateway when the app cannot be
    reached in time or answers too much."""
    sent = {name: value for name, value in headers.items() if name.lower() in FORWARDED_REQUEST_HEADERS}
    sent[user_tokens.HEADER] = target.token
    url = httpx.URL(f"{target.base_url}/{path}")
    sent["host"] = url.netloc.decode("ascii")
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    try:
        with http_client().stream(
            method,
            url.copy_with(host=target.address),
            params=list(query),
            headers=sent,
            content=body if method == "POST" else None,
            extensions=extensions,
        ) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise BadGateway(f"The app answered more than {MAX_RESPONSE_BYTES} bytes.")
                chunks.append(chunk)
    except httpx.TimeoutException:
        raise BadGateway("The app did not answer in time.") from None
    except httpx.HTTPError as exc:
        raise BadGateway(f"The app could not be reached ({type(exc).__name__}).") from None
    kept = {name: response.headers[name] for name in KEPT_RESPONSE_HEADERS if name in response.headers}
    location = response.headers.get("location")
    if location and (rewritten := _location(location, target.base_url, prefix)):
        kept["location"] = rewritten
    return ProxyAnswer(response.status_code, kept, b"".join(chunks))


def proxy_grant(user: User, app: App, company: Company, view: str, product_id: int | None = None) -> str:
    """The signed grant for `user` to see `app`'s `view` for `company` through the proxy."""
    return sign_grant(Grant(user.id, app.public_id, company.id, view, product_id))
