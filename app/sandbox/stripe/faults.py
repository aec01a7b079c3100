"""Injected failures: make the emulated Stripe API fail the next matching request(s).

Tests and demos use them to see what the app does when Stripe fails part-way:

- ``before``: answer 500 without doing anything (nothing is stored, not even the idempotent
  response): the request never happened.
- ``after``: do the work and store the idempotent response as usual, then answer 500 instead
  of the result, like a response lost on the way back. A retry with the same idempotency key
  gets the stored result; one with a new key would do the work a second time.

Both answer with ``Stripe-Should-Retry: false`` so the official library surfaces the failure
instead of retrying it itself. Faults live in the sandbox process's memory; a reset clears them.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

WHEN = ("before", "after")


@dataclass
class Fault:
    method: str
    path: str
    when: str
    remaining: int


class Faults:
    """The pending faults of one sandbox process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, method: str, path: str, when: str, count: int) -> Fault:
        fault = Fault(method.upper(), path, when, count)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str, when: str) -> bool:
        """True (and one use consumed) if a fault matches this request at this moment."""
        with self._lock:
            for fault in self._faults:
                if (fault.method, fault.path, fault.when) == (method.upper(), path, when):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return True
        return False

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def listed(self) -> list[dict]:
        with self._lock:
            return [asdict(fault) for fault in self._faults]
