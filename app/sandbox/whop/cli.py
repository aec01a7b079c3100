"""The commands of ``flask sandbox whop``: create users, mint user tokens, send webhooks.

``app/sandbox/cli.py`` groups them and runs them inside a sandbox app, so they read and write
the sandbox database the running emulator uses (SANDBOX_DATABASE).
"""

from __future__ import annotations

import json

import click

from app.sandbox.whop.store import create_user
from app.sandbox.whop.tokens import mint_user_token
from app.sandbox.whop.webhooks import WEBHOOK_TYPES, send_webhook


@click.command("mint-token")
@click.argument("user_id")
@click.option("--app-id", default=None, help="Audience (defaults to WHOP_APP_ID).")
@click.option("--ttl", default=300, show_default=True, type=int, help="Lifetime in seconds.")
def mint_token_command(user_id: str, app_id: str | None, ttl: int) -> None:
    """Print an x-whop-user-token for USER_ID."""
    try:
        click.echo(mint_user_token(user_id, app_id, ttl))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="USER_ID") from exc


@click.command("create-user")
@click.argument("username")
@click.option("--name", default=None, help="Display name (defaults to the username).")
@click.option("--email", default=None, help="Email (defaults to USERNAME@example.test).")
def create_user_command(username: str, name: str | None, email: str | None) -> None:
    """Create a sandbox Whop user and print its id."""
    user, errors = create_user(username, name or username, email or f"{username}@example.test")
    if errors:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in errors.items()))
    click.echo(user["id"])


@click.command("send-webhook")
@click.argument("event_type", type=click.Choice(WEBHOOK_TYPES))
@click.option("--data", default="{}", help="JSON object merged into the sample data.")
def send_webhook_command(event_type: str, data: str) -> None:
    """Deliver a signed Whop webhook to APP_BASE_URL/webhooks/whop."""
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from exc
    if not isinstance(payload, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--data")
    delivery = send_webhook(event_type, payload)
    outcome = f"{delivery['id']} {delivery['status']} {delivery['status_code'] or ''} {delivery['error'] or ''}"
    click.echo(outcome.rstrip())


COMMANDS = (mint_token_command, create_user_command, send_webhook_command)
