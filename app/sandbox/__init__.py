"""The sandbox: a separate small Flask app emulating the Stripe API subset Tradepost uses
(and, when present, Whop's OAuth/JWKS/webhooks), with hosted checkout and onboarding pages.

It runs as its own process (``flask sandbox run`` or ``python -m app.sandbox``); the web app
talks to it over HTTP through the same gateway code that talks to real Stripe.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from flask import Flask, Response, jsonify, redirect, request, url_for

from app.sandbox.faults import Faults
from app.sandbox.store import Store
from app.sandbox.stripe_webhooks import Deliverer

DEFAULTS: dict[str, Any] = {
    "SANDBOX_DATABASE": os.path.join("instance", "sandbox.db"),
    "APP_BASE_URL": "http://127.0.0.1:5000",
    "STRIPE_WEBHOOK_SECRET": "whsec_tradepost_dev_stripe_secret",
    "SANDBOX_PUBLIC_URL": "http://127.0.0.1:5055",
    "SANDBOX_DELIVER_WEBHOOKS": True,
}


def _from_env(name: str, default: Any) -> Any:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.strip().lower() not in ("0", "false", "no", "off", "")
    return raw


def sandbox_config(overrides: dict | None = None) -> dict[str, Any]:
    """Defaults, then environment variables, then explicit overrides."""
    config = {name: _from_env(name, default) for name, default in DEFAULTS.items()}
    config.update(overrides or {})
    config["APP_BASE_URL"] = str(config["APP_BASE_URL"]).rstrip("/")
    config["SANDBOX_PUBLIC_URL"] = str(config["SANDBOX_PUBLIC_URL"]).rstrip("/")
    return config


def create_sandbox_app(config: dict | None = None) -> Flask:
    """Build the sandbox app; starts its webhook delivery thread unless delivery is disabled."""
    app = Flask(__name__, template_folder="templates")
    app.config.update(sandbox_config(config))

    store = Store(app.config["SANDBOX_DATABASE"])
    deliverer = Deliverer(store, app.config["APP_BASE_URL"] + "/webhooks/stripe",
                          app.config["STRIPE_WEBHOOK_SECRET"], bool(app.config["SANDBOX_DELIVER_WEBHOOKS"]))
    app.extensions["sandbox_store"] = store
    app.extensions["sandbox_deliverer"] = deliverer
    app.extensions["sandbox_faults"] = Faults()

    from app.sandbox import stripe_api, stripe_control, stripe_pages

    app.register_blueprint(stripe_api.bp)
    app.register_blueprint(stripe_pages.bp)
    app.register_blueprint(stripe_control.bp)
    if importlib.util.find_spec("app.sandbox.whop") is not None:
        from app.sandbox.whop import bp as whop_bp

        app.register_blueprint(whop_bp, url_prefix="/whop")

    @app.get("/")
    def home() -> Response:
        return redirect(url_for("stripe_control.index"))

    @app.errorhandler(404)
    @app.errorhandler(405)
    def api_not_found(error: Any) -> Any:
        if request.path.startswith("/v1/"):
            body = {"error": {"type": "invalid_request_error",
                              "message": f"Unrecognized request URL ({request.method}: {request.path}).",
                              "code": None, "param": None}}
            return jsonify({"error": {k: v for k, v in body["error"].items() if v is not None}}), 404
        return error

    @app.teardown_appcontext
    def release_connection(exc: BaseException | None) -> None:
        # The threaded server runs each request on a fresh thread: close its connection.
        store.close_thread_connection()

    deliverer.start()
    return app
