"""Delivery attempts over HTTP: the process-wide keep-alive client and sender threads, the
SSRF vetting of a batch, the request, what came back.

Nothing here touches the database: `dispatch.claim_due_messages` hands over signed
`DeliveryRequest`s, and `retries.record_outcomes` records the `Outcome`s, so no transaction
stays open while requests run. Sending needs no app context: a batch's `UrlVetting` carries
the guard's settings, so `send_request` runs in the sender threads.
"""

import contextvars
import os
import threading
import time
from collections import Counter, defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial

import certifi
import urllib3

from app.logs import current_request_id
from app.services.outbound.ssrf import UnsafeUrl, UrlPolicy, current_policy, resolve_url

REQUEST_TIMEOUT = 15.0
RESPONSE_EXCERPT_BYTES = 2048
MAX_RETRY_AFTER = timedelta(hours=24)
USER_AGENT = "Tradepost-Webhooks/1.0"
REQUEST_ID_HEADER = "X-Request-ID"


@dataclass(frozen=True)
class DeliveryRequest:
    """One claimed message, signed and detached from the session; carries what
    `record_outcome` needs afterwards."""

    message_id: int
    company_id: int
    endpoint_id: int
    url: str
    body: str
    headers: dict[str, str]
    started_at: datetime
    retry_index: int
    failing_since: datetime | None
    lag_seconds: float = 0.0  # how late the attempt started after it was due


@dataclass
class Outcome:
    """What one delivery attempt produced."""

    started_at: datetime
    status_code: int | None = None
    duration_ms: int = 0
    excerpt: str = ""
    error: str | None = None
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# Keep-alive connections kept per (address, port, host name); above any sane per-endpoint setting.
MAX_CONNECTIONS = 200
_pools: urllib3.PoolManager | None = None
_pools_pid: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None


def connection_pools() -> urllib3.PoolManager:
    """The keep-alive connection pools of this process (rebuilt only after a fork): thread-safe,
    shared by every sender thread, so connections to an endpoint are kept alive across batches.
    urllib3 rather than httpx: a quarter of the CPU per request, which is what a delivery
    worker spends its time on."""
    global _pools, _pools_pid
    if _pools is None or _pools_pid != os.getpid():
        _pools = urllib3.PoolManager(
            num_pools=MAX_CONNECTIONS,
            maxsize=MAX_CONNECTIONS,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(REQUEST_TIMEOUT),
            ca_certs=certifi.where(),
        )
        _pools_pid = os.getpid()
    return _pools


def sender_pool(threads: int) -> ThreadPoolExecutor:
    """The process's sender threads (`threads` of them; rebuilt after a fork or a new size)."""
    global _pool, _pool_key
    key = (os.getpid(), threads)
    if _pool is None or _pool_key != key:
        if _pool is not None and _pool_key is not None and _pool_key[0] == os.getpid():
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook-sender")
        _pool_key = key
    return _pool


class UrlVetting:
    """The SSRF guard for one claimed batch: each endpoint URL is resolved and vetted once per
    batch (not once per message) and never skipped. Thread-safe; the guard's settings are read
    when it is made (in the job's app context), so sender threads need no app context."""

    def __init__(self, policy: UrlPolicy | None = None):
        self.policy = policy or current_policy()
        self._lock = threading.Lock()
        self._url_locks: dict[str, threading.Lock] = {}
        self._answers: dict[str, list[str] | str] = {}

    def addresses(self, url: str) -> list[str]:
        """The vetted addresses of `url`; raises UnsafeUrl as `ssrf.resolve_url` does. A slow
        lookup of one URL holds only the threads sending to that URL."""
        with self._lock:
            url_lock = self._url_locks.setdefault(url, threading.Lock())
        with url_lock:
            if url not in self._answers:
                try:
                    self._answers[url] = resolve_url(url, self.policy)
                except UnsafeUrl as exc:
                    self._answers[url] = str(exc)
            answer = self._answers[url]
        if isinstance(answer, str):
            raise UnsafeUrl(answer)
        return answer


def send_request(request: DeliveryRequest, vetting: UrlVetting | None = None) -> Outcome:
    """POST once: vet the URL's addresses (once per batch with `vetting`, else now), connect to
    a vetted one (no redirects), read a capped excerpt of the answer. Never raises for network
    trouble: the Outcome has the error."""
    clock_start = time.monotonic()
    try:
        addresses = (vetting or UrlVetting()).addresses(request.url)
    except UnsafeUrl as exc:
        return Outcome(request.started_at, error=f"Refused: {exc}"[:500])
    url = urllib3.util.parse_url(request.url)
    host = url.host or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    headers = {**request.headers, "host": url.netloc or host, "user-agent": USER_AGENT}
    request_id = current_request_id()
    if request_id is not None:  # the request (or job) this delivery stems from, for support
        headers[REQUEST_ID_HEADER] = request_id
    # Connect to the address we vetted (DNS may change between check and connect); TLS still
    # checks the certificate against the endpoint's own host name (SNI and hostname match).
    tls = {"server_hostname": host, "assert_hostname": host} if url.scheme == "https" else None
    try:
        pool = connection_pools().connection_from_host(addresses[0], port, url.scheme, pool_kwargs=tls)
        response = pool.urlopen(
            "POST",
            url.request_uri,
            body=request.body.encode(),
            headers=headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
        )
        try:
            outcome = Outcome(
                request.started_at,
                status_code=response.status,
                excerpt=_read_capped(response),
                retry_after=_retry_after(response.status, response.headers.get("retry-after"), request.started_at),
            )
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        outcome = Outcome(request.started_at, error=_error_text(exc))
    outcome.duration_ms = int((time.monotonic() - clock_start) * 1000)
    return outcome


def _error_text(exc: urllib3.exceptions.HTTPError) -> str:
    """What went wrong, in the words the attempt log has always used (a refused connection is
    a NewConnectionError, which urllib3 files under timeouts)."""
    if isinstance(exc, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError):
        name = "ConnectError"
    elif isinstance(exc, urllib3.exceptions.TimeoutError):
        return f"Timed out after {REQUEST_TIMEOUT:.0f} s."
    elif isinstance(exc, urllib3.exceptions.ProtocolError):
        name = "RemoteProtocolError"
    else:
        name = type(exc).__name__
    return f"{name}: {exc}"[:500]


def _read_capped(response: urllib3.BaseHTTPResponse) -> str:
    """At most RESPONSE_EXCERPT_BYTES of the body. The connection is kept alive only when the
    whole body was read (a Content-Length answer); otherwise it is closed rather than read on."""
    excerpt = response.read(RESPONSE_EXCERPT_BYTES, decode_content=False)
    if response.length_remaining != 0:
        response.close()
    return excerpt.decode("utf-8", "replace")


def _retry_after(status: int, value: str | None, at: datetime) -> timedelta | None:
    """The wait a 429 or 503 asks for (seconds or an HTTP date), at most MAX_RETRY_AFTER."""
    if status not in (429, 503):
        return None
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            delay = parsedate_to_datetime(value) - at
        except (TypeError, ValueError):
            return None
    return min(max(delay, timedelta(0)), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class Waiting:
    """A leased, signed request waiting in its endpoint's lane."""

    request: DeliveryRequest
    vetting: UrlVetting
    claimed_at: float  # time.monotonic()


class SenderLanes:
    """One FIFO lane per endpoint feeding the shared sender threads: at most `per_endpoint`
    requests of one endpoint are handed to the pool at a time, the next one as soon as one of
    them finishes (from the sender thread, so the lanes keep moving while the job is busy with
    the database). A slow endpoint therefore holds at most `per_endpoint` threads. Thread-safe.
    """

    def __init__(self, pool: ThreadPoolExecutor, per_endpoint: int):
        self._pool = pool
        self._per_endpoint = per_endpoint
        self._changed = threading.Condition(threading.RLock())
        self._waiting: dict[int, deque[Waiting]] = defaultdict(deque)
        self._sending: Counter[int] = Counter()
        self._finished: list[tuple[DeliveryRequest, Outcome]] = []

    def add(self, waiting: list[Waiting]) -> None:
        """Queue claimed requests in their endpoints' lanes (in order) and start what may start."""
        with self._changed:
            for item in waiting:
                self._waiting[item.request.endpoint_id].append(item)
            for endpoint_id in {item.request.endpoint_id for item in waiting}:
                self._start_next(endpoint_id)

    def held(self) -> dict[int, int]:
        """Endpoint id → requests waiting or in flight."""
        with self._changed:
            return {e: len(self._waiting[e]) + self._sending[e] for e in set(self._waiting) | set(self._sending)}

    def idle(self) -> bool:
        """Nothing waiting, nothing in flight, nothing finished and not yet taken."""
        with self._changed:
            return not self._finished and not any(self._sending.values()) and not any(self._waiting.values())

    def take_finished(self, at_least: int, timeout: float) -> list[tuple[DeliveryRequest, Outcome]]:
        """Finished attempts in the order they finished, once `at_least` have (or everything
        held has), or after `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._finished) >= at_least or not any(self._sending.values()), timeout)
            finished, self._finished = self._finished, []
            return finished

    def withdraw(self, claimed_before: float | None = None) -> list[DeliveryRequest]:
        """Take back waiting (not started) requests claimed before `claimed_before` (all if None)."""
        taken = []
        with self._changed:
            for lane in self._waiting.values():
                keep = []
                for item in lane:
                    if claimed_before is not None and item.claimed_at >= claimed_before:
                        keep.append(item)
                    else:
                        taken.append(item.request)
                lane.clear()
                lane.extend(keep)
        return taken

    def _start_next(self, endpoint_id: int) -> None:
        lane = self._waiting[endpoint_id]
        while lane and self._sending[endpoint_id] < self._per_endpoint:
            item = lane.popleft()
            self._sending[endpoint_id] += 1
            context = contextvars.copy_context()  # the job's request id, for X-Request-ID
            future = self._pool.submit(context.run, send_request, item.request, item.vetting)
            future.add_done_callback(partial(self._finish, item.request))

    def _finish(self, request: DeliveryRequest, future: "Future[Outcome]") -> None:
        error = future.exception()
        outcome = future.result() if error is None else Outcome(request.started_at, error=f"Error: {error!r}"[:500])
        with self._changed:
            self._finished.append((request, outcome))
            self._sending[request.endpoint_id] -= 1
            self._start_next(request.endpoint_id)
            self._changed.notify_all()
