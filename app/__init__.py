"""Tradepost: an open marketplace for services and digital products."""

import copy
import os
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask import Flask, Response, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask.wrappers import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.middleware.proxy_fix import ProxyFix

from app import inputs, queue
from app.config import INSTANCE_DIR, config_from_env, load_env_file
from app.errors import ServiceError
from app.extensions import csrf, db, init_limiter, login_manager, mail, migrate
from app.local_cache import LocalCache
from app.web import ERROR_TITLES, error_page, handle_refusal, json_error, page_url, wants_json

# The only pages Whop may show inside its iframe; everything else refuses framing.
WHOP_FRAMED_PREFIXES = ("/experiences/", "/dashboard/")

REDIS_DOWN_MESSAGE = "Part of Tradepost is briefly unavailable. Please try again in a few minutes."


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer made once per set of secret
    keys instead of twice a request (to open the session and to save it), a cookie whose
    signature this process checked in the last minute neither checked nor decoded again (its
    age still checked; each request gets its own copy of what it holds), and nothing but the
    Vary header to work out for a session that is empty or was not changed."""

    def __init__(self) -> None:
        self._serializers: dict[tuple, URLSafeTimedSerializer | None] = {}
        # (keys, cookie) -> (when it was signed, what it holds)
        self._checked = LocalCache(4096, max_age=60.0)

    @staticmethod
    def _keys(app: Flask) -> tuple:
        return (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = self._keys(app)
        try:
            return self._serializers[keys]
        except KeyError:
            made = self._serializers[keys] = super().get_signing_serializer(app)
            return made

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        if "HTTP_COOKIE" not in request.environ:  # no cookie at all: nothing to parse
            return self.session_class()
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        checked = (self._keys(app), cookie)
        known = self._checked.get(checked)
        if known is not None and time.time() - known[0] <= max_age:
            return self.session_class(_own_copy(known[1]))
        try:
            data, moment = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        self._checked.put(checked, (moment.timestamp(), _own_copy(data)))
        return self.session_class(data)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified:  # no cookie to set or delete
            if session.accessed:
                _vary_on_cookie(response)
            return
        if not session.modified and not self.should_set_cookie(app, session):
            if session.accessed:
                _vary_on_cookie(response)
            return
        super().save_session(app, session, response)


def _own_copy(data: dict) -> dict:
    """A copy of a session's contents that no other request shares (a flash list is changed in
    place by `flash`)."""
    return {key: copy.deepcopy(value) if isinstance(value, (dict, list)) else value for key, value in data.items()}


def _vary_on_cookie(response: Response) -> None:
    """`response.vary.add("Cookie")` without parsing the header into a set and back (nor
    werkzeug's `Headers.get`, which raises and catches a KeyError when the header is missing)."""
    headers = response.headers
    vary = next((value for name, value in headers.items() if name.lower() == "vary"), None)
    if vary is None:
        headers.add("Vary", "Cookie")
    elif "cookie" not in {part.strip().lower() for part in vary.split(",")}:
        headers["Vary"] = f"{vary}, Cookie" if vary.strip() else "Cookie"


class Tradepost(Flask):
    """Flask, with `ensure_sync` remembering its answer per function (Flask asks it of every
    hook and the view on every request, a score of times, and the answer never changes) and
    the session serializer made once (CookieSessions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_interface = CookieSessions()
        self._sync_of = lru_cache(maxsize=1024)(super().ensure_sync)

    def ensure_sync(self, func: Callable) -> Callable:
        return self._sync_of(func)


def create_app(config_class=None):
    """Build the web app for `config_class` (default: chosen by TRADEPOST_ENV, after reading
    `.env`). The config reads the environment now, not when app.config was imported."""
    if config_class is None:
        load_env_file()
        config_class = config_from_env()
    config = config_class()
    config.validate()

    app = Tradepost(__name__, instance_path=str(INSTANCE_DIR))
    app.config.from_object(config)
    app.extensions["settings"] = config  # which settings were read, for `flask settings`
    os.makedirs(app.instance_path, exist_ok=True)

    from app.logs import configure_logging

    configure_logging(app)
    if app.config["TRUSTED_PROXIES"]:
        # The client address and scheme as the trusted proxies saw them (rate limits, audit
        # log, secure redirects); X-Forwarded-For entries beyond that count are ignored.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(INSTANCE_DIR.parent / "migrations"))
    from app import observability

    observability.init_app(app)  # first request hooks: every request gets its id and metrics
    login_manager.init_app(app)
    inputs.init_app(app)  # before CSRF: it sets the body allowance before anything reads the form
    csrf.init_app(app)
    _check_csrf_only_where_it_applies(app)
    init_limiter(app)
    mail.init_app(app)

    queue.init_app(app)

    from app import models  # noqa: F401  (tables register on import)

    _configure_login(app)
    _register_blueprints(app)
    _register_error_handlers(app)
    _register_security_headers(app)
    _register_template_helpers(app)

    from app.cli import register_cli

    register_cli(app)
    return app


def _check_csrf_only_where_it_applies(app):
    """Flask-WTF's before-request check looks up the view's and blueprint's exemptions before it
    looks at the method: a GET (nearly every request) pays for the lookup and then is let
    through. The same check, asked only of the methods it protects (WTF_CSRF_METHODS)."""
    hooks = app.before_request_funcs[None]
    check = next(hook for hook in hooks if getattr(hook, "__name__", "") == "csrf_protect")
    config = app.config

    def csrf_protect():
        if request.method in config["WTF_CSRF_METHODS"]:
            return check()
        return None

    hooks[hooks.index(check)] = csrf_protect


def _configure_login(app):
    from app.session_auth import configure_login

    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    configure_login(app)


def _register_blueprints(app):
    from app.blueprints import (
        account,
        account_links,
        admin,
        affiliate,
        api_v1,
        apps,
        auth,
        browse,
        buy,
        docs,
        experiences,
        legends,
        legends_live,
        license_api,
        main,
        member_areas,
        notifications,
        ops,
        orders,
        referrals,
        review,
        sell,
        site,
        webhooks,
        whop,
    )

    for module in (
        ops,
        main,
        auth,
        account,
        account_links,
        affiliate,
        member_areas,
        browse,
        buy,
        orders,
        notifications,
        sell,
        legends,
        legends_live,
        review,
        admin,
        docs,
        site,
        license_api,
        webhooks,
        whop,
        experiences,
        referrals,
        apps,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(api_v1.bp)
    app.register_blueprint(api_v1.docs.bp)


def _register_error_handlers(app):
    app.register_error_handler(ServiceError, handle_refusal)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc):
        code = exc.code or 500
        if request.path.startswith("/api/v1/") and request.blueprint != "license_api":
            from app.blueprints.api_v1.errors import http_error

            return http_error(exc)  # no route matched (404, 405): the public API's envelope
        if code == 429:
            db.session.rollback()
        if code == 413:
            db.session.rollback()
            exc.description = inputs.too_large_message()
        if wants_json():
            field = getattr(exc, "field", None)  # the request check's 400 names the field
            return json_error(
                code, exc.name.lower().replace(" ", "_"), exc.description, **({"field": field} if field else {})
            )
        retry_after = getattr(exc, "retry_after", None)
        return error_page(
            code,
            exc.description,
            title=ERROR_TITLES.get(code, exc.name),
            headers={"Retry-After": str(retry_after)} if code in (429, 503) and retry_after else None,
        )

    @app.errorhandler(RedisError)
    def handle_redis_down(exc):
        # The safety net: places that can do better without Redis handle it themselves.
        db.session.rollback()
        app.logger.error("Redis unavailable on %s %s: %s", request.method, request.path, exc)
        return handle_http_error(ServiceUnavailable(REDIS_DOWN_MESSAGE, retry_after=30))

    @app.errorhandler(Exception)
    def handle_unexpected(exc):
        from app.observability import count_unexpected_error

        db.session.rollback()
        count_unexpected_error("web", exc)
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, "internal_error", "Something went wrong on our side.")
        return error_page(500)


def _register_security_headers(app):
    def form_targets():
        targets = ["'self'", "https://checkout.stripe.com", "https://connect.stripe.com"]
        if app.config["SANDBOX_ENABLED"]:
            targets.append(app.config["SANDBOX_URL"])
        targets.append(app.config["WHOP_API_BASE"])
        return " ".join(targets)

    def connect_targets():
        # Legends pages open the live-updates stream, on its own port outside production.
        from app.services.legends.live import origin_of

        stream = origin_of(app.config["LEGENDS_STREAM_URL"])
        return "'self'" if stream == origin_of(app.config["APP_BASE_URL"]) else f"'self' {stream}"

    # img-src https: for the logos companies link in their public profile (https only).
    base_csp = (
        "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; "
        f"connect-src {connect_targets()}; object-src 'none'; base-uri 'self'; form-action " + form_targets()
    )

    def header_set(framed: bool, frame_src: str = "") -> tuple[tuple[str, str, str], ...]:
        """(lower-case name, name, value) of each header a response gets unless it has one."""
        ancestors = "'self' https://whop.com https://*.whop.com" if framed else "'none'"
        headers = [
            ("Content-Security-Policy", f"{base_csp}; frame-ancestors {ancestors}{frame_src}"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ]
        if not framed:
            headers.append(("X-Frame-Options", "DENY"))
        if app.config["HSTS_MAX_AGE"]:
            headers.append(("Strict-Transport-Security", f"max-age={app.config['HSTS_MAX_AGE']}; includeSubDomains"))
        return tuple((name.lower(), name, value) for name, value in headers)

    # Built once: every response gets one of these two sets (or, on a page embedding an app,
    # one with that app's origin as the only frame-src).
    framed_headers, unframed_headers = header_set(True), header_set(False)

    @app.after_request
    def set_security_headers(response):
        framed = request.path.startswith(WHOP_FRAMED_PREFIXES)
        # Pages embedding an installed app may frame that app's origin, and nothing else.
        frame_src = g.get("csp_frame_src")
        if frame_src:
            wanted = header_set(framed, f"; frame-src {frame_src}")
        else:
            wanted = framed_headers if framed else unframed_headers
        headers = response.headers
        # One pass over what the response has: a membership test on werkzeug's Headers raises
        # and catches a KeyError for every header that is missing.
        present = {name.lower() for name, _ in headers}
        for lowered, name, value in wanted:
            if lowered not in present:
                headers.add(name, value)
        return response


def _register_template_helpers(app):
    from app.markdown import autolink
    from app.money import amount_input_filter, money_filter
    from app.services.legends.live import stream_url as legends_stream_url

    app.jinja_env.filters["autolink"] = autolink
    app.jinja_env.filters["money"] = money_filter
    app.jinja_env.filters["amount_input"] = amount_input_filter
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.globals["legends_stream_url"] = legends_stream_url
