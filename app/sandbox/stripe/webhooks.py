"""Webhook delivery of emulated Stripe events to the app.

A background thread in the sandbox process POSTs each queued event to
``APP_BASE_URL/webhooks/stripe`` with a ``Stripe-Signature`` header that
``stripe.Webhook.construct_event`` accepts, retries failures on a short bounded schedule and
records every attempt. One process-wide httpx client carries all deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time

import httpx

from app.sandbox.stripe.store import Store

log = logging.getLogger(__name__)

RETRY_DELAYS = (1, 2, 5, 10, 30, 60)
IDLE_POLL_SECONDS = 0.5

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def http_client() -> httpx.Client:
    """The process-wide HTTP client used for every delivery."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(timeout=httpx.Timeout(10.0, connect=2.0))
        return _client


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """A Stripe-Signature header value for ``payload`` signed at ``timestamp``."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Deliverer:
    """Background delivery of queued events; ``notify()`` wakes it after new events commit."""

    def __init__(
        self, store: Store, url: str, secret: str, enabled: bool, retry_delays: tuple[int, ...] = RETRY_DELAYS
    ) -> None:
        self.store = store
        self.url = url
        self.secret = secret
        self.enabled = enabled
        self.retry_delays = retry_delays
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            try:
                self.deliver_due()
                next_at = self.store.next_delivery_at()
            except Exception:  # the loop must survive a bad row or a locked database
                log.exception("webhook delivery loop failed")
                next_at = None
            timeout = IDLE_POLL_SECONDS if next_at is None else max(0.0, min(next_at - time.time(), IDLE_POLL_SECONDS))
            self._wake.wait(timeout)
            self._wake.clear()

    def deliver_due(self) -> None:
        for row in self.store.due_deliveries(time.time()):
            self.deliver(row["event_id"], row["attempts"] + 1)

    def deliver(self, event_id: str, attempt: int) -> None:
        row = self.store.connection().execute("SELECT data FROM objects WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            return
        payload = json.dumps(json.loads(row["data"]), indent=2).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) tradepost-sandbox",
            "Stripe-Signature": sign(payload, self.secret, int(time.time())),
        }
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            response = http_client().post(self.url, content=payload, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = response.text[:500] or f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = int((time.monotonic() - started) * 1000)
        if error is None:
            state, next_at = "delivered", 0.0
        elif attempt <= len(self.retry_delays):
            state, next_at = "pending", time.time() + self.retry_delays[attempt - 1]
        else:
            state, next_at = "failed", 0.0
        self.store.record_attempt(event_id, attempt, self.url, status_code, error, duration_ms, state, next_at)
