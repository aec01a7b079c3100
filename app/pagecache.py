"""A short-lived Redis cache of whole pages for anonymous visitors (listing, search, gig pages),
and of the fragments every visitor, signed in or not, sees alike (`shared_fragment`).

Only GET requests from visitors with an empty session are cached, so a cached page never
carries anyone's CSRF token, flash messages or name; signed-in users always get a fresh page.
Entries live `PAGE_CACHE_SECONDS` (0 turns the cache off) under a catalogue version that
`bump_catalog_version()` moves whenever what these pages show changes. A hit costs one Redis
GET: each process re-reads the version at most once a second.
"""

import hashlib
import json
import time
from collections.abc import Callable
from functools import wraps

from flask import current_app, request, session
from flask_login import current_user
from markupsafe import Markup

from app.extensions import limiter
from app.queue import get_redis

VERSION_KEY = "pagecache:version"
VERSION_RECHECK_SECONDS = 1.0
KEPT_HEADERS = ("Vary", "HX-Push-Url", "Content-Type")
_version = {"value": b"0", "read_at": float("-inf")}


def _current_version(redis):
    moment = time.monotonic()
    if moment - _version["read_at"] >= VERSION_RECHECK_SECONDS:
        _version["value"] = redis.get(VERSION_KEY) or b"0"
        _version["read_at"] = moment
    return _version["value"].decode()


def _key(redis):
    variant = "|".join(request.headers.get(name, "") for name in ("HX-Request", "HX-Boosted", "HX-Target"))
    return f"pagecache:2:{_current_version(redis)}:{request.full_path}:{variant}"


def cached_for_anonymous(view):
    """Serve the view from Redis for anonymous visitors; store its 200 answers for a while.

    Cached views are exempt from rate limits (they have none, and the check costs a Redis
    round trip per request).
    """

    @wraps(view)
    def wrapped(*args, **kwargs):
        ttl = current_app.config.get("PAGE_CACHE_SECONDS", 0)
        if not ttl or current_user.is_authenticated or session:
            return view(*args, **kwargs)
        redis = get_redis()
        try:
            key = _key(redis)
            hit = redis.get(key)
        except Exception:  # a cache outage must not take the page down
            return view(*args, **kwargs)
        if hit is not None:
            headers, _, body = hit.partition(b"\n")
            return body, 200, json.loads(headers)
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200 and not session:
            headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
            try:
                redis.set(key, json.dumps(headers).encode() + b"\n" + response.get_data(), ex=ttl)
            except Exception:
                current_app.logger.warning("page cache unavailable", exc_info=True)
        return response

    return limiter.exempt(wrapped)


def shared_fragment(name: str, variant: str, build: Callable[[], str]) -> Markup:
    """HTML that is the same for every visitor (no CSRF token, no name, nothing of a session):
    `build()`'s output, kept in Redis for PAGE_CACHE_SECONDS under the catalogue version, so
    signed-in pages share it while their own parts stay fresh. `variant` names what the HTML
    depends on besides the catalogue (the filters of a listing). Built every time while the
    cache is off (PAGE_CACHE_SECONDS 0) or Redis is unavailable.
    """
    ttl = current_app.config.get("PAGE_CACHE_SECONDS", 0)
    if not ttl:
        return Markup(build())
    redis = get_redis()
    try:
        digest = hashlib.sha256(variant.encode()).hexdigest()[:32]
        key = f"fragment:1:{_current_version(redis)}:{name}:{digest}"
        hit = redis.get(key)
    except Exception:  # a cache outage must not take the page down
        return Markup(build())
    if hit is not None:
        return Markup(hit.decode())
    html = build()
    try:
        redis.set(key, html.encode(), ex=ttl)
    except Exception:
        current_app.logger.warning("page cache unavailable", exc_info=True)
    return Markup(html)


def bump_catalog_version():
    """Make every cached page stale (call when gigs, prices or ratings change).

    Other processes notice within VERSION_RECHECK_SECONDS; this one at once.
    """
    try:
        _version["value"] = str(get_redis().incr(VERSION_KEY)).encode()
        _version["read_at"] = time.monotonic()
    except Exception as error:  # Redis down (e.g. seeding before it starts): one line, no traceback
        current_app.logger.warning("page cache version not bumped: %s", error)
