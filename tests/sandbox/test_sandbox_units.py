"""Pieces that need no running sandbox: the form decoder, signing, gateway helpers."""

import time

import pytest
import stripe
from flask import Flask

from app.payments import StripeGateway, bps_to_percent, get_gateway
from app.sandbox.stripe.api import decode_form
from app.sandbox.stripe.ops import StripeError, add_interval, percent_of
from app.sandbox.stripe.webhooks import sign


def test_decode_form_builds_nested_objects_and_lists():
    pairs = [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][product_data][name]", "Logo"),
        ("line_items[0][quantity]", "1"),
        ("line_items[1][quantity]", "2"),
        ("metadata[order_id]", "7"),
        ("expand[0]", "payment_intent"),
        ("payment_method_types[]", "card"),
    ]

    params = decode_form(pairs)

    assert params == {
        "mode": "payment",
        "line_items": [
            {"price_data": {"currency": "usd", "product_data": {"name": "Logo"}}, "quantity": "1"},
            {"quantity": "2"},
        ],
        "metadata": {"order_id": "7"},
        "expand": ["payment_intent"],
        "payment_method_types": ["card"],
    }


def test_decode_form_orders_list_indexes_numerically():
    pairs = [(f"items[{i}]", str(i)) for i in (10, 2, 0, 1)]

    assert decode_form(pairs) == {"items": ["0", "1", "2", "10"]}


def test_decode_form_rejects_conflicting_names():
    with pytest.raises(StripeError):
        decode_form([("a", "1"), ("a[b]", "2")])


def test_signature_verifies_with_the_stripe_library():
    payload = b'{"id": "evt_1", "object": "event", "type": "ping", "data": {"object": {}}}'

    header = sign(payload, "whsec_abc", int(time.time()))

    assert stripe.WebhookSignature.verify_header(payload.decode(), header, "whsec_abc")


def test_bps_to_percent_is_exact():
    assert bps_to_percent(1050) == "10.5"
    assert bps_to_percent(1000) == "10"
    assert bps_to_percent(1) == "0.01"
    with pytest.raises(TypeError):
        bps_to_percent(10.5)


def test_fee_percent_rounds_half_up():
    assert percent_of(1500, 10.5) == 158
    assert percent_of(999, "5") == 50


def test_monthly_interval_clamps_to_month_end():
    jan_31 = 1769817600  # 2026-01-31T00:00:00Z

    assert add_interval(jan_31, "month") == 1772236800  # 2026-02-28
    assert add_interval(jan_31, "year") == jan_31 + 365 * 86400


def test_get_gateway_is_built_once_per_app():
    app = Flask(__name__)
    app.config.update(
        STRIPE_SECRET_KEY="sk_test_x", STRIPE_API_BASE="http://127.0.0.1:9", STRIPE_WEBHOOK_SECRET="whsec_x"
    )

    with app.app_context():
        first = get_gateway()
        second = get_gateway()

    assert first is second is app.extensions["stripe_gateway"]
    assert isinstance(first, StripeGateway)
    assert first.api_base == "http://127.0.0.1:9"


def test_gateway_requires_keys_for_money_movement():
    gateway = StripeGateway("sk_test_x", "http://127.0.0.1:9")

    with pytest.raises(ValueError):
        gateway.create_transfer(
            amount=100, currency="usd", destination="acct_1", transfer_group="g", idempotency_key=""
        )
    with pytest.raises(ValueError):
        gateway.create_refund(idempotency_key="refund:1")
    with pytest.raises(stripe.SignatureVerificationError):
        gateway.construct_event(b"{}", "t=1,v1=abc")


def test_reset_command_empties_the_sandbox_database(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from app.sandbox import create_sandbox_app
    from app.sandbox.cli import sandbox_cli

    database = tmp_path / "sandbox.db"
    app = create_sandbox_app({"SANDBOX_DATABASE": str(database), "SANDBOX_DELIVER_WEBHOOKS": False})
    client = app.test_client()
    auth = {"Authorization": "Bearer sk_test_cli"}
    created = client.post("/v1/accounts", data={"type": "express"}, headers=auth)
    assert created.status_code == 200
    monkeypatch.setenv("SANDBOX_DATABASE", str(database))

    result = CliRunner().invoke(sandbox_cli, ["reset"])

    assert result.exit_code == 0, result.output
    listed = client.get("/v1/accounts", headers=auth).get_json()
    assert listed["data"] == []
    app.extensions["sandbox_store"].close_thread_connection()
