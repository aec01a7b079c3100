"""Real HTTP on loopback: `serve_wsgi` serves any WSGI app in a thread, and `HttpSink` is a
receiver that records every request and answers as the test scripts it.

The `sink` fixture (tests/conftest.py) is such a receiver for the app's outbound webhooks:

    endpoint = outbound.create_endpoint(company, sink.url + "/hook")
    sink.respond_with(500, "boom", path="/hook")        # the next request on /hook fails
    ...
    [first, retried] = sink.wait_for("/hook", count=2)  # fails the test after 10 s
    assert first.status == 500 and retried.json["type"] == "order.created"
"""

import io
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

WAIT_TIMEOUT = 30.0  # an upper bound: a loaded CI machine delivers slowly, a passing test never waits it out
HANG_TIMEOUT = 30.0


class _QuietHandler(WSGIRequestHandler):
    """Logs errors, not every request."""

    def log_request(self, code="-", size="-"):
        pass


@contextmanager
def serve_wsgi(app, port=0):
    """Serve the WSGI `app` on 127.0.0.1:`port` (0: any free port) in a thread; yields its base
    URL and shuts the server down afterwards."""
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"serve-{server.port}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class Received:
    """One request the sink received, and the status it answered it with."""

    method: str
    path: str
    headers: dict
    body: bytes
    status: int = 200
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # the real clock, not app.clock

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class _Answer:
    status: int
    body: str
    headers: dict
    path: str | None
    when: object
    times: int | None
    hang: bool

    def matches(self, request):
        return (
            (self.times is None or self.times > 0)
            and self.path in (None, request.path)
            and (self.when is None or self.when(request))
        )


_OK = _Answer(200, "ok", {}, None, None, None, False)


class HttpSink:
    """A WSGI receiver: records every request in `requests` (in arrival order) and answers it
    with the first scripted answer that matches, else from `app` (a WSGI app serving the
    pages a test needs) if given, else 200 "ok". Serve it with `serve_wsgi` and set `url`."""

    def __init__(self, app=None):
        self.url = ""
        self.app = app
        self.requests = []
        self._answers = []
        self._condition = threading.Condition()
        self._released = threading.Event()

    def respond_with(self, status, body="", headers=None, *, path=None, when=None, times=1, hang=False):
        """Script an answer for the next `times` requests (None: every one from now on) on
        `path` (None: any path) for which `when(received)` is true (None: all). Answers are
        tried in the order they were scripted. `hang=True` holds each request until `release()`
        (or 30 s) before answering it."""
        with self._condition:
            self._answers.append(_Answer(status, body, dict(headers or {}), path, when, times, hang))

    def release(self):
        """Let every held (`hang=True`) request, and any later one, answer."""
        self._released.set()

    def reset(self):
        """Forget the requests and the scripted answers; hold `hang=True` requests again."""
        with self._condition:
            self.requests.clear()
            self._answers.clear()
            self._released.clear()

    def on(self, path):
        """The requests received on `path`, in arrival order."""
        with self._condition:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, match=None, count=1, timeout=WAIT_TIMEOUT):
        """Block until `count` requests match (`match`: a path, a predicate on a `Received`, or
        None for any) and return every matching one; fail the test after `timeout` seconds."""
        test = (lambda r: r.path == match) if isinstance(match, str) else (match or (lambda r: True))
        with self._condition:
            found = self._condition.wait_for(lambda: len([r for r in self.requests if test(r)]) >= count, timeout)
            seen = [f"{r.method} {r.path} → {r.status}" for r in self.requests[-20:]]
            matching = [r for r in self.requests if test(r)]
        if not found:
            pytest.fail(
                f"the sink got {len(matching)} of {count} requests for {match!r} within {timeout}s; last seen: {seen}"
            )
        return matching

    def __call__(self, environ, start_response):
        request = Request(environ)
        received = Received(request.method, request.path, dict(request.headers), request.get_data())
        answer = self._take_answer(received)
        if answer is None and self.app is not None:
            return self._pass_to_app(received, environ, start_response)
        answer = answer or _OK
        received.status = answer.status
        self._record(received)
        if answer.hang:
            self._released.wait(HANG_TIMEOUT)
        return Response(answer.body, status=answer.status, headers=answer.headers)(environ, start_response)

    def _take_answer(self, received):
        with self._condition:
            answer = next((a for a in self._answers if a.matches(received)), None)
            if answer is not None and answer.times is not None:
                answer.times -= 1
            return answer

    def _pass_to_app(self, received, environ, start_response):
        environ["wsgi.input"] = io.BytesIO(received.body)  # the sink has read the body

        def recording_start_response(status, headers, exc_info=None):
            received.status = int(status.split(" ", 1)[0])
            self._record(received)
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start_response)

    def _record(self, received):
        with self._condition:
            self.requests.append(received)
            self._condition.notify_all()
