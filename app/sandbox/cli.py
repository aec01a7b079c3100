"""``flask sandbox run`` and ``flask sandbox reset``: the sandbox process and its state.

Configuration comes from the environment (SANDBOX_PORT, SANDBOX_DATABASE, APP_BASE_URL,
SANDBOX_PUBLIC_URL, SANDBOX_DELIVER_WEBHOOKS, STRIPE_WEBHOOK_SECRET and the WHOP_* app
credentials); the `flask` command has read `.env` before. Refused in production.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from werkzeug.serving import run_simple

from app.config import DEFAULT_SANDBOX_PORT, ConfigError, env_port, env_value
from app.sandbox.store import Store
from app.sandbox.whop import whop_cli

sandbox_cli = AppGroup("sandbox", help="Run or reset the local Stripe/Whop emulators.")
sandbox_cli.add_command(whop_cli)


def serve(host: str, port: int) -> None:
    """Serve the sandbox with werkzeug's threaded server (no reloader: one delivery thread)."""
    from app.sandbox import create_sandbox_app

    overrides = {}
    if env_value("SANDBOX_PUBLIC_URL") is None:
        overrides["SANDBOX_PUBLIC_URL"] = f"http://{host}:{port}"
    app = create_sandbox_app(overrides)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@sandbox_cli.command("run", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=None, type=int, help="Default: SANDBOX_PORT, else 5055.")
def run_command(host: str, port: int | None) -> None:
    """Serve the sandbox emulators."""
    try:
        serve(host, port or env_port("SANDBOX_PORT", DEFAULT_SANDBOX_PORT))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@sandbox_cli.command("reset", with_appcontext=False)
def reset_command() -> None:
    """Delete every object, event and delivery in the sandbox database."""
    from app.sandbox import sandbox_config

    path = sandbox_config()["SANDBOX_DATABASE"]
    Store(path).reset()
    click.echo(f"Sandbox database {path} reset.")
