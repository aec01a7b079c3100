"""``flask sandbox run|reset`` and ``flask sandbox whop ...``: the sandbox process and its state.

Configuration comes from the environment (SANDBOX_PORT, SANDBOX_DATABASE, APP_BASE_URL,
SANDBOX_PUBLIC_URL, SANDBOX_DELIVER_WEBHOOKS, STRIPE_WEBHOOK_SECRET, the WHOP_* app
credentials, and the mail catcher's SANDBOX_SMTP_PORT, SANDBOX_MAIL_KEEP and
SANDBOX_MAIL_MAX_BYTES); the `flask` command has read `.env` before. Refused in production.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from flask.cli import AppGroup, ScriptInfo
from werkzeug.serving import run_simple

from app.config import DEFAULT_SANDBOX_PORT, ConfigError, env_port, env_value
from app.sandbox import create_sandbox_app, mail, sandbox_config
from app.sandbox.stripe.store import Store
from app.sandbox.whop import cli as whop_commands


class _SandboxAppGroup(click.Group):
    """Runs its commands inside a sandbox app (its database): the CLI's own app when that is
    a sandbox app, else one built from the environment (`flask sandbox whop ...`)."""

    def invoke(self, ctx: click.Context) -> Any:
        app = ctx.ensure_object(ScriptInfo).load_app()
        if "SANDBOX_DATABASE" not in app.config:
            app = create_sandbox_app({"SANDBOX_DELIVER_WEBHOOKS": False})
        with app.app_context():
            return super().invoke(ctx)


whop_cli = _SandboxAppGroup("whop", help="Whop sandbox: users, user tokens, webhooks.", commands=whop_commands.COMMANDS)
sandbox_cli = AppGroup("sandbox", help="Run or reset the local Stripe/Whop emulators.")
sandbox_cli.add_command(whop_cli)


def serve(host: str, port: int) -> None:
    """Serve the sandbox with werkzeug's threaded server (no reloader: one delivery thread),
    and the mail catcher's SMTP server on SANDBOX_SMTP_PORT (ConfigError if it is taken)."""
    overrides: dict[str, str] = {}
    if env_value("SANDBOX_PUBLIC_URL") is None:
        overrides["SANDBOX_PUBLIC_URL"] = f"http://{host}:{port}"
    app = create_sandbox_app(overrides)
    _log_to_stderr()
    mail.start_smtp(app)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


def _log_to_stderr() -> None:
    """The sandbox's own log lines (each caught message, delivery failures) on stderr, as
    werkzeug's request lines are: what `make run` shows for the sandbox process."""
    logger = logging.getLogger("app.sandbox")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # under `flask sandbox run` the app's own "app" handler would repeat it


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
    path = sandbox_config()["SANDBOX_DATABASE"]
    Store(path).reset()
    click.echo(f"Sandbox database {path} reset.")
