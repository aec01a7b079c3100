"""One Redis command on a pooled connection, for the calls every request makes (the session's
generations, the Legends board's glance): redis-py's `execute_command` wraps each command in
retries, event hooks and observability recording, about four times the Python work of sending
it and reading the reply.

Same pool, same connections, same health checks and reply parsing; a connection that failed is
dropped (disconnected) before it goes back to the pool, and a call that failed to connect or
lost its connection is tried once more on a fresh one. Errors are redis-py's (RedisError).
"""

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError


def call(client: Redis, *args: Any) -> Any:
    """The reply to the command `args` (e.g. "MGET", key, ...), parsed as `client` parses it."""
    try:
        return _once(client, args)
    except (RedisConnectionError, RedisTimeoutError):
        return _once(client, args)


@dataclass(frozen=True)
class Lua:
    """A Lua script with its SHA1 known up front (no round trip to register it)."""

    script: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.script.encode()).hexdigest())


def eval_script(client: Redis, script: Lua, keys: list, args: list) -> Any:
    """`script`'s reply, run by its SHA (one EVALSHA), loaded first if Redis has forgotten it
    (a restart, SCRIPT FLUSH)."""
    command = ("EVALSHA", script.sha, len(keys), *keys, *args)
    try:
        return call(client, *command)
    except NoScriptError:
        client.script_load(script.script)
        return call(client, *command)


def new_token() -> str:
    """A version or generation token never handed out before (random, never a counter: a Redis
    that lost its keys cannot repeat one a process still holds)."""
    return secrets.token_hex(8)


def tokens(client: Redis, keys: Sequence[str], ex: int | None = None) -> list:
    """The values of `keys` in one MGET when all exist; a missing one is first given a
    new_token() (SET NX, expiring after `ex` seconds when given), in one more round trip."""
    values = call(client, "MGET", *keys)
    if None in values:
        pipe = client.pipeline(transaction=False)
        for key, value in zip(keys, values, strict=True):
            if value is None:
                pipe.set(key, new_token(), ex=ex, nx=True)
        pipe.mget(keys)
        values = pipe.execute()[-1]
    return values


def _once(client: Redis, args: tuple) -> Any:
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_command(*args)
        return connection.read_response()
    except (RedisConnectionError, RedisTimeoutError, OSError):
        connection.disconnect()
        raise
    finally:
        pool.release(connection)
