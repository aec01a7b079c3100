"""Flask CLI commands: `flask users make-admin`, `flask seed-demo`, `flask settings`,
`flask crypto rotate`, `flask routes-table`, `flask api-keys create|list|revoke`."""

import re

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.extensions import db
from app.services.accounts import AccountError, grant_admin

users_cli = AppGroup("users", help="Manage user accounts.")
crypto_cli = AppGroup("crypto", help="Manage the encryption of stored secrets.")


@users_cli.command("make-admin")
@click.argument("email")
def make_admin(email):
    """Give the user with EMAIL admin rights."""
    try:
        user = grant_admin(email)
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"{user.email} is now an admin.")


@click.command("seed-demo")
@with_appcontext
def seed_demo():
    """Load idempotent demo data and print the demo sign-ins (ROLE EMAIL PASSWORD), license
    keys (license KEY EMAIL) and products (product URL), one a line."""
    from app.seed import seed_demo_data

    for line in seed_demo_data():
        click.echo(" ".join(line))


@click.command("settings")
@with_appcontext
def show_settings():
    """Print every setting as this process resolved it (environment, then .env, then the
    default): NAME=value, one a line, secrets shown only as set or unset."""
    from app.config import settings_of

    config = current_app.extensions["settings"]
    for attribute, setting in settings_of(type(config)):
        value = current_app.config.get(attribute)
        if setting.secret:
            shown = "(set)" if value else "(unset)"
        elif isinstance(value, str):
            shown = re.sub(r"(://[^:/@]*:)[^@/]+@", r"\1***@", value)
        else:
            shown = "" if value is None else value
        click.echo(f"{setting.env}={shown}")


@crypto_cli.command("rotate")
def rotate_secrets():
    """Re-encrypt every stored secret with the newest key in ENCRYPTION_KEYS. Safe to repeat;
    once it reports nothing unreadable, older keys can be removed."""
    from app.crypto import rotate_stored_secrets

    rotated, unreadable = rotate_stored_secrets()
    db.session.commit()
    for column, count in rotated.items():
        click.echo(f"{column}: {count} re-encrypted")
    if unreadable:
        raise click.ClickException(
            f"{len(unreadable)} stored secrets open with no key in ENCRYPTION_KEYS "
            f"(left as they are): {', '.join(unreadable)}"
        )
    click.echo("Every stored secret is encrypted with the newest key.")


@click.command("routes-table")
@click.option(
    "--write",
    "readme",
    type=click.Path(exists=True, dir_okay=False),
    help='Replace the table under "## What is where" in this file (README.md) instead of printing.',
)
@with_appcontext
def routes_table_command(readme):
    """Print the "What is where" table: each blueprint module, its URLs, what it is, what it calls."""
    from app.routes_table import replace_table, routes_table

    table = routes_table(current_app)
    if readme is None:
        click.echo(table, nl=False)
        return
    with open(readme, encoding="utf-8") as file:
        text = file.read()
    with open(readme, "w", encoding="utf-8") as file:
        file.write(replace_table(text, table))
    click.echo(f"{readme}: the table is up to date.")


def register_cli(app):
    from app.sandbox.cli import sandbox_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(crypto_cli)
    app.cli.add_command(api_keys_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(show_settings)
    app.cli.add_command(routes_table_command)
    app.cli.add_command(sandbox_cli)


api_keys_cli = AppGroup("api-keys", help="Manage the API keys of the public REST API.")


def _company_by_slug(slug):
    from sqlalchemy import select

    from app.models import Company

    company = db.session.scalar(select(Company).where(Company.slug == slug))
    if company is None:
        raise click.ClickException(f"No company with slug {slug!r}.")
    return company


@api_keys_cli.command("create")
@click.option("--company", "slug", required=True, help="The company's slug.")
@click.option("--scope", "scopes", multiple=True, required=True, help="A scope (repeat for more), e.g. products:read.")
@click.option("--name", default="CLI key", show_default=True)
@click.option("--expires-days", type=int, default=None, help="Days until the key expires (default: never).")
@click.option("--mode", type=click.Choice(["live", "test"]), default="live", show_default=True)
def create_api_key(slug, scopes, name, expires_days, mode):
    """Create an API key for the company with SLUG and print it (shown only this once)."""
    from app.errors import ServiceError
    from app.services import api_keys

    company = _company_by_slug(slug)
    try:
        key, plaintext = api_keys.create_key(
            company, name=name, scopes=scopes, expires_at=api_keys.expiry_in_days(expires_days), mode=mode
        )
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Created key {key.id} ({key.name}) for {company.slug}; store it now, it is not shown again:")
    click.echo(plaintext)


@api_keys_cli.command("list")
@click.option("--company", "slug", required=True, help="The company's slug.")
def list_api_keys(slug):
    """List the keys of the company with SLUG: ID NAME KEY STATUS SCOPES (never the secrets)."""
    from app.services import api_keys

    for key in api_keys.list_keys(_company_by_slug(slug)):
        click.echo(f"{key.id}\t{key.name}\t{key.display}\t{key.display_status()}\t{','.join(key.scope_list)}")


@api_keys_cli.command("revoke")
@click.argument("key_id", type=int)
def revoke_api_key(key_id):
    """Revoke the API key with KEY_ID."""
    from app.errors import ServiceError
    from app.models.api_key import ApiKey
    from app.services import api_keys

    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise click.ClickException(f"No API key {key_id}.")
    try:
        api_keys.revoke_key(key)
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Revoked key {key_id} ({key.name}).")
