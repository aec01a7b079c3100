"""One Redis pub/sub connection per streaming process, fanned out to its open SSE connections.

A company's channel (`legends:<company_id>`) is subscribed when the first page of that game
connects to this process and unsubscribed when the last one leaves; one listener greenlet
reads every message and puts the ready-made SSE frame on the queue of each connection it is
meant for (everyone's, or only its user's). The last `REPLAY_SIZE` frames of each subscribed
game are kept, so a page reconnecting with `Last-Event-ID` gets what it missed meanwhile.

Runs under gevent (gunicorn's gevent worker patches the standard library first): the code
between two waits runs without interruption, so registering a connection and reading the
replay buffer need no lock. Only the listener greenlet reads from the Redis connection;
others only send SUBSCRIBE/UNSUBSCRIBE on it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.queue import Full, Queue
from redis import Redis
from redis.client import PubSub
from redis.exceptions import RedisError

from app import metrics
from app.services.legends.live import channel

log = logging.getLogger(__name__)

REPLAY_SIZE = 256
# Frames waiting for one slow connection before it is dropped (its page reconnects and replays).
QUEUE_SIZE = 256
# Put on a connection's queue when the stream must end (Redis went away): the page retries.
CLOSE = b""


@dataclass(eq=False)
class Listener:
    """One open SSE connection: whose it is and the frames waiting to be written."""

    company_id: int
    user_id: int
    queue: Queue = field(default_factory=lambda: Queue(QUEUE_SIZE))
    open: bool = True


@dataclass
class Game:
    """This process's view of one company's channel: its connections and recent frames."""

    listeners: set[Listener] = field(default_factory=set)
    recent: deque[tuple[int, int | None, bytes]] = field(default_factory=lambda: deque(maxlen=REPLAY_SIZE))


def sse_frame(event: str, data: Any, event_id: int | None) -> bytes:
    """One server-sent event: `id:` (when known, for Last-Event-ID), `event:`, `data:` (JSON)."""
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines += [f"event: {event}", "data: " + json.dumps(data, separators=(",", ":"))]
    return ("\n".join(lines) + "\n\n").encode()


def parse_message(raw: bytes | str) -> tuple[str, Any, int | None, int | None] | None:
    """(event, data, event_id, user_id) of a published message, or None when it is not one."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        return None
    event = message["event"]
    if not event or any(ch in event for ch in "\r\n"):
        return None
    data = message.get("data")
    user_id = message.get("user_id")
    event_id = data.get("event_id") if isinstance(data, dict) else None
    return (
        event,
        data,
        event_id if isinstance(event_id, int) else None,
        user_id if isinstance(user_id, int) else None,
    )


class Hub:
    """The process's subscriptions and connections (one per streaming process)."""

    def __init__(self, redis_url: str):
        # No socket timeout on reads: the listener waits for messages as long as it takes.
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=2, health_check_interval=0)
        self.pubsub: PubSub | None = None
        self.games: dict[int, Game] = {}
        self.listener_greenlet: gevent.Greenlet | None = None

    # -- connections -----------------------------------------------------------------------

    def available(self) -> bool:
        """True when Redis answers (at once when the listener is already connected)."""
        if self.pubsub is not None:
            return True
        try:
            return bool(self.redis.ping())
        except RedisError:
            return False

    def join(self, company_id: int, user_id: int, after: int | None) -> tuple[Listener, list[bytes]]:
        """Register a connection; returns it and the frames after event id `after` it should
        get first (from this process's recent frames of that game). Raises RedisError when the
        channel cannot be subscribed."""
        game = self.games.get(company_id)
        if game is None:
            self._subscribe(company_id)
            game = self.games[company_id] = Game()
        listener = Listener(company_id, user_id)
        game.listeners.add(listener)
        metrics.LEGENDS_SSE_CONNECTIONS.inc()
        replay = []
        if after is not None:
            replay = [
                frame
                for event_id, target, frame in game.recent
                if event_id > after and (target is None or target == user_id)
            ]
        return listener, replay

    def leave(self, listener: Listener) -> None:
        """Forget a closed connection; the game's channel is unsubscribed with its last one."""
        if not listener.open:
            return
        listener.open = False
        metrics.LEGENDS_SSE_CONNECTIONS.dec()
        game = self.games.get(listener.company_id)
        if game is None or listener not in game.listeners:
            return
        game.listeners.discard(listener)
        if not game.listeners:
            del self.games[listener.company_id]
            if self.pubsub is not None:
                try:
                    self.pubsub.unsubscribe(channel(listener.company_id))
                except RedisError as error:
                    log.warning("legends stream: unsubscribe failed: %s", error)

    def _subscribe(self, company_id: int) -> None:
        if self.pubsub is not None:
            self.pubsub.subscribe(channel(company_id))
            return
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(channel(company_id))
        except (RedisError, OSError):
            pubsub.close()
            raise
        # Each pub/sub connection gets its own reader, which forgets it before closing it.
        self.pubsub = pubsub
        self.listener_greenlet = gevent.spawn(self._listen, pubsub)

    # -- relaying --------------------------------------------------------------------------

    def _listen(self, pubsub: PubSub) -> None:
        """Read every message of the subscribed channels until Redis fails or nothing is
        subscribed any more; on failure every open connection is told to reconnect later."""
        try:
            while self.games:
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if message is not None and message.get("type") == "message":
                    self._relay_safely(message["channel"], message["data"])
        except (RedisError, OSError) as error:
            log.warning("legends stream: Redis connection lost (%s); closing %d games", error, len(self.games))
            if self.pubsub is pubsub:
                self.pubsub = None
            self._drop_all()
        finally:
            if self.pubsub is pubsub:
                self.pubsub = None
            with contextlib.suppress(RedisError, OSError):
                pubsub.close()

    def _relay_safely(self, channel_name: bytes | str, raw: bytes | str) -> None:
        # One bad message must not stop the reader every open page depends on.
        try:
            self.relay(channel_name, raw)
        except Exception:
            log.exception("legends stream: could not relay a message on %r", channel_name)

    def relay(self, channel_name: bytes | str, raw: bytes | str) -> int:
        """Put one published message on the queue of each connection it is meant for;
        returns how many it reached."""
        name = channel_name.decode() if isinstance(channel_name, bytes) else channel_name
        try:
            company_id = int(name.partition(":")[2])
        except ValueError:
            return 0
        game = self.games.get(company_id)
        parsed = parse_message(raw)
        if game is None or parsed is None:
            return 0
        event, data, event_id, user_id = parsed
        frame = sse_frame(event, data, event_id)
        if event_id is not None:
            game.recent.append((event_id, user_id, frame))
        reached = 0
        for listener in list(game.listeners):
            if user_id is not None and listener.user_id != user_id:
                continue
            try:
                listener.queue.put_nowait(frame)
                reached += 1
            except Full:
                log.warning("legends stream: dropping a connection of game %s that stopped reading", company_id)
                self._close(listener)
        if reached:
            metrics.LEGENDS_SSE_MESSAGES.labels(how="live").inc(reached)
        return reached

    def _close(self, listener: Listener) -> None:
        while not listener.queue.empty():
            listener.queue.get_nowait()
        listener.queue.put_nowait(CLOSE)

    def _drop_all(self) -> None:
        games, self.games = self.games, {}
        for game in games.values():
            for listener in game.listeners:
                self._close(listener)
