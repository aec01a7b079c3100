"""What every /api/v1 request passes before its view: the version header, the rate limits
(per API key and per client address, counted in Redis), the key and the view's scope. The
answer gets `RateLimit-*` and `Tradepost-Version` headers.

The limits are fixed one-minute windows counted with one Redis round trip (INCR + EXPIRE for
the key's bucket and the address's bucket). The key's bucket is the hash of what was sent,
so guessing keys is limited before any database lookup. Redis down: 503, never a 500.
"""

import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request
from flask_limiter.util import get_remote_address
from redis.exceptions import RedisError

from app.blueprints.api_v1.errors import ApiError, unavailable
from app.clock import now
from app.extensions import db
from app.queue import get_redis
from app.services import api_keys
from app.tenancy import set_tenant

API_VERSIONS = ("2026-11-30",)
LATEST_VERSION = API_VERSIONS[-1]
VERSION_HEADER = "Tradepost-Version"
WINDOW_SECONDS = 60


def scope(required: str | None) -> Callable:
    """Declare the scope a view needs (None: public, no key: the OpenAPI document)."""

    def mark(view: Callable) -> Callable:
        view.api_scope = required  # type: ignore[attr-defined]
        return view

    return mark


class RateLimited(ApiError):
    def __init__(self, retry_after: int):
        super().__init__(429, "rate_limited", "Too many requests; retry after the time in Retry-After.")
        self.headers = {"Retry-After": str(retry_after)}


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _count(buckets: list[str], window: int) -> list[int]:
    pipe = get_redis().pipeline(transaction=False)
    for bucket in buckets:
        pipe.incr(f"tp-api:{bucket}:{window}")
        pipe.expire(f"tp-api:{bucket}:{window}", WINDOW_SECONDS + 1)
    return [int(value) for value in pipe.execute()[::2]]


def check_rate_limits(token: str | None) -> None:
    """Count this request against its address (and key) buckets; RateLimited past the limit."""
    limit = current_app.config["API_RATE_LIMIT_PER_MINUTE"]
    moment = now().timestamp()
    window = int(moment // WINDOW_SECONDS)
    reset = max(1, int((window + 1) * WINDOW_SECONDS - moment + 0.999))
    buckets = [f"ip:{get_remote_address()}"]
    if token:
        buckets.append("key:" + hashlib.sha256(token.encode()).hexdigest()[:32])
    used = max(_count(buckets, window))
    g.api_rate_limit = (limit, max(0, limit - used), reset)
    if used > limit:
        raise RateLimited(reset)


def check_request() -> Response | None:
    """The bp.before_request hook (see the module docstring)."""
    view = current_app.view_functions.get(request.endpoint or "")
    version = request.headers.get(VERSION_HEADER)
    if version is not None and version not in API_VERSIONS:
        raise ApiError(
            400, "unknown_version", f"Unknown API version; this API knows {', '.join(API_VERSIONS)}.", VERSION_HEADER
        )
    g.api_version = version or LATEST_VERSION
    token = _bearer()
    try:
        check_rate_limits(token)
    except RedisError as exc:
        return unavailable(str(exc))
    required = getattr(view, "api_scope", None)
    if view is None or (required is None and not hasattr(view, "api_scope")):
        return None
    if required is None:
        return None
    if token is None and request.headers.get("Authorization"):
        raise api_keys.ApiKeyRefused("malformed_api_key", "Send your API key as 'Authorization: Bearer tp_sk_…'.")
    key = api_keys.authenticate(token)
    api_keys.require_scope(key, required)
    if api_keys.touch_last_used(key):
        db.session.commit()
    g.api_key = key
    set_tenant(key.company_id)
    return None


def add_headers(response: Response) -> Response:
    """The bp.after_request hook: rate-limit state and the version that answered."""
    limits: Any = g.get("api_rate_limit")
    if limits is not None:
        limit, remaining, reset = limits
        response.headers["RateLimit-Limit"] = str(limit)
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(reset)
    response.headers[VERSION_HEADER] = g.get("api_version", LATEST_VERSION)
    return response
