"""What every /api/v1 request passes before its view: the version header, the rate limits
(per API key and per client address, counted in Redis), the key and the view's scope. The
answer gets `RateLimit-*` and `Tradepost-Version` headers.

The limits are fixed one-minute windows counted in one Redis round trip (INCR + EXPIRE for
the key's bucket and the address's bucket), which also reads the key's cached grant
(services/api_cache.py) and claims the key's once-a-minute `last_used_at` write: a request
with a warm key costs no SQL. The key's bucket is the hash of what was sent, so guessing keys
is limited before any database lookup. Redis down: 503, never a 500.

That round trip is on every request, so it is sent lean (`GateWire`): the script's EVALSHA
packed here in Redis's protocol, on a connection the gate keeps (made with the app's pool
settings), its answer read by redis-py's parser (hiredis) — what redis-py's command layer would
add (a connection taken from the pool and given back, argument encoding, response callbacks)
was about half the gate's time.
"""

import hashlib
import os
from collections.abc import Callable
from string import Template
from typing import Any, NamedTuple

from flask import Flask, Response, current_app, g, request
from redis import Redis
from redis.connection import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from app.blueprints.api_v1.errors import ApiError, unavailable
from app.clock import now
from app.extensions import db
from app.queue import get_redis
from app.services import api_cache, api_keys
from app.tenancy import set_tenant

API_VERSIONS = ("2026-11-30",)
LATEST_VERSION = API_VERSIONS[-1]
VERSION_HEADER = "Tradepost-Version"
VERSION_ENVIRON = "HTTP_TRADEPOST_VERSION"  # the headers as WSGI hands them over
AUTHORIZATION_ENVIRON = "HTTP_AUTHORIZATION"
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


def _bearer(header: str | None) -> str | None:
    kind, _, token = (header or "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# One round trip for everything a request asks of Redis before its view: count the address's
# and the key's buckets (KEYS: INCR, and EXPIRE when the window's bucket is new), read the key's
# cached grant (ARGV[1]: the key's hash; '' for a view needing no key), claim its once-a-minute
# last-used write, and, for a catalogue page (ARGV[2]: the page's digest) when the grant names
# the company, read that company's catalogue version (setting a fresh one, ARGV[4], when there
# is none) and the cached page — unless the process holds that page at that version already
# (ARGV[3], "<company>:<version>"), when the last value is 1 and no page is sent. The entries
# it names itself are built from ARGV (a single Redis, as everywhere here; not a cluster).
GATE_SCRIPT = Template("""
local used = 0
for _, bucket in ipairs(KEYS) do
  local count = redis.call('INCR', bucket)
  if count == 1 then redis.call('EXPIRE', bucket, $expire) end
  used = math.max(used, count)
end
if ARGV[1] == '' then return {used, false, 0, false, false, 0} end
local grant = redis.call('GET', '$grant' .. ARGV[1])
local first = redis.call('SET', '$used' .. ARGV[1], '1', 'NX', 'EX', $last_used) and 1 or 0
local company = grant and string.match(grant, '^(%d+) ')
if not company or ARGV[2] == '' then return {used, grant, first, false, false, 0} end
local version = redis.call('GET', '$version' .. company)
if not version then
  version = ARGV[4]
  redis.call('SET', '$version' .. company, version)
end
if company .. ':' .. version == ARGV[3] then return {used, grant, first, version, false, 1} end
return {used, grant, first, version, redis.call('GET', '$page' .. company .. ':' .. ARGV[2]), 0}
""").substitute(
    expire=WINDOW_SECONDS + 1,
    grant=api_cache.key_entry(""),
    used="tp-api:used:",
    last_used=LAST_USED_SECONDS,
    version=api_cache.VERSION_PREFIX,
    page=api_cache.PAGE_PREFIX,
)


class GateWire:
    """The gate's round trip (GATE_SCRIPT by EVALSHA): the command packed here and sent on one
    of the gate's own connections, made with the app's pool settings and kept idle between
    requests (one per request in flight: a sync worker keeps one; a forked child, or another
    Redis client — a test's — starts afresh). A connection that went stale (Redis restarted, an
    idle timeout) is reconnected and the command sent once more; a script Redis lost (a restart,
    SCRIPT FLUSH) is loaded again. Anything else is a RedisError for the caller (503)."""

    SHA = hashlib.sha1(GATE_SCRIPT.encode()).hexdigest().encode()

    def __init__(self) -> None:
        self.pool: ConnectionPool | None = None
        self.idle: list[Any] = []  # list.pop and list.append are atomic: threads share it safely

    def forget(self) -> None:
        """After a fork: the parent's connections are not the child's."""
        self.pool, self.idle = None, []

    def call(self, redis: Redis, keys: list[bytes], args: list[bytes]) -> list:
        """GATE_SCRIPT's answer for `keys` and `args` (already bytes)."""
        parts = [
            b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n$1\r\n%d\r\n" % (3 + len(keys) + len(args), self.SHA, len(keys))
        ]
        for value in keys + args:
            parts.append(b"$%d\r\n%s\r\n" % (len(value), value))
        command = (b"".join(parts),)
        pool = redis.connection_pool
        if self.pool is not pool:
            self.pool, self.idle = pool, []
        idle = self.idle
        try:
            connection = idle.pop()
        except IndexError:
            connection = pool.make_connection()  # connects on first use
        try:
            return self._send(connection, command)
        finally:
            idle.append(connection)

    @staticmethod
    def _send(connection: Any, command: tuple[bytes]) -> list:
        for attempt in range(3):
            try:
                connection.send_packed_command(command, check_health=False)
                return connection.read_response()
            except NoScriptError:
                connection.send_command("SCRIPT", "LOAD", GATE_SCRIPT, check_health=False)
                connection.read_response()
            except RedisConnectionError:
                connection.disconnect()
                if attempt:
                    raise
        raise RedisError("the gate's script could not be loaded")


wire = GateWire()
os.register_at_fork(after_in_child=wire.forget)


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
    app: Flask,
    state: Any,
    address: str,
    key_hash: str | None,
    *,
    with_grant: bool = False,
    page: bytes = b"",
    held: api_cache.KeptPage | None = None,
) -> GateRead:
    """Count this request against its address (and key) buckets, and read what the key's
    request needs (GATE_SCRIPT) when `with_grant`; RateLimited past the limit. `state` is the
    request's `g`, where the limit's state is left for the answer's headers."""
    limit = app.config["API_RATE_LIMIT_PER_MINUTE"]
    moment = now().timestamp()
    window = int(moment // WINDOW_SECONDS)
    reset = max(1, int((window + 1) * WINDOW_SECONDS - moment + 0.999))
    buckets = [b"tp-api:ip:%s:%d" % (address.encode(), window)]
    if key_hash:
        buckets.append(b"tp-api:key:%s:%d" % (key_hash[:32].encode(), window))
    arguments = [
        key_hash.encode() if key_hash and with_grant else b"",
        api_cache.page_digest(page) if page else b"",
        held.tag if held is not None else b"",
        b"%d" % api_cache.fresh_version() if page else b"0",
    ]
    used, grant, first_use, version, stored, held_current = wire.call(app.extensions["redis"], buckets, arguments)
    state.api_rate_limit = (limit, max(0, limit - used), reset)
    if used > limit:
        raise RateLimited(reset)
    return GateRead(grant, first_use == 1, version, stored, held_current == 1)


class CataloguePage(NamedTuple):
    """A catalogue GET as the gate saw it: the key's hash and what names the page, the
    company's catalogue version (b"": unknown, nothing will be kept) and the current page
    (None: compute it)."""

    key_hash: str
    material: bytes
    version: bytes
    body: bytes | None


def check_request() -> Response | None:
    """The bp.before_request hook (see the module docstring). A catalogue page found current
    is answered here: the view does not run."""
    # One context lookup each, not one per use; the headers read from the WSGI environ.
    req = request._get_current_object()  # type: ignore[attr-defined]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = g._get_current_object()
    environ = req.environ
    view = app.view_functions.get(req.endpoint or "")
    version = environ.get(VERSION_ENVIRON)
    if version is not None and version not in API_VERSIONS:
        raise ApiError(
            400, "unknown_version", f"Unknown API version; this API knows {', '.join(API_VERSIONS)}.", VERSION_HEADER
        )
    state.api_version = version = version or LATEST_VERSION
    authorization = environ.get(AUTHORIZATION_ENVIRON)
    token = _bearer(authorization)
    required = getattr(view, "api_scope", None)
    key_hash = api_cache.digest(token) if token else None
    material = b""
    if key_hash and getattr(view, "api_catalogue", False):
        material = b"\0".join((req.path.encode(), req.query_string, version.encode()))
    held = api_cache.kept_pages.get((key_hash, material)) if material else None
    try:
        read = check_rate_limits(
            app,
            state,
            req.remote_addr or "127.0.0.1",
            key_hash,
            with_grant=required is not None,
            page=material,
            held=held,
        )
    except RedisError as exc:
        return unavailable(str(exc))
    if required is None:
        return None
    if token is None and authorization:
        raise api_keys.ApiKeyRefused("malformed_api_key", "Send your API key as 'Authorization: Bearer tp_sk_…'.")
    grant = api_cache.cached_grant(read.grant)
    if grant is None or (grant.expires_at is not None and grant.is_expired(now())):
        key = api_keys.authenticate(token)
        grant = api_cache.KeyGrant.of(key)
        if read.grant is None:
            api_cache.remember_grant(get_redis(), key.key_hash, grant)
    if required not in grant.scopes:
        api_keys.require_scope(grant, required)  # refuses
    if read.first_use and api_keys.touch_last_used(grant):
        db.session.commit()
    state.api_key = grant
    set_tenant(grant.company_id)
    if material and key_hash:
        found = _catalogue_page(key_hash, material, grant.company_id, read, held)
        if found.body is not None:
            return Response(found.body, content_type="application/json")
        state.api_page = found
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
    state = g._get_current_object()
    limits: Any = getattr(state, "api_rate_limit", None)
    version = getattr(state, "api_version", LATEST_VERSION)
    if limits is None:
        response.headers[VERSION_HEADER] = version
        return response
    limit, remaining, reset = limits
    response.headers.extend(
        (
            ("RateLimit-Limit", str(limit)),
            ("RateLimit-Remaining", str(remaining)),
            ("RateLimit-Reset", str(reset)),
            (VERSION_HEADER, version),
        )
    )
    return response
