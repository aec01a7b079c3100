"""The sandbox: a separate small Flask app emulating the Stripe API subset Tradepost uses and
Whop's OAuth/JWKS/user tokens/webhooks, with hosted checkout and onboarding pages.

It runs as its own process (``flask sandbox run`` or ``python -m app.sandbox``); the web app
talks to it over HTTP through the same gateway code that talks to real Stripe. It signs with
the repository's public development secrets by default, so it refuses to start when
TRADEPOST_ENV=production.

This module holds the settings and the app factory. Around it:

* ``stripe/`` — the Stripe emulator (``/v1``, hosted pages, ``/_sandbox`` controls, webhooks)
* ``whop/``   — the Whop emulator (everything under ``/whop``)
* ``sqlite.py`` — the write transaction both emulators use on the sandbox database
* ``cli.py``  — ``flask sandbox run|reset`` and the ``flask sandbox whop ...`` group
* ``__main__.py`` — ``python -m app.sandbox``
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, redirect, url_for
from werkzeug.wrappers import Response

from app import config as app_config
from app.config import ConfigError
from app.sandbox import stripe, whop


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
    """Build the sandbox app: both emulators, and the Stripe webhook delivery thread unless
    delivery is disabled. Refuses (ConfigError) when TRADEPOST_ENV=production."""
    refuse_production()
    app = Flask(__name__, template_folder=None)
    app.config.update(sandbox_config(config))
    stripe.init_app(app)
    whop.init_app(app)

    @app.get("/")
    def home() -> Response:
        return redirect(url_for("stripe_control.index"))

    return app
