"""Live updates of a Legends game: the web process publishes, the streaming process relays.

`publish` is the one way game code announces a level-up, quest completion, achievement or
leaderboard move. It publishes JSON on the Redis channel `legends:<company_id>`; the SSE
process (app/streaming) subscribes and forwards each message to the open pages of that game
(only to `user_id` when it is set). Publishing is best effort: a page that misses it catches
up by polling, so Redis being down is logged and never fails the caller's request.

The stream runs on its own port (or behind the same host in production), so it cannot read
the web session. A page that has checked that its viewer may see the game embeds
`stream_url(company_id, user_id)`: the stream's address with a token signed with SECRET_KEY
naming that user and that company, valid for LEGENDS_STREAM_TOKEN_SECONDS. The stream checks
the signature, the age and the company, and needs no database.
"""

import json
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from redis.exceptions import RedisError

from app.errors import ServiceError
from app.queue import get_redis

log = logging.getLogger(__name__)

TOKEN_SALT = "legends-live-stream"


def channel(company_id: int) -> str:
    """The Redis pub/sub channel of one company's game."""
    return f"legends:{company_id}"


def publish(company_id: int, event: str, data: dict[str, Any], user_id: int | None = None) -> bool:
    """Announce `event` (e.g. "level_up") with `data` to the game's open pages; True if sent."""
    message = json.dumps({"event": event, "data": data, "user_id": user_id}, separators=(",", ":"))
    try:
        get_redis().publish(channel(company_id), message)
    except RedisError as error:
        log.warning("legends live update %s for company %s not published: %s", event, company_id, error)
        return False
    return True


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT)


def stream_token(company_id: int, user_id: int, secret_key: str | None = None) -> str:
    """A token letting `user_id` open the live stream of `company_id`'s game. Issue it only
    after checking that the user may see that game: the stream trusts it until it expires."""
    key = secret_key or current_app.config["SECRET_KEY"]
    return _serializer(key).dumps({"c": company_id, "u": user_id})


def read_stream_token(token: str | None, company_id: int, secret_key: str, max_age: float) -> int:
    """The user id a stream token of `company_id` was issued to; raises ServiceError 401 when
    it is missing, forged or older than `max_age` seconds, 403 when it names another game."""
    if not token:
        raise ServiceError(401, "token_missing", "Open the game page again to follow it live.", field="token")
    try:
        claims = _serializer(secret_key).loads(token, max_age=int(max_age))
    except SignatureExpired:
        raise ServiceError(
            401, "token_expired", "This live link has expired: reload the page.", field="token"
        ) from None
    except BadSignature:
        raise ServiceError(401, "token_invalid", "This live link is not valid.", field="token") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("u"), int) or not isinstance(claims.get("c"), int):
        raise ServiceError(401, "token_invalid", "This live link is not valid.", field="token")
    if claims["c"] != company_id:
        raise ServiceError(403, "wrong_game", "This live link belongs to another game.", field="token")
    return claims["u"]


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (what CORS and CSP compare)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def stream_url(company_id: int, user_id: int, last_event_id: int | None = None) -> str:
    """Where a page of `company_id`'s game, viewed by `user_id`, opens its live stream."""
    query = {"token": stream_token(company_id, user_id)}
    if last_event_id is not None:
        query["last_event_id"] = str(last_event_id)
    base = current_app.config["LEGENDS_STREAM_URL"].rstrip("/")
    return f"{base}/stream/legends/{company_id}?{urlencode(query)}"
