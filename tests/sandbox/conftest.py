"""Fixtures for the sandbox suite: the sandbox as a real subprocess (its mail catcher on
``sandbox_smtp_port``), a webhook sink it delivers to, and a StripeGateway talking to it over
HTTP with the official library.

All fixtures are prefixed ``sandbox_`` so they never clash with the app's fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from app.payments import LineItem, StripeGateway
from tests.http_sink import HttpSink, Received, serve_wsgi
from tests.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_sandbox_tests_secret"
API_KEY = "sk_test_tradepost_sandbox_tests"
FAIL_MARKER = "fail-first-delivery"
STARTUP_TIMEOUT = 20.0
WAIT_TIMEOUT = 30.0  # an upper bound: a loaded CI machine delivers slowly, a passing test never waits it out


class StripeWebhookSink(HttpSink):
    """The loopback receiver the sandbox delivers webhooks to, standing in for the app's
    /webhooks/stripe: it answers 200, except the first delivery of an event whose payload
    contains ``fail_marker`` (put it in an account's company id), which gets a 500 so the
    sandbox's retry can be watched."""

    fail_marker = FAIL_MARKER

    def __init__(self) -> None:
        super().__init__()
        self._failed: set[str] = set()
        self.respond_with(500, "failed on purpose", when=self._first_delivery_of_a_marked_event, times=None)

    def _first_delivery_of_a_marked_event(self, received: Received) -> bool:
        if self.fail_marker.encode() not in received.body or received.json["id"] in self._failed:
            return False
        self._failed.add(received.json["id"])
        return True

    def wait_for_event(self, event_type: str, object_id: str, timeout: float = WAIT_TIMEOUT) -> Received:
        """The first successfully answered delivery of ``event_type`` about ``object_id``."""
        return self.wait_for(
            lambda r: (
                r.status == 200 and r.json["type"] == event_type and r.json["data"]["object"].get("id") == object_id
            ),
            timeout=timeout,
        )[0]


@pytest.fixture(scope="session")
def sandbox_sink() -> Iterator[StripeWebhookSink]:
    """A loopback HTTP server standing in for the app's /webhooks/stripe."""
    sink = StripeWebhookSink()
    with serve_wsgi(sink) as url:
        sink.url = url
        yield sink


@contextmanager
def running_sandbox(workdir: Path, **settings: str) -> Iterator[str]:
    """``python -m app.sandbox`` on a free port with its state in ``workdir`` and the given
    environment ``settings`` (SANDBOX_SMTP_PORT, ...); yields its base URL, stops it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SANDBOX_DATABASE": str(workdir / "sandbox.db"),
        "SANDBOX_PUBLIC_URL": url,
        "SANDBOX_SMTP_PORT": "0",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        **settings,
    }
    log_path = workdir / "sandbox.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.sandbox", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_ready(process, url, log_path)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture(scope="session")
def sandbox_of_its_own() -> Callable[..., Any]:
    """``with sandbox_of_its_own(tmp_path, SANDBOX_MAIL_KEEP="3") as url:`` — a sandbox process
    of the test's own, with these settings (its mail catcher off unless SANDBOX_SMTP_PORT)."""
    return running_sandbox


@pytest.fixture(scope="session")
def sandbox_smtp_port() -> int:
    """The port of the session sandbox's mail catcher (SMTP on 127.0.0.1)."""
    return free_port()


@pytest.fixture(scope="session")
def sandbox_url(
    sandbox_sink: StripeWebhookSink, sandbox_smtp_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of a sandbox started as ``python -m app.sandbox`` on a free port, its mail
    catcher on ``sandbox_smtp_port``."""
    with running_sandbox(
        tmp_path_factory.mktemp("sandbox"),
        APP_BASE_URL=sandbox_sink.url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SANDBOX_DELIVER_WEBHOOKS="true",
        SANDBOX_SMTP_PORT=str(sandbox_smtp_port),
    ) as url:
        yield url


def _wait_until_ready(process: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"sandbox exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if client.get(url + "/_sandbox/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    pytest.fail(f"sandbox did not answer within {STARTUP_TIMEOUT}s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def sandbox_gateway(sandbox_url: str) -> Iterator[StripeGateway]:
    """The production gateway class, pointed at the sandbox."""
    gateway = StripeGateway(API_KEY, sandbox_url, WEBHOOK_SECRET)
    yield gateway
    gateway.close()


@pytest.fixture(scope="session")
def sandbox_http() -> Iterator[httpx.Client]:
    """A browser stand-in: real form posts, redirects not followed."""
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="session")
def sandbox_id() -> Callable[[str], str]:
    """Unique local ids and idempotency keys, never repeated across tests sharing one sandbox."""
    return lambda prefix="id": f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def sandbox_control(sandbox_url: str, sandbox_http: httpx.Client) -> Callable[..., httpx.Response]:
    """POST to a sandbox control endpoint with a JSON body."""

    def post(path: str, **body: Any) -> httpx.Response:
        return sandbox_http.post(sandbox_url + path, json=body)

    return post


@pytest.fixture(scope="session")
def sandbox_verified_account(
    sandbox_gateway: StripeGateway, sandbox_control: Callable, sandbox_id: Callable
) -> Callable[..., stripe.Account]:
    """Factory: a connected account that has passed onboarding."""

    def make(company_id: str | None = None) -> stripe.Account:
        account = sandbox_gateway.create_connected_account(
            company_id or sandbox_id("company"), "seller@example.com", idempotency_key=sandbox_id("key")
        )
        response = sandbox_control(f"/_sandbox/accounts/{account.id}/verify", outcome="verified")
        assert response.status_code == 200, response.text
        return sandbox_gateway.retrieve_account(account.id)

    return make


@pytest.fixture(scope="session")
def sandbox_pay(sandbox_http: httpx.Client) -> Callable[..., httpx.Response]:
    """Submit the hosted checkout form of a session like a browser would."""

    def pay(
        session: stripe.checkout.Session, card_number: str = "4242 4242 4242 4242", email: str = "buyer@example.com"
    ) -> httpx.Response:
        page = sandbox_http.get(session.url)
        assert page.status_code == 200
        return sandbox_http.post(
            session.url + "/pay",
            data={
                "email": email,
                "name": "Bea Buyer",
                "card_number": card_number,
                "exp": "12 / 34",
                "cvc": "123",
            },
        )

    return pay


@pytest.fixture(scope="session")
def sandbox_paid_gig(
    sandbox_gateway: StripeGateway, sandbox_pay: Callable, sandbox_id: Callable
) -> Callable[..., stripe.checkout.Session]:
    """Factory: a gig checkout paid through the hosted page; returns the completed session."""

    def make(unit_amount: int = 5000, quantity: int = 2) -> stripe.checkout.Session:
        checkout_id = sandbox_id("checkout")
        session = sandbox_gateway.create_gig_checkout(
            local_checkout_id=checkout_id,
            idempotency_key=sandbox_id("key"),
            line_items=[LineItem("Logo design", unit_amount, quantity)],
            currency="usd",
            success_url="http://app.test/return?session_id={CHECKOUT_SESSION_ID}",
            cancel_url="http://app.test/cancel",
            customer_email="buyer@example.com",
        )
        response = sandbox_pay(session)
        assert response.status_code == 303, response.text
        return sandbox_gateway.retrieve_checkout_session(session.id)

    return make


@pytest.fixture(scope="session")
def sandbox_fixture_keys() -> dict[str, list[str]]:
    """Top-level keys of each Stripe object type, from Stripe's API fixtures."""
    with open(Path(__file__).with_name("stripe_fixture_keys.json")) as f:
        return json.load(f)["resources"]
