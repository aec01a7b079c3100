"""Fixtures for the Whop emulator and the Whop integration, all over real loopback HTTP.

``whop_sandbox`` serves a minimal Flask app with the Whop emulator (``app.sandbox.whop``) at
``/whop``; ``whop_sink`` plays our app: it records webhooks and serves ``/experiences/<id>``
and ``/dashboard/<id>`` pages that echo the ``x-whop-user-token`` they received.
"""

from __future__ import annotations

import re
import secrets
import threading
import warnings
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

from app.sandbox import whop
from app.sandbox.cli import whop_cli

WHOP_TEST_CONFIG = {
    "WHOP_APP_ID": "app_whop_tests",
    "WHOP_CLIENT_ID": "whop-tests-client",
    "WHOP_CLIENT_SECRET": "whop-tests-client-secret",
    "WHOP_WEBHOOK_SECRET": "ws_whop_tests_secret_0123456789",
}


@pytest.fixture(autouse=True)
def _isolate():
    """Whop tests never touch the main app's database or Redis: no per-test rollback needed."""
    yield


class _QuietHandler(WSGIRequestHandler):
    def log(self, type, message, *args):  # noqa: A002 - werkzeug's signature
        pass


@dataclass
class WhopServer:
    """A WSGI app served on a free 127.0.0.1 port in a background thread."""

    app: Flask
    url: str
    _server: object = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


def _serve(app: Flask) -> WhopServer:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"serve-{app.name}", daemon=True)
    thread.start()
    return WhopServer(app=app, url=f"http://127.0.0.1:{server.port}", _server=server, _thread=thread)


@dataclass
class WhopSink:
    """Our app's stand-in: received webhooks and the status code it answers them with."""

    url: str
    webhooks: list[dict] = field(default_factory=list)
    webhook_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.webhooks.clear()
            self.webhook_status = 200


@pytest.fixture(scope="session")
def whop_sink():
    """Serve a fake Tradepost: POST /webhooks/whop, GET|POST /experiences/<id>, /dashboard/<id>."""
    app = Flask(__name__)
    sink = WhopSink(url="")

    @app.post("/webhooks/whop")
    def receive_webhook():
        with sink.lock:
            sink.webhooks.append({"body": request.get_data(), "headers": dict(request.headers)})
            status = sink.webhook_status
        return ("ok" if status < 300 else "boom"), status

    def echo(kind: str, target_id: str):
        token = request.headers.get("x-whop-user-token")
        lines = [
            f"<p>{kind} {target_id}</p>",
            f"<p id=present>token-present: {'yes' if token else 'no'}</p>",
            f"<p id=token>{token or ''}</p>",
            f"<p id=query>{request.query_string.decode()}</p>",
            f"<p id=method>{request.method} {request.get_data(as_text=True)}</p>",
        ]
        return Response("\n".join(lines), content_type="text/html; charset=utf-8")

    @app.route("/experiences/<experience_id>", methods=["GET", "POST"])
    def experience(experience_id):
        return echo("experience", experience_id)

    @app.route("/dashboard/<company_id>", methods=["GET", "POST"])
    def dashboard(company_id):
        return echo("dashboard", company_id)

    @app.get("/callback")
    def callback():
        return "callback"

    server = _serve(app)
    sink.url = server.url
    yield sink
    server.stop()


@pytest.fixture(scope="session")
def whop_sandbox_app(tmp_path_factory, whop_sink):
    """The minimal sandbox app: the Whop emulator at /whop, a temp SQLite file, webhooks to the sink."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SANDBOX_DATABASE=str(tmp_path_factory.mktemp("whop") / "sandbox.sqlite3"),
        APP_BASE_URL=whop_sink.url,
        **WHOP_TEST_CONFIG,
    )
    whop.init_app(app)
    app.cli.add_command(whop_cli)
    return app


@pytest.fixture(scope="session")
def whop_sandbox_server(whop_sandbox_app):
    """The sandbox app served over HTTP; SANDBOX_PUBLIC_URL set to where it listens."""
    server = _serve(whop_sandbox_app)
    whop_sandbox_app.config["SANDBOX_PUBLIC_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture(scope="session")
def whop_api_base(whop_sandbox_server):
    """The emulator's API base (what production calls https://api.whop.com)."""
    return whop_sandbox_server.url + "/whop"


@pytest.fixture(scope="session")
def whop_jwks_url(whop_api_base):
    return whop_api_base + "/.well-known/jwks.json"


@pytest.fixture
def whop_http():
    """A plain httpx client for driving pages (no redirects followed, no env proxies)."""
    with httpx.Client(timeout=5, trust_env=False, follow_redirects=False) as client:
        yield client


@pytest.fixture
def whop_config():
    return dict(WHOP_TEST_CONFIG)


@pytest.fixture
def whop_make_user(whop_http, whop_api_base):
    """Return ``make(name=...) -> user dict``, creating a sandbox user over the JSON API."""

    def make(name: str = "Ada Buyer") -> dict:
        username = "u" + secrets.token_hex(5)
        response = whop_http.post(
            whop_api_base + "/users",
            json={"username": username, "name": name, "email": f"{username}@example.test"},
        )
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def whop_user(whop_make_user):
    return whop_make_user()


@pytest.fixture
def whop_sink_clean(whop_sink):
    """The sink with no recorded webhooks and answering 200."""
    whop_sink.clear()
    yield whop_sink
    whop_sink.clear()


def whop_hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of the authorize page's form."""
    pattern = r'<input type="hidden" name="([^"]+)" value="([^"]*)">'
    return {name: unescape(value) for name, value in re.findall(pattern, html)}


@pytest.fixture
def whop_authorize(whop_http):
    """Return ``authorize(url, decision="allow", **choice) -> (location, params)``.

    GETs the authorization URL like a browser, then submits the consent form with
    the page's own hidden fields plus ``choice`` (``account=<user id>`` or
    ``account="new", username=..., name=..., email=...``).
    """

    def authorize(url: str, decision: str = "allow", **choice: str):
        page = whop_http.get(url)
        assert page.status_code == 200, page.text
        fields = whop_hidden_fields(page.text)
        assert fields, "authorize page has no hidden fields"
        action = urlsplit(url)._replace(query="").geturl()
        response = whop_http.post(action, data={**fields, **choice, "decision": decision})
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    return authorize


@pytest.fixture
def whop_oauth_client(whop_sink, whop_config):
    """Return ``make(**kwargs)`` building Authlib httpx OAuth2Clients (PKCE S256), closed afterwards."""
    with warnings.catch_warnings():
        # Authlib 1.9 prefers the "httpx2" package and warns once on import when it
        # falls back to httpx; the client itself works the same.
        warnings.filterwarnings("ignore", message="The httpx module is deprecated")
        from authlib.integrations.httpx_client import OAuth2Client

    clients = []

    def make(**kwargs) -> OAuth2Client:
        options = {
            "client_id": whop_config["WHOP_CLIENT_ID"],
            "client_secret": whop_config["WHOP_CLIENT_SECRET"],
            "scope": "openid profile email",
            "redirect_uri": whop_sink.url + "/callback",
            "code_challenge_method": "S256",
            "trust_env": False,
            "timeout": 5,
        }
        options.update(kwargs)
        client = OAuth2Client(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
