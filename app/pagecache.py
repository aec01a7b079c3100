"""A short-lived Redis cache of whole pages for anonymous visitors (listing, search, gig pages).

Only GET requests from visitors with an empty session are cached, so a cached page never
carries anyone's CSRF token, flash messages or name; signed-in users always get a fresh page.
Entries live `PAGE_CACHE_SECONDS` (0 turns the cache off) under a catalogue version that
`bump_catalog_version()` moves whenever what these pages show changes.
"""
import json
from functools import wraps

from flask import current_app, request, session
from flask_login import current_user

from app.tasks import get_redis

VERSION_KEY = "pagecache:version"
KEPT_HEADERS = ("Vary", "HX-Push-Url", "Content-Type")


def _variant():
    return "|".join(request.headers.get(name, "") for name in ("HX-Request", "HX-Boosted", "HX-Target"))


def _key(redis):
    version = redis.get(VERSION_KEY) or b"0"
    return f"pagecache:{version.decode()}:{request.full_path}:{_variant()}"


def cached_for_anonymous(view):
    """Serve the view from Redis for anonymous visitors; store its 200 answers for a while."""

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
            entry = json.loads(hit)
            return entry["body"], 200, entry["headers"]
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200 and not session:
            headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
            try:
                redis.set(key, json.dumps({"body": response.get_data(as_text=True), "headers": headers}), ex=ttl)
            except Exception:
                current_app.logger.warning("page cache unavailable", exc_info=True)
        return response

    return wrapped


def bump_catalog_version():
    """Make every cached page stale (call when gigs, prices or ratings change)."""
    try:
        get_redis().incr(VERSION_KEY)
    except Exception:
        current_app.logger.warning("page cache version not bumped", exc_info=True)
