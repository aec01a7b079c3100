"""What every /api/v1 request passes before its view: the version header, the rate limits
(per API key and per client address, counted in Redis), the key and the view's scope. The
answer gets `RateLimit-*` and `Tradepost-Version` headers.

The limits are fixed one-minute windows counted in one Redis round trip (INCR + EXPIRE for
the key's bucket and the address's bucket), which also reads the key's cached grant
(services/api_cache.py) and claims the key's once-a-minute `last_used_at` write: a request
with a warm key costs no SQL. The key's bucket is the hash of what was sent, so guessing keys
is limited before any database lookup. Redis down: 503, never a 500.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

from flask import Response, current_app, g, request
from flask_limiter.util import get_remote_address
from redis.exceptions import RedisError

from app.blueprints.api_v1.errors import ApiError, unavailable
from app.clock import now
from app.extensions import db
from app.queue import get_redis
from app.services import api_cache, api_keys
from app.tenancy import set_tenant

API_VERSIONS = ("2026-11-30",)
LATEST_VERSION = API_VERSIONS[-1]
VERSION_HEADER = "Tradepost-Version"
WINDOW_SECONDS = 60
LAST_USED_SECONDS = int(api_keys.LAST_USED_RESOLUTION.total_seconds())


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


# One round trip for everything a request asks of Redis before its view: count the address's
# and the key's buckets (KEYS: INCR, and EXPIRE when the window's bucket is new), read the key's
# cached grant, claim its once-a-minute last-used write, and, for a catalogue page when the
# grant names the company, read that company's catalogue version (setting a fresh one, ARGV[8],
# when there is none) and the cached page — unless the process holds that page at that version
# already (ARGV[7], "<company>:<version>"), when the last value is 1 and no page is sent. The
# entries it names itself are built from ARGV (a single Redis, as everywhere here; not a cluster).
GATE_SCRIPT = """
local used = 0
for _, bucket in ipairs(KEYS) do
  local count = redis.call('INCR', bucket)
  if count == 1 then redis.call('EXPIRE', bucket, ARGV[1]) end
  used = math.max(used, count)
end
if ARGV[2] == '' then return {used, false, 0, false, false, 0} end
local grant = redis.call('GET', 'tp-api:grant:' .. ARGV[2])
local first = redis.call('SET', 'tp-api:used:' .. ARGV[2], '1', 'NX', 'EX', ARGV[3]) and 1 or 0
local company = grant and string.match(grant, '^(%d+) ')
if not company or ARGV[4] == '' then return {used, grant, first, false, false, 0} end
local version = redis.call('GET', ARGV[5] .. company)
if not version then
  version = ARGV[8]
  redis.call('SET', ARGV[5] .. company, version)
end
if company .. ':' .. version == ARGV[7] then return {used, grant, first, version, false, 1} end
return {used, grant, first, version, redis.call('GET', ARGV[6] .. company .. ':' .. ARGV[4]), 0}
"""


class GateRead(NamedTuple):
    """What the gate's round trip read: the key's cached grant (or None), whether this request
    notes the key as used, and for a catalogue page the version, the page as stored, and
    whether the page this process holds (`held`) is at that version."""

    grant: bytes | None
    first_use: bool
    version: bytes | None
    page: bytes | None
    held_current: bool


def check_rate_limits(
    key_hash: str | None, *, with_grant: bool = False, page: bytes = b"", held: api_cache.KeptPage | None = None
) -> GateRead:
    """Count this request against its address (and key) buckets, and read what the key's
    request needs (GATE_SCRIPT) when `with_grant`; RateLimited past the limit."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # one context lookup
    limit = app.config["API_RATE_LIMIT_PER_MINUTE"]
    moment = now().timestamp()
    window = int(moment // WINDOW_SECONDS)
    reset = max(1, int((window + 1) * WINDOW_SECONDS - moment + 0.999))
    buckets = [f"tp-api:ip:{get_remote_address()}:{window}"]
    if key_hash:
        buckets.append(f"tp-api:key:{key_hash[:32]}:{window}")
    redis = app.extensions["redis"]
    script = app.extensions.get("api_gate_script")
    if script is None:
        script = app.extensions["api_gate_script"] = redis.register_script(GATE_SCRIPT)
    arguments = [
        WINDOW_SECONDS + 1,
        key_hash if key_hash and with_grant else "",
        LAST_USED_SECONDS,
        api_cache.page_digest(page) if page else "",
        api_cache.VERSION_PREFIX,
        api_cache.PAGE_PREFIX,
        held.tag if held is not None else "",
        api_cache.fresh_version() if page else 0,
    ]
    used, grant, first_use, version, stored, held_current = script(keys=buckets, args=arguments, client=redis)
    g.api_rate_limit = (limit, max(0, limit - used), reset)
    if used > limit:
        raise RateLimited(reset)
    return GateRead(grant, bool(first_use), version, stored, bool(held_current))


def page_material() -> bytes:
    """What names a catalogue page within its company: path, query string and API version."""
    return b"\0".join((request.path.encode(), request.query_string, g.api_version.encode()))


class CataloguePage(NamedTuple):
    """A catalogue GET as the gate saw it: the key's hash and what names the page, the
    company's catalogue version (b"": unknown, nothing will be kept) and the current page
    (None: compute it)."""

    key_hash: str
    material: bytes
    version: bytes
    body: bytes | None


def check_request() -> Response | None:
    """The bp.before_request hook (see the module docstring)."""
    req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup, not one per use
    view = current_app.view_functions.get(req.endpoint or "")
    version = req.headers.get(VERSION_HEADER)
    if version is not None and version not in API_VERSIONS:
        raise ApiError(
            400, "unknown_version", f"Unknown API version; this API knows {', '.join(API_VERSIONS)}.", VERSION_HEADER
        )
    g.api_version = version or LATEST_VERSION
    token = _bearer()
    required = getattr(view, "api_scope", None)
    key_hash = api_cache.digest(token) if token else None
    material = page_material() if getattr(view, "api_catalogue", False) else b""
    held = api_cache.kept_pages.get((key_hash, material)) if material and key_hash else None
    try:
        read = check_rate_limits(key_hash, with_grant=required is not None, page=material, held=held)
    except RedisError as exc:
        return unavailable(str(exc))
    if required is None:
        return None
    if token is None and req.headers.get("Authorization"):
        raise api_keys.ApiKeyRefused("malformed_api_key", "Send your API key as 'Authorization: Bearer tp_sk_…'.")
    grant = api_cache.cached_grant(read.grant)
    if grant is None or grant.is_expired(now()):
        key = api_keys.authenticate(token)
        grant = api_cache.KeyGrant.of(key)
        if read.grant is None:
            api_cache.remember_grant(get_redis(), key.key_hash, grant)
    api_keys.require_scope(grant, required)
    if read.first_use and api_keys.touch_last_used(grant):
        db.session.commit()
    g.api_key = grant
    set_tenant(grant.company_id)
    if material and key_hash:
        g.api_page = _catalogue_page(key_hash, material, grant.company_id, read, held)
    return None


def _catalogue_page(
    key_hash: str, material: bytes, company_id: int, read: GateRead, held: api_cache.KeptPage | None
) -> CataloguePage:
    """The page the gate's round trip found current: the one this process holds, or the one
    stored in Redis (then held from now on)."""
    if read.version is None:  # the grant was not cached, so neither was the version read
        body, version = api_cache.read_page(get_redis(), company_id, material)
    elif read.held_current and held is not None and held.company_id == company_id:
        return CataloguePage(key_hash, material, read.version, held.body)
    else:
        body, version = api_cache.current_page(read.version, read.page)
    if body is not None:
        api_cache.keep_page(key_hash, material, api_cache.KeptPage(company_id, version, body))
    return CataloguePage(key_hash, material, version, body)


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
