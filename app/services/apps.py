"""Apps: registering, changing and publishing them (their developer company), installing and
uninstalling them (other companies, or the developer's own for testing), and the URLs of their
iframes. Every function flushes, never commits.

Rules: a published app is installable by any company; an unpublished one only by its own
company. Localhost mode lets the base URL be http://localhost (or 127.0.0.1, [::1]) while the
developer works on it; such an app cannot be published. Installing makes an API key of the
installing company with the granted scopes (services/api_keys.py); uninstalling revokes it
at once. An app with a webhook URL receives each installing company's events that its granted
scopes cover (services/app_webhooks.py); uninstalling stops them.
"""

import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from flask import current_app
from sqlalchemy import select

from app.clock import now
from app.crypto import decrypt, encrypt
from app.errors import NotFound, ServiceError
from app.extensions import db
from app.models import App, AppInstallation, Company, User
from app.models.api_key import API_SCOPES, ApiKey
from app.services import api_keys, app_webhooks
from app.services.audit import record_audit_event
from app.services.outbound.signing import generate_secret
from app.services.outbound.ssrf import UnsafeUrl, resolve_url

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Paths inside the app: printable URL characters only, starting with one "/".
PATH_PATTERN = re.compile(r"^/(?!/)[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FIELD_LIMITS = {"name": 80, "description": 300, "icon_url": 500, "base_url": 300, "webhook_url": 500}
PATH_LIMIT = 200


class AppInvalid(ServiceError):
    """App input that cannot be saved; `errors` maps field name → message (422)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(422, "invalid_app", "; ".join(errors.values()), errors=errors)


class AppRefused(ServiceError):
    """An action the app's state does not allow (publish in localhost mode, install twice…)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, code, message)


@dataclass
class AppInput:
    """What the registration form sends."""

    name: str = ""
    description: str = ""
    icon_url: str = ""
    base_url: str = ""
    experience_path: str = ""
    dashboard_path: str = ""
    scopes: tuple[str, ...] | list[str] = ()
    webhook_url: str = ""
    localhost_mode: bool = False


def new_public_id() -> str:
    """A fresh public app id: "app_" + 16 random URL-safe characters."""
    return "app_" + secrets.token_urlsafe(12)


def _clean_base_url(url: str, localhost_mode: bool) -> str | None:
    """Why `url` cannot be an app's base URL, or None."""
    if not url:
        return "Enter the URL your app is served from."
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Use a full https:// URL."
    if parts.username or parts.password or parts.query or parts.fragment:
        return "Leave credentials, a query and a fragment out of the base URL."
    own = urlsplit(current_app.config["APP_BASE_URL"])
    if (parts.scheme, parts.netloc) == (own.scheme, own.netloc):
        return "Serve your app from an origin of its own, not Tradepost's."
    local = parts.hostname in LOCAL_HOSTS
    if local and not localhost_mode:
        return "A localhost URL needs localhost mode (for development only)."
    if parts.scheme != "https" and not local:
        return "Use an https:// URL (plain http only for localhost in localhost mode)."
    return None


def _clean_icon_url(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return "Use an https:// image URL."
    return None


def _clean_path(path: str, label: str) -> str | None:
    if path and (len(path) > PATH_LIMIT or not PATH_PATTERN.match(path)):
        return f"The {label} path starts with one / and holds URL characters only (at most {PATH_LIMIT})."
    return None


def clean_app_input(data: AppInput) -> AppInput:
    """`data` trimmed and checked; raises AppInvalid naming every field at fault."""
    cleaned = AppInput(
        name=(data.name or "").strip(),
        description=(data.description or "").strip(),
        icon_url=(data.icon_url or "").strip(),
        base_url=(data.base_url or "").strip().rstrip("/"),
        experience_path=(data.experience_path or "").strip(),
        dashboard_path=(data.dashboard_path or "").strip(),
        scopes=list(dict.fromkeys(data.scopes or ())),
        webhook_url=(data.webhook_url or "").strip(),
        localhost_mode=bool(data.localhost_mode),
    )
    errors: dict[str, str] = {}
    for field, limit in FIELD_LIMITS.items():
        value = getattr(cleaned, field)
        if len(value) > limit:
            errors[field] = f"Keep it under {limit} characters."
        elif CONTROL.search(value):
            errors[field] = "Remove the control characters."
    if not cleaned.name and "name" not in errors:
        errors["name"] = "Give your app a name."
    if "base_url" not in errors:
        problem = _clean_base_url(cleaned.base_url, cleaned.localhost_mode)
        if problem:
            errors["base_url"] = problem
    if cleaned.icon_url and "icon_url" not in errors:
        problem = _clean_icon_url(cleaned.icon_url)
        if problem:
            errors["icon_url"] = problem
    for field, label in (("experience_path", "experience"), ("dashboard_path", "dashboard")):
        problem = _clean_path(getattr(cleaned, field), label)
        if problem:
            errors[field] = problem
    if not cleaned.experience_path and not cleaned.dashboard_path and "dashboard_path" not in errors:
        errors["dashboard_path"] = "Give at least one view: a dashboard path or an experience path."
    unknown = [scope for scope in cleaned.scopes if scope not in API_SCOPES]
    if unknown:
        errors["scopes"] = f"Unknown scope: {', '.join(unknown)}."[:300]
    elif not cleaned.scopes:
        errors["scopes"] = "Choose at least one API scope your app needs."
    if cleaned.webhook_url and "webhook_url" not in errors:
        try:
            resolve_url(cleaned.webhook_url)
        except UnsafeUrl as exc:
            errors["webhook_url"] = str(exc)
    if errors:
        raise AppInvalid(errors)
    return cleaned


def _apply(app: App, data: AppInput) -> None:
    app.name = data.name
    app.description = data.description
    app.icon_url = data.icon_url or None
    app.base_url = data.base_url
    app.experience_path = data.experience_path
    app.dashboard_path = data.dashboard_path
    app.scopes = list(data.scopes)
    app.webhook_url = data.webhook_url or None
    app.localhost_mode = data.localhost_mode


def register_app(company: Company, data: AppInput, actor: User | None = None) -> App:
    """A new, unpublished app of `company` with a fresh webhook secret; raises AppInvalid,
    writing nothing."""
    cleaned = clean_app_input(data)
    app = App(company_id=company.id, public_id=new_public_id(), webhook_secret_encrypted=encrypt(generate_secret()))
    _apply(app, cleaned)
    db.session.add(app)
    db.session.flush()
    record_audit_event("app.registered", actor=actor, company=company, subject=app, name=app.name)
    return app


def update_app(app: App, data: AppInput, actor: User | None = None) -> App:
    """Change `app`; an app switched to localhost mode stops being published. Installations
    keep the scopes they granted (a new scope needs a new installation)."""
    cleaned = clean_app_input(data)
    _apply(app, cleaned)
    if app.localhost_mode:
        app.published = False
    db.session.flush()
    app_webhooks.sync_app_endpoints(app)
    record_audit_event("app.updated", actor=actor, company=app_company(app), subject=app)
    return app


def app_company(app: App) -> Company | None:
    """The developer company of `app`."""
    return db.session.get(Company, app.company_id)


def set_published(app: App, published: bool, actor: User | None = None) -> App:
    """Publish `app` in the directory (refused in localhost mode) or take it out; companies
    that installed it keep it."""
    if published and app.localhost_mode:
        raise AppRefused(409, "localhost_mode", "Turn localhost mode off before you publish the app.")
    app.published = published
    db.session.flush()
    action = "app.published" if published else "app.unpublished"
    record_audit_event(action, actor=actor, company=app_company(app), subject=app)
    return app


def rotate_webhook_secret(app: App, actor: User | None = None) -> str:
    """A new webhook signing secret for `app` (the old one stops at once); returns it in clear."""
    secret = generate_secret()
    app.webhook_secret_encrypted = encrypt(secret)
    db.session.flush()
    app_webhooks.sync_app_endpoints(app)
    record_audit_event("app.webhook_secret_rotated", actor=actor, company=app_company(app), subject=app)
    return secret


def company_apps(company: Company) -> list[App]:
    """`company`'s own apps, newest first."""
    return list(db.session.scalars(select(App).where(App.company_id == company.id).order_by(App.id.desc())))


def directory_apps(company: Company) -> list[App]:
    """Apps `company` may install: every published app, and its own apps (for testing)."""
    query = (
        select(App)
        .where((App.published.is_(True)) | (App.company_id == company.id))
        .order_by(App.name, App.id)
        .execution_options(skip_tenant_scope=True)
    )
    return list(db.session.scalars(query))


def installable_app(public_id: str, company: Company) -> App | None:
    """The app `company` may see in the directory by its public id, or None."""
    app = db.session.scalar(select(App).where(App.public_id == public_id).execution_options(skip_tenant_scope=True))
    if app is None or not (app.published or app.company_id == company.id):
        return None
    return app


def installed_app(public_id: str, company: Company) -> App | None:
    """The app `public_id` if `company` has it installed (published or not), else None."""
    app = db.session.scalar(select(App).where(App.public_id == public_id).execution_options(skip_tenant_scope=True))
    if app is None or active_installation(app, company.id) is None:
        return None
    return app


def active_installation(app: App, company_id: int) -> AppInstallation | None:
    """`company_id`'s installation of `app` that is not revoked, or None."""
    query = select(AppInstallation).where(
        AppInstallation.app_id == app.id, AppInstallation.company_id == company_id, AppInstallation.revoked_at.is_(None)
    )
    return db.session.scalar(query.execution_options(skip_tenant_scope=True))


def company_installations(company_id: int) -> list[tuple[App, AppInstallation]]:
    """`company_id`'s active installations and their apps, by app name."""
    query = (
        select(App, AppInstallation)
        .join(App, App.id == AppInstallation.app_id)
        .where(AppInstallation.company_id == company_id, AppInstallation.revoked_at.is_(None))
        .order_by(App.name, App.id)
        .execution_options(skip_tenant_scope=True)
    )
    return [(app, installation) for app, installation in db.session.execute(query)]


def experience_apps(company_id: int) -> list[App]:
    """Apps `company_id` installed that have an experience view (shown to its members)."""
    return [app for app, _ in company_installations(company_id) if app.experience_path]


def install_app(app: App, company: Company, actor: User | None = None) -> AppInstallation:
    """Install `app` for `company`, granting the scopes it asks for, with an API key of
    `company` holding those scopes (kept encrypted for the app to fetch: installation_key).

    Refused: an unpublished app of another company (404), an app already installed (409).
    """
    if not (app.published or app.company_id == company.id):
        raise AppRefused(404, "not_found", "Not found.")
    if active_installation(app, company.id) is not None:
        raise AppRefused(409, "already_installed", f"{app.name} is already installed.")
    installation = AppInstallation(
        app_id=app.id, company_id=company.id, granted_scopes=list(app.scopes), installed_by_id=actor and actor.id
    )
    db.session.add(installation)
    db.session.flush()
    key, plaintext = api_keys.create_key(
        company,
        name=f"App: {app.name}"[:80],
        scopes=list(app.scopes),
        app_installation_id=installation.id,
        actor=actor,
    )
    installation.api_key_id = key.id
    installation.api_key_encrypted = encrypt(plaintext)
    db.session.flush()
    app_webhooks.sync_installation_endpoint(app, installation)
    record_audit_event("app.installed", actor=actor, company=company, subject=installation, app=app.public_id)
    return installation


class AppUnauthorized(ServiceError):
    """An app that did not prove who it is (unknown id or wrong secret): 401."""

    def __init__(self) -> None:
        super().__init__(401, "unauthorized", "Send your app id and app secret (HTTP Basic).")


def authenticate_app(public_id: str, secret: str) -> App:
    """The app whose id and secret these are; raises AppUnauthorized (the same answer for an
    unknown app and a wrong secret)."""
    app = db.session.scalar(
        select(App).where(App.public_id == public_id[:40]).execution_options(skip_tenant_scope=True)
    )
    if app is None or not hmac.compare_digest(decrypt(app.webhook_secret_encrypted).encode(), secret.encode()):
        raise AppUnauthorized()
    return app


def installation_key(app: App, company_id: str) -> tuple[AppInstallation, str]:
    """The active installation of `app` by the company `company_id` (as the user token's
    `company_id` claim says it) and its API key in clear; NotFound when it is not installed."""
    if not company_id.isdigit() or len(company_id) > 18:
        raise NotFound("That company has not installed this app.")
    installation = active_installation(app, int(company_id))
    if installation is None or installation.api_key_encrypted is None:
        raise NotFound("That company has not installed this app.")
    return installation, decrypt(installation.api_key_encrypted)


def uninstall_app(app: App, installation: AppInstallation, actor: User | None = None) -> None:
    """End `installation` now and revoke its API key: the app's calls for the company stop."""
    if installation.revoked_at is not None:
        raise AppRefused(409, "not_installed", "That app is not installed any more.")
    installation.revoked_at = now()
    installation.api_key_encrypted = None
    key = db.session.scalar(
        select(ApiKey).where(ApiKey.id == installation.api_key_id).execution_options(skip_tenant_scope=True)
    )
    if key is not None and key.revoked_at is None:
        api_keys.revoke_key(key, actor=actor)
    db.session.flush()
    app_webhooks.sync_installation_endpoint(app, installation)
    company = db.session.get(Company, installation.company_id)
    record_audit_event("app.uninstalled", actor=actor, company=company, subject=installation, app=app.public_id)


def frame_url(app: App, path: str, token: str, **params: str) -> str:
    """The iframe URL of `app`'s view at `path`, carrying the user token and `params`."""
    query = urlencode({"tradepost_user_token": token, **params})
    return f"{app.base_url}{path or '/'}?{query}"


def app_origin(app: App) -> str:
    """scheme://host[:port] of the app: the only origin its frame may load (CSP frame-src)."""
    parts = urlsplit(app.base_url)
    return f"{parts.scheme}://{parts.netloc}"
