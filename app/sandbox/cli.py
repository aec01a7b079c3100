"""``flask sandbox run`` and ``flask sandbox reset``: the sandbox process and its state.

Configuration comes from the environment (SANDBOX_DATABASE, APP_BASE_URL,
STRIPE_WEBHOOK_SECRET, SANDBOX_PUBLIC_URL, SANDBOX_DELIVER_WEBHOOKS).
"""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup
from werkzeug.serving import run_simple

from app.sandbox.store import Store
from app.sandbox.whop import whop_cli

sandbox_cli = AppGroup("sandbox", help="Run or reset the local Stripe/Whop emulators.")
sandbox_cli.add_command(whop_cli)


def serve(host: str, port: int) -> None:
    """Serve the sandbox with werkzeug's threaded server (no reloader: one delivery thread)."""
    from app.sandbox import create_sandbox_app

    overrides = {}
    if "SANDBOX_PUBLIC_URL" not in os.environ:
        overrides["SANDBOX_PUBLIC_URL"] = f"http://{host}:{port}"
    app = create_sandbox_app(overrides)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@sandbox_cli.command("run", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5055, show_default=True, type=int)
def run_command(host: str, port: int) -> None:
    """Serve the sandbox emulators."""
    serve(host, port)


@sandbox_cli.command("reset", with_appcontext=False)
def reset_command() -> None:
    """Delete every object, event and delivery in the sandbox database."""
    from app.sandbox import sandbox_config

    path = sandbox_config()["SANDBOX_DATABASE"]
    Store(path).reset()
    click.echo(f"Sandbox database {path} reset.")
