"""A small per-process cache for what many requests read alike and Redis says is still current
(the Legends board parts, the API's catalogue pages): each entry is checked against a version
read from Redis in the request's one round trip, so a process keeps no state another needs.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class LocalCache:
    """A small per-process LRU whose entries also expire after `max_age` seconds (thread-safe:
    the development server and threaded workers share it between requests in flight)."""

    def __init__(self, size: int, max_age: float):
        self.size, self.max_age = size, max_age
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if time.monotonic() - found[0] >= self.max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, value: Any) -> Any:
        """Keep `value` under `key` (a size of 0 keeps nothing); returns `value`."""
        if self.size <= 0:
            return value
        with self._lock:
            self._entries[key] = (time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        found = self.get(key)
        return found if found is not None else self.put(key, make())

    def items(self) -> list[tuple[Hashable, Any]]:
        """(key, value) of every entry, expired or not (for tests and inspection)."""
        with self._lock:
            return [(key, value) for key, (_, value) in self._entries.items()]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
