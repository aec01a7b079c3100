"""The sandbox: a separate small Flask app emulating the Stripe API subset Tradepost uses and
Whop's OAuth/JWKS/user tokens/webhooks, with hosted checkout and onboarding pages.

It runs as its own process (``flask sandbox run`` or ``python -m app.sandbox``); the web app
talks to it over HTTP through the same gateway code that talks to real Stripe. It signs with
the repository's public development secrets by default, so it refuses to start when
TRADEPOST_ENV=production.

This module holds the settings and the app factory. Around it:

* ``stripe/`` — the Stripe emulator (``/v1``, hosted pages, ``/_sandbox`` controls, webhooks)
* ``whop/``   — the Whop emulator (everything under ``/whop``)
* ``mail/``   — the mail catcher: SMTP on SANDBOX_SMTP_PORT, messages at ``/_sandbox/mail``
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
from app.sandbox import mail, stripe, whop

# Whole-number settings and the values they may take.
LIMITS = {
    "SANDBOX_SMTP_PORT": (0, 65535),  # 0: no mail catcher
    "SANDBOX_MAIL_KEEP": (1, 100_000),
    "SANDBOX_MAIL_MAX_BYTES": (1024, 1024**3),
}


def defaults() -> dict[str, Any]:
    """The sandbox's settings when the environment leaves them unset: the app's development
    secrets, URLs on the ports of `make run` (PORT, SANDBOX_PORT), and the mail catcher's
    port, how many messages it keeps and how large one may be."""
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
        "SANDBOX_SMTP_PORT": app_config.DEFAULT_SANDBOX_SMTP_PORT,
        "SANDBOX_MAIL_KEEP": 1000,
        "SANDBOX_MAIL_MAX_BYTES": 10 * 1024 * 1024,
    }


def _from_env(name: str, default: Any) -> Any:
    raw = app_config.env_value(name)
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.strip().lower() not in ("0", "false", "no", "off")
    if isinstance(default, int):
        low, high = LIMITS[name]
        value = int(raw) if raw.strip().isascii() and raw.strip().isdigit() else None
        if value is None or not low <= value <= high:
            raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
        return value
    return raw


def refuse_production() -> None:
    """The sandbox is a development emulator signing with public secrets: never in production."""
    if (app_config.env_value("TRADEPOST_ENV") or "development") == "production":
        raise ConfigError(
            "the sandbox refuses to start with TRADEPOST_ENV=production: it is a "
            "development emulator signing with the repository's public secrets"
        )


def sandbox_config(overrides: dict | None = None) -> dict[str, Any]:
    """Defaults, then environment variables, then explicit overrides."""
    config = {name: _from_env(name, default) for name, default in defaults().items()}
    config.update(overrides or {})
    config["APP_BASE_URL"] = str(config["APP_BASE_URL"]).rstrip("/")
    config["SANDBOX_PUBLIC_URL"] = str(config["SANDBOX_PUBLIC_URL"]).rstrip("/")
    return config


def create_sandbox_app(config: dict | None = None) -> Flask:
    """Build the sandbox app: both emulators, the mail pages, and the Stripe webhook delivery
    thread unless delivery is disabled (the SMTP server is started by ``cli.serve``).
    Refuses (ConfigError) when TRADEPOST_ENV=production or a setting is out of range."""
    refuse_production()
    app = Flask(__name__, template_folder=None)
    app.config.update(sandbox_config(config))
    stripe.init_app(app)
    whop.init_app(app)
    mail.init_app(app)

    @app.get("/")
    def home() -> Response:
        return redirect(url_for("stripe_control.index"))

    return app
