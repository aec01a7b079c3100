"""The sandbox: a separate small Flask app emulating the Stripe API subset Tradepost uses
(and, when present, Whop's OAuth/JWKS/webhooks), with hosted checkout and onboarding pages.

It runs as its own process (``flask sandbox run`` or ``python -m app.sandbox``); the web app
talks to it over HTTP through the same gateway code that talks to real Stripe. It signs with
the repository's public development secrets by default, so it refuses to start when
TRADEPOST_ENV=production.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from flask import Flask, Response, jsonify, redirect, request, url_for

from app import config as app_config
from app.config import ConfigError
from app.sandbox.faults import Faults
from app.sandbox.store import Store
from app.sandbox.stripe_webhooks import Deliverer


def defaults() -> dict[str, Any]:
    """The sandbox's settings when the environment leaves them unset: the app's development
    secrets, and URLs on the ports of `make run` (PORT, SANDBOX_PORT)."""
    return {
        "SANDBOX_DATABASE": os.path.join("instance", "sandbox.db"),
        "APP_BASE_URL": app_config.default_app_base_url(),
        "SANDBOX_PUBLIC_URL": app_config.default_sandbox_url(),
        "SANDBOX_DELIVER_WEBHOOKS": True,
        "STRIPE_WEBHOOK_SECRET": app_config.DEV_STRIPE_WEBHOOK_SECRET,
        "WHOP_WEBHOOK_SECRET": app_config.DEV_WHOP_WEBHOOK_SECRET,
        "WHOP_APP_ID": app_config.DEV_WHOP_APP_ID,
        "WHOP_CLIENT_ID": app_config.DEV_WHOP_CLIENT_ID,
        "WHOP_CLIENT_SECRET": app_config.DEV_WHOP_CLIENT_SECRET,
    }


def _from_env(name: str, default: Any) -> Any:
    raw = app_config.env_value(name)
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.strip().lower() not in ("0", "false", "no", "off")
    return raw


def refuse_production() -> None:
    """The sandbox is a development emulator signing with public secrets: never in production."""
    if (app_config.env_value("TRADEPOST_ENV") or "development") == "production":
        raise ConfigError("the sandbox refuses to start with TRADEPOST_ENV=production: it is a "
                          "development emulator signing with the repository's public secrets")


def sandbox_config(overrides: dict | None = None) -> dict[str, Any]:
    """Defaults, then environment variables, then explicit overrides."""
    config = {name: _from_env(name, default) for name, default in defaults().items()}
    config.update(overrides or {})
    config["APP_BASE_URL"] = str(config["APP_BASE_URL"]).rstrip("/")
    config["SANDBOX_PUBLIC_URL"] = str(config["SANDBOX_PUBLIC_URL"]).rstrip("/")
    return config


def create_sandbox_app(config: dict | None = None) -> Flask:
    """Build the sandbox app; starts its webhook delivery thread unless delivery is disabled.
    Refuses (ConfigError) when TRADEPOST_ENV=production."""
    refuse_production()
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
