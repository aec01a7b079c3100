"""The public license-key API, and a Whop-compatible validate_license (documented at /docs/licensing).

Every answer is JSON signed with Ed25519 over the exact body bytes
(`Tradepost-Signature: ed25519 <base64>`), carries `meta: {nonce, time}`, and is rate-limited
per IP and per key. The blueprint is CSRF-exempt (no session, no cookies used). While the
limits' Redis is unreachable, the endpoints that take a key answer a signed 503.
"""

import time
from contextlib import contextmanager
from functools import lru_cache, wraps
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask_limiter.util import get_remote_address
from limits import parse_many
from redis.exceptions import RedisError
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, TooManyRequests

from app import metrics, redis_calls
from app.blueprints.api_v1 import license_schemas as docs
from app.blueprints.api_v1.core import spec
from app.clock import now
from app.config import ConfigError
from app.errors import ServiceError
from app.extensions import csrf, db, limiter
from app.inputs import MAX_INT, too_large_message
from app.queue import get_redis
from app.services.licensing import license_keys, public_api, signing, whop_compat
from app.web import handle_refusal, json_error, refusal_page

bp = Blueprint("license_api", __name__, url_prefix="/api")
csrf.exempt(bp)


class BadBody(ServiceError):
    """A request body the API can't use: 422 INVALID_REQUEST naming the field (null for the body)."""

    def __init__(self, field, message):
        super().__init__(422, "INVALID_REQUEST", message, field=field)


def _rate_limit_key():
    """Per-key bucket: a hash of the normalised key from the path or the JSON body."""
    key = (request.view_args or {}).get("key")
    if key is None:
        body = request.get_json(silent=True)
        key = body.get("key") if isinstance(body, dict) else None
    key_hash = license_keys.hash_key(key)
    return f"key:{key_hash[:32]}" if key_hash else f"nokey:{get_remote_address()}"


LIMITS_PREFIX = "tp-limits:license-api"
limits_clock = time.time  # the windows' clock (seconds); tests pin it to stay inside one window

# Each KEYS[i] is a fixed window's counter: counted, and given its expiry (ARGV[i] seconds)
# when the window's first request creates it. All of a request's windows in one command.
COUNT_WINDOWS = redis_calls.Lua("""
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call('INCR', key)
    if counts[i] == 1 then
        redis.call('EXPIRE', key, ARGV[i])
    end
end
return counts
""")


class RateLimited(TooManyRequests):
    """A limit of the license API is spent: 429 RATE_LIMITED with Retry-After."""

    def __init__(self, retry_after_seconds):
        super().__init__()
        self.retry_after_seconds = max(int(retry_after_seconds), 1)


@lru_cache(maxsize=16)
def _windows(text):
    """(amount, seconds) of each limit in a setting such as "100/minute;1000/hour"."""
    return tuple((item.amount, item.get_expiry()) for item in parse_many(text))


def _spend_limits(per_key):
    """Count this request against the per-IP limit (and, with `per_key`, the per-key one) in
    ONE Redis round trip: each limit is a fixed window whose counter is INCRed (and given its
    expiry when new) by one Lua script. Raises RateLimited when a limit is exceeded, RedisError
    when Redis is unreachable (the blueprint answers a signed 503: per-process counting would
    weaken the per-key limits that make guessing keys impractical)."""
    config = current_app.config
    buckets = [(f"ip:{get_remote_address()}", config["LICENSE_RATE_LIMIT_PER_IP"])]
    if per_key:
        buckets.append((_rate_limit_key(), config["LICENSE_RATE_LIMIT_PER_KEY"]))
    moment = int(limits_clock())
    counters, expiries, windows = [], [], []
    for who, text in buckets:
        for amount, seconds in _windows(text):
            start = moment - moment % seconds
            counters.append(f"{LIMITS_PREFIX}:{who}:{amount}/{seconds}:{start}")
            expiries.append(seconds)
            windows.append((amount, start + seconds - moment))
    counts = _count(get_redis(), counters, expiries)
    waits = [left for (amount, left), count in zip(windows, counts, strict=True) if count > amount]
    if waits:
        raise RateLimited(max(waits))


def _count(redis, counters, expiries):
    """COUNT_WINDOWS run by its SHA1 (one EVALSHA; the script is loaded once per Redis server,
    again after a SCRIPT FLUSH or a restart)."""
    return redis_calls.eval_script(redis, COUNT_WINDOWS, counters, expiries)


def rate_limited(per_key=True):
    """The license API's limits (LICENSE_RATE_LIMIT_PER_IP, and per key unless `per_key` is
    False), checked before the view in one Redis round trip."""

    def decorate(view):
        @wraps(view)
        def limited(*args, **kwargs):
            _spend_limits(per_key)
            return view(*args, **kwargs)

        return limiter.exempt(limited)

    return decorate


UNAVAILABLE_RETRY_AFTER_SECONDS = 30
UNAVAILABLE_MESSAGE = (
    "License checks are temporarily unavailable; nothing was changed. Retry after the "
    "time in Retry-After, and keep trusting the last valid answer meanwhile."
)


def unavailable():
    """The signed 503 answered while a dependency (Redis) is down."""
    response = api_error(503, "SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE)
    response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
    return response


def _nonce():
    try:
        body = request.get_json(silent=True)
    except RequestEntityTooLarge:  # answering that very error: the body is never read
        body = None
    nonce = body.get("nonce") if isinstance(body, dict) else None
    return nonce if isinstance(nonce, str) and len(nonce) <= 128 else None


_answers_counted: dict[tuple[str | None, str], Any] = {}


def _count_answer(endpoint, result):
    """tradepost_license_api_requests_total{action, result} += 1 (each label set's child
    looked up once per process)."""
    child = _answers_counted.get((endpoint, result))
    if child is None:
        action = (endpoint or "unmatched").rpartition(".")[2]
        child = _answers_counted[endpoint, result] = metrics.LICENSE_API.labels(action=action, result=result.lower())
    child.inc()


def signed(payload, status=200):
    """A JSON answer with meta {nonce, time}, signed over its exact bytes."""
    _count_answer(request.endpoint, str(payload.get("code") or (payload.get("error") or {}).get("code") or "ok"))
    payload["meta"] = {"nonce": _nonce(), "time": public_api.iso(now())}
    body = signing.canonical_json(payload)
    return Response(
        body,
        status,
        mimetype="application/json",
        headers={"Tradepost-Signature": signing.sign_body(body), "Cache-Control": "no-store"},
    )


def api_error(status, code, message, **extra):
    return signed({"error": {"code": code, "message": message, **extra}}, status)


def parse_body(strings=(), required=(), ints=None):
    """The JSON object of the request with its fields checked: `strings` maps field → max
    length, `ints` maps field → (min, max). Raises BadBody naming the first bad field."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadBody(None, "Send a JSON object with Content-Type: application/json.")
    clean = {}
    for name, max_length in dict(strings).items():
        value = data.get(name)
        if value is None:
            if name in required:
                raise BadBody(name, f"{name} is required.")
            continue
        if not isinstance(value, str) or not value.strip():
            raise BadBody(name, f"{name} must be a non-empty string.")
        if len(value) > max_length:
            raise BadBody(name, f"{name} must be at most {max_length} characters.")
        clean[name] = value.strip()
    for name, (low, high) in (ints or {}).items():
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadBody(name, f"{name} must be a whole number between {low} and {high}.")
        clean[name] = value
    if "nonce" in data and (not isinstance(data["nonce"], str) or len(data["nonce"]) > 128):
        raise BadBody("nonce", "nonce must be a string of at most 128 characters.")
    return clean


KEY, FINGERPRINT, NAME = ("key", 128), ("fingerprint", 255), ("name", 255)


def signed_refusal(exc, **_view_args):
    """A refusal of the API, as every API answer: signed JSON (BadBody always names a field)."""
    extra = {"field": exc.field} if isinstance(exc, BadBody) or exc.field is not None else {}
    return api_error(exc.status, exc.code.upper(), exc.message, **extra)


def key_route(rule, body, **answers):
    """A POST of the key API: documented with `body` and `answers` (docs.answers keywords),
    rate-limited per IP and per key, refusals answered as signed JSON."""

    def decorate(view):
        view = rate_limited()(refusal_page(signed_refusal)(view))
        documented = spec.validate(
            json=body, resp=docs.answers(**answers), tags=["license validation"], skip_validation=True
        )(view)

        # Served without spectree's wrapper, documented all the same (the spec finds the
        # route's models through `__wrapped__`): the wrapper would validate nothing here
        # (parse_body checks the body and names the field) and copy each signed answer into
        # a second Response on its way out.
        @wraps(view)
        def served(*args, **kwargs):
            return view(*args, **kwargs)

        served.__wrapped__ = documented  # type: ignore[attr-defined]
        return bp.post(rule)(served)

    return decorate


# Refusals go to the app's one handler, which shows them with the page each view declares
# (signed_refusal); it is registered here too, or the catch-all below would take them first.
# The others answer what is not a refusal (limits, sizes, outages, bugs) in the same signed shape.
bp.register_error_handler(ServiceError, handle_refusal)


@bp.errorhandler(HTTPException)
def http_error(exc):
    db.session.rollback()
    code = "RATE_LIMITED" if exc.code == 429 else exc.name.upper().replace(" ", "_")
    message = "Too many requests; retry after the time in Retry-After." if exc.code == 429 else exc.description
    if exc.code == 413:
        message = too_large_message()
    extra = {"field": exc.field} if getattr(exc, "field", None) else {}
    try:
        response = api_error(exc.code, code, message, **extra)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response
    except ConfigError:
        return json_error(exc.code, code, message, **extra)


@bp.errorhandler(RedisError)
def redis_down(exc):
    db.session.rollback()
    current_app.logger.error("license API: Redis unavailable on %s: %s", request.path, exc)
    return unavailable()


@bp.errorhandler(Exception)
def unexpected(exc):
    db.session.rollback()
    current_app.logger.exception("license API error on %s", request.path)
    try:
        return api_error(500, "INTERNAL_ERROR", "Something went wrong on our side.")
    except ConfigError:
        return json_error(500, "INTERNAL_ERROR", "Something went wrong on our side.")


@contextmanager
def own_connection():
    """The connection of a view whose database work is one statement (validate, activate):
    on PostgreSQL taken from the pool in autocommit, so no BEGIN and COMMIT round trips; the
    statement is its own transaction. Inside a transaction already begun (or when the session
    is bound to a connection holding one, as in the tests), and on SQLite (the app runs its
    transactions itself there, see app/extensions.py), the session's connection. Whatever ran
    in the session's transaction (activate's locked path, SQLite) is committed after."""
    bind = db.engine
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql" and not _in_transaction():
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            yield connection
    else:
        yield db.session.connection()
    if _in_transaction():
        db.session.commit()


def _in_transaction():
    """Whether this request's session began a transaction (without making a session to ask)."""
    registry = db.session.registry
    return registry.has() and registry().in_transaction()


@key_route("/v1/licenses/validate", docs.LicenseKeyBody, HTTP_200=docs.ValidateAnswer)
def validate():
    body = parse_body(strings=dict([KEY, FINGERPRINT]), required=("key",), ints={"product_id": (1, MAX_INT)})
    with own_connection() as connection:
        result = public_api.validate_license(
            body["key"], body.get("fingerprint"), body.get("product_id"), connection=connection
        )
    answer = {
        "valid": result.valid,
        "code": result.code,
        "message": public_api.MESSAGES[result.code],
        "license": public_api.license_json(result.license) if result.license else None,
        "activation": public_api.activation_json(result.activation),
    }
    return signed(answer)


@key_route("/v1/licenses/activate", docs.MachineBody, HTTP_200=docs.ActivateAnswer, HTTP_201=docs.ActivateAnswer)
def activate():
    body = parse_body(strings=dict([KEY, FINGERPRINT, NAME]), required=("key", "fingerprint"))
    with own_connection() as connection:
        license, activation, created = public_api.activate_license(
            body["key"], body["fingerprint"], body.get("name"), connection=connection
        )
        # Serialise before commit: committing expires ORM rows (the locked path's), and reading
        # them again costs queries.
        answer = {
            "activated": True,
            "code": "ACTIVATED" if created else "ALREADY_ACTIVE",
            "license": public_api.license_json(license),
            "activation": public_api.activation_json(activation),
        }
    return signed(answer, 201 if created else 200)


@key_route("/v1/licenses/deactivate", docs.MachineBody, HTTP_200=docs.DeactivateAnswer)
def deactivate():
    body = parse_body(strings=dict([KEY, FINGERPRINT]), required=("key", "fingerprint"))
    license = public_api.deactivate_license(body["key"], body["fingerprint"])
    answer = {"deactivated": True, "code": "DEACTIVATED", "license": public_api.license_json(license)}
    db.session.commit()
    return signed(answer)


@key_route("/v1/licenses/checkout", docs.MachineBody, HTTP_200=docs.CheckoutAnswer)
def checkout():
    ttl = (int(public_api.FILE_TTL_MIN.total_seconds()), int(public_api.FILE_TTL_MAX.total_seconds()))
    body = parse_body(strings=dict([KEY, FINGERPRINT]), required=("key", "fingerprint"), ints={"ttl": ttl})
    license_file = public_api.checkout_license_file(body["key"], body["fingerprint"], body.get("ttl"))
    db.session.commit()
    return signed({"license_file": license_file})


@bp.get("/v1/licenses/public-key")
@spec.validate(resp=docs.answers(HTTP_200=docs.PublicKeyAnswer), tags=["license validation"], skip_validation=True)
@limiter.exempt
def public_key():
    try:
        _spend_limits(per_key=False)
    except RedisError:  # public information: still served while the limits' Redis is down
        current_app.logger.warning("license API: public key served without its rate limit (Redis unreachable)")
    key = signing.signing_key()
    return signed(
        {
            "algorithm": "ed25519",
            "public_key": key.public_raw_b64,
            "public_key_pem": key.public_pem,
            "signature_header": "Tradepost-Signature",
        }
    )


@key_route(
    "/v2/memberships/<key>/validate_license", docs.WhopBody, HTTP_201=docs.WhopMembership, HTTP_403=docs.WhopMembership
)
def whop_validate_license(key):
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadBody(None, "Send a JSON object with Content-Type: application/json.")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadBody("metadata", "metadata must be an object.")
    hardware_id = (metadata or {}).get("hardware_id", data.get("hardware_id"))
    if not isinstance(hardware_id, str) or not hardware_id.strip() or len(hardware_id) > 255:
        raise BadBody("hardware_id", "metadata.hardware_id must be a non-empty string of at most 255 characters.")
    result = whop_compat.validate_whop_license(key, hardware_id.strip())
    answer = whop_compat.whop_membership_json(result)
    db.session.commit()
    return signed(answer, 201 if result.valid else 403)
