"""Live updates of a Legends game: the web process publishes, the streaming process relays.

`publish` is the one way game code announces a level-up, quest completion, achievement or
leaderboard move. It publishes JSON on the Redis channel `legends:<company_id>`; the SSE
process subscribes and forwards each message to the open pages of that game (only to
`user_id` when it is set). Publishing is best effort: a page that misses it catches up by
polling, so Redis being down is logged and never fails the caller's request.
"""

import json
import logging
from typing import Any

from redis.exceptions import RedisError

from app.queue import get_redis

log = logging.getLogger(__name__)


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
