"""Fixtures for the Whop emulator and the Whop integration, all over real loopback HTTP.

``whop_sandbox`` serves a minimal Flask app with the Whop emulator (``app.sandbox.whop``) at
``/whop``; ``whop_sink`` plays our app: an ``HttpSink`` (tests/http_sink.py) that records
webhooks and serves ``/experiences/<id>`` and ``/dashboard/<id>`` pages that echo the
``x-whop-user-token`` they received.
"""

from __future__ import annotations

import re
import secrets
import warnings
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import Flask, Response, request

from app.sandbox import whop
from app.sandbox.cli import whop_cli
from tests.http_sink import HttpSink, serve_wsgi

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


@pytest.fixture(scope="session")
def whop_sink():
    """A fake Tradepost: an `HttpSink` recording every request, whose unscripted answers come
    from pages that echo what they received — POST /webhooks/whop ("ok"), GET|POST
    /experiences/<id> and /dashboard/<id> (the ``x-whop-user-token`` header, query and body),
    GET /callback."""
    pages = Flask(__name__)

    @pages.post("/webhooks/whop")
    def receive_webhook():
        return "ok"

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

    @pages.route("/experiences/<experience_id>", methods=["GET", "POST"])
    def experience(experience_id):
        return echo("experience", experience_id)

    @pages.route("/dashboard/<company_id>", methods=["GET", "POST"])
    def dashboard(company_id):
        return echo("dashboard", company_id)

    @pages.get("/callback")
    def callback():
        return "callback"

    sink = HttpSink(app=pages)
    with serve_wsgi(sink) as url:
        sink.url = url
        yield sink


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
    """The sandbox app served over HTTP (its base URL); SANDBOX_PUBLIC_URL set to where it listens."""
    with serve_wsgi(whop_sandbox_app) as url:
        whop_sandbox_app.config["SANDBOX_PUBLIC_URL"] = url
        yield url


@pytest.fixture(scope="session")
def whop_api_base(whop_sandbox_server):
    """The emulator's API base (what production calls https://api.whop.com)."""
    return whop_sandbox_server + "/whop"


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
    """The sink with nothing recorded or scripted."""
    whop_sink.reset()
    yield whop_sink
    whop_sink.reset()


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
