"""Configuration: production refuses public secrets, `.env` is read first by every entry
point, settings are read when a config is built, logging, proxies, HSTS, the ports of
`make run`, and the README's table of settings."""

import base64
import json
import os
import re
import secrets
import signal
import smtplib
import subprocess
import sys
from email.utils import parseaddr
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from app import config as app_config
from app import create_app, sandbox
from app.config import (
    PRODUCTION_REQUIRED,
    PRODUCTION_SECRETS,
    Config,
    ConfigError,
    DevelopmentConfig,
    ProductionConfig,
    settings_of,
)
from app.config import TestConfig as _TestConfig  # not a test class
from app.extensions import db as _db
from app.logs import configure_logging
from app.models import AuditEvent, InboundEvent, Order
from tests import loopback
from tests.database import make_test_config
from tests.factories import PASSWORD
from tests.forms import post_form
from tests.mailbox import mail_json
from tests.processes import free_port
from tests.waiting import wait_until
from tests.webhook_signing import stripe_event, stripe_signed

ROOT = Path(__file__).resolve().parents[1]

# -- where the code reads settings ---------------------------------------------------------------

ENV_READ = re.compile(r"""(?:environ\.get\(|environ\[|getenv\(|env_[a-z]+\(|_from_env\()\s*["']([A-Z][A-Z0-9_]+)["']""")
IN_ENVIRON = re.compile(r"""["']([A-Z][A-Z0-9_]+)["']\s+(?:not\s+)?in\s+os\.environ""")
SHELL_VAR = re.compile(r"\$\{?([A-Z][A-Z0-9_]+)")


def settings_read_in_code():
    """Every environment variable the app, worker, sandbox, Procfiles and benchmarks read:
    literal reads found in the source, plus the Setting declarations and sandbox defaults."""
    names = {}
    sources = [*ROOT.glob("app/**/*.py"), *ROOT.glob("bench/**/*.py"), ROOT / "wsgi.py", ROOT / "tests" / "conftest.py"]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for name in ENV_READ.findall(text) + IN_ENVIRON.findall(text):
            names.setdefault(name, str(path.relative_to(ROOT)))
    for procfile in ("Procfile", "Procfile.dev"):
        for name in SHELL_VAR.findall((ROOT / procfile).read_text(encoding="utf-8")):
            names.setdefault(name, procfile)
    for config_class in (Config, DevelopmentConfig, _TestConfig, ProductionConfig):
        for attribute, setting in settings_of(config_class):
            names.setdefault(setting.env, f"app/config.py {config_class.__name__}.{attribute}")
    for name in sandbox.defaults():
        names.setdefault(name, "app/sandbox/__init__.py defaults()")
    return names


def readme_settings():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("|"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def env_example_settings():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_readme_table_lists_every_setting_read_in_code():
    read = settings_read_in_code()
    table = readme_settings()
    missing = {name: where for name, where in read.items() if name not in table}
    assert not missing, f"settings read in code but missing from README's configuration table: {missing}"
    # and the scan sees the reads it must see (a scan that finds nothing would pass too)
    assert {
        "SANDBOX_DATABASE",
        "SANDBOX_PUBLIC_URL",
        "SANDBOX_DELIVER_WEBHOOKS",
        "PORT",
        "SANDBOX_PORT",
        "REDIS_PORT",
        "TRUSTED_PROXIES",
        "DATABASE_URL",
        "TEST_DATABASE_URL",
        "WEB_CONCURRENCY",
        "BENCH_PORT",
        "CURRENCY",
        "SANDBOX_SMTP_PORT",
        "SANDBOX_MAIL_KEEP",
        "MAIL_SERVER",
        "MAIL_DEFAULT_SENDER",
    } <= set(read)


def test_readme_table_and_env_example_agree():
    table = readme_settings()
    example = env_example_settings()
    assert table - example == set(), "in the README table but not in .env.example"
    assert example - table == set(), "in .env.example but not in the README table"
    stale = table - set(settings_read_in_code())
    assert stale == set(), "documented settings nothing reads"


# -- production refuses public secrets -----------------------------------------------------------


def new_ec_key_pem():
    """A fresh EC P-256 private key as PEM (APP_TOKEN_SIGNING_KEYS)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def random_secrets():
    return {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "LICENSE_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
        "APP_TOKEN_SIGNING_KEYS": new_ec_key_pem(),
        "STRIPE_SECRET_KEY": "sk_live_" + secrets.token_hex(16),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(24),
        "WHOP_WEBHOOK_SECRET": "ws_" + secrets.token_hex(24),
        "WHOP_APP_ID": "app_" + secrets.token_hex(7),
        "WHOP_CLIENT_ID": secrets.token_hex(10),
        "WHOP_CLIENT_SECRET": secrets.token_urlsafe(32),
        "ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
        "METRICS_TOKEN": secrets.token_urlsafe(32),
    }


@pytest.fixture
def clean_env(monkeypatch):
    """No setting leaks in from the outer environment (CI sets REDIS_URL, TEST_DATABASE_URL)."""
    for name in [*settings_read_in_code(), "TRADEPOST_ENV"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def production_env(clean_env, database_url, redis_url):
    """A complete, valid production environment on the test database and Redis."""
    values = {
        "TRADEPOST_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "MAIL_SERVER": "smtp.mail.example.com",
        "MAIL_DEFAULT_SENDER": "Tradepost <no-reply@example.com>",
        **random_secrets(),
    }
    for name, value in values.items():
        clean_env.setenv(name, value)
    return values


@pytest.fixture
def build_app(app):
    """build_app(config_class) → a second app in this process, torn down afterwards."""
    built = []

    def build(config_class):
        other = create_app(config_class)
        built.append(other)
        return other

    yield build
    for other in built:
        with other.app_context():
            _db.session.remove()
            _db.engine.dispose()
        other.extensions["redis"].close()
    configure_logging(app)  # a non-test app added a stderr handler to the app's logger


@pytest.mark.parametrize("missing", PRODUCTION_REQUIRED)
def test_production_refuses_to_start_without_each_setting(production_env, clean_env, missing):
    clean_env.delenv(missing)
    with pytest.raises(ConfigError) as refused:
        create_app(ProductionConfig)
    assert str(refused.value) == f"production refuses to start: {missing} is not set"


@pytest.mark.parametrize("name", [name for name, value in PRODUCTION_SECRETS.items() if value])
def test_production_refuses_each_development_secret_from_the_repository(production_env, clean_env, name):
    clean_env.setenv(name, PRODUCTION_SECRETS[name])
    with pytest.raises(ConfigError) as refused:
        create_app(ProductionConfig)
    assert str(refused.value) == (
        f"production refuses to start: {name} is the public development value from the repository"
    )


# Fixed, so the test ids are the same in every pytest-xdist worker.
FIXED_FERNET_KEY = base64.urlsafe_b64encode(b"fixed-test-key-of-32-bytes-long!").decode()


@pytest.mark.parametrize(
    "name, value, reason",
    [
        ("SECRET_KEY", "change-me", "is the public development value"),
        ("SECRET_KEY", "test-secret-key", "is the public development value"),
        ("SECRET_KEY", "s3cret-but-only-31-characters!!", "is too short"),
        ("STRIPE_SECRET_KEY", "pk_live_" + "a" * 24, "is not a Stripe secret key"),
        ("STRIPE_WEBHOOK_SECRET", "a" * 40, "is not a Stripe webhook signing secret"),
        ("LICENSE_SIGNING_KEY", "x", "is not an Ed25519 private key"),
        ("LICENSE_SIGNING_KEY", base64.b64encode(b"seed").decode(), "is not an Ed25519 private key"),
        ("APP_TOKEN_SIGNING_KEYS", "x", "is not a list of EC P-256 private keys"),
        ("APP_TOKEN_SIGNING_KEYS", base64.b64encode(b"seed").decode(), "is not a list of EC P-256 private keys"),
        ("WHOP_TOKEN_KEY", "not-a-fernet-key", "is not a Fernet key"),
        ("ENCRYPTION_KEYS", "not-a-fernet-key", "is not a Fernet key"),
        ("ENCRYPTION_KEYS", f"{FIXED_FERNET_KEY},short", "is not a Fernet key"),
        ("ENCRYPTION_KEYS", " , ", "has no key"),
        (
            "ENCRYPTION_KEYS",
            f"{FIXED_FERNET_KEY},{app_config.DEV_ENCRYPTION_KEY}",
            "holds the public development key",
        ),
        ("SANDBOX_ENABLED", "1", "is on"),
        ("METRICS_TOKEN", "short-token", "is too short"),
        ("MAIL_DEFAULT_SENDER", app_config.DEV_MAIL_DEFAULT_SENDER, "is the public development value"),
        ("MAIL_DEFAULT_SENDER", "Tradepost", "is not an address mail can come from"),
        ("MAIL_DEFAULT_SENDER", "Shop <shop@tradepost.test>", "is not an address mail can come from"),
        ("MAIL_DEFAULT_SENDER", "change-me", "is the public development value"),
    ],
)
def test_production_refuses_weak_values(production_env, clean_env, name, value, reason):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{name} {reason}"):
        create_app(ProductionConfig)


def test_production_mail_reads_every_mail_setting_and_refuses_tls_with_ssl(production_env, clean_env):
    for name, value in {
        "MAIL_PORT": "2525",
        "MAIL_USERNAME": "apikey",
        "MAIL_PASSWORD": "s3cret-relay-password",
        "MAIL_TIMEOUT": "2.5",
        "MAIL_USE_TLS": "1",
    }.items():
        clean_env.setenv(name, value)
    config = ProductionConfig()
    config.validate()
    assert (config.MAIL_PORT, config.MAIL_USERNAME, config.MAIL_PASSWORD, config.MAIL_TIMEOUT) == (
        2525,
        "apikey",
        "s3cret-relay-password",
        2.5,
    )
    assert (config.MAIL_USE_TLS, config.MAIL_USE_SSL) == (True, False)
    # TLS from the first byte: port 465 and no STARTTLS unless asked for ...
    clean_env.delenv("MAIL_PORT")
    clean_env.delenv("MAIL_USE_TLS")
    clean_env.setenv("MAIL_USE_SSL", "true")
    config = ProductionConfig()
    config.validate()
    assert (config.MAIL_PORT, config.MAIL_USE_TLS, config.MAIL_USE_SSL) == (465, False, True)
    # ... and both at once is refused
    clean_env.setenv("MAIL_USE_TLS", "1")
    with pytest.raises(ConfigError, match="MAIL_USE_TLS and MAIL_USE_SSL are both on"):
        create_app(ProductionConfig)
    clean_env.setenv("MAIL_TIMEOUT", "0")
    with pytest.raises(ConfigError, match="MAIL_TIMEOUT has an invalid value: '0'"):
        ProductionConfig()


def test_development_and_tests_mail_the_sandbox(clean_env):
    config = DevelopmentConfig()
    assert (config.MAIL_SERVER, config.MAIL_PORT, config.SANDBOX_SMTP_PORT) == ("127.0.0.1", 1025, 1025)
    assert (config.MAIL_USE_TLS, config.MAIL_USE_SSL, config.MAIL_USERNAME, config.MAIL_PASSWORD) == (
        False,
        False,
        None,
        None,
    )
    assert config.MAIL_DEFAULT_SENDER == app_config.DEV_MAIL_DEFAULT_SENDER
    assert _TestConfig().MAIL_PORT == 1025
    config.validate()  # outside production nothing is required
    clean_env.setenv("SANDBOX_SMTP_PORT", "0")  # no catcher: port 25 unless MAIL_PORT says
    assert (DevelopmentConfig().SANDBOX_SMTP_PORT, DevelopmentConfig().MAIL_PORT) == (0, 25)
    for value in ("-1", "65536", "smtp"):
        clean_env.setenv("SANDBOX_SMTP_PORT", value)
        with pytest.raises(ConfigError, match="SANDBOX_SMTP_PORT has an invalid value"):
            DevelopmentConfig()


def test_production_error_names_every_variable_at_fault(clean_env):
    clean_env.setenv("STRIPE_WEBHOOK_SECRET", app_config.DEV_STRIPE_WEBHOOK_SECRET)
    with pytest.raises(ConfigError) as refused:
        ProductionConfig().validate()
    message = str(refused.value)
    for name in PRODUCTION_REQUIRED:
        assert name in message
    assert "STRIPE_WEBHOOK_SECRET is the public development value" in message


def test_a_full_production_environment_starts(production_env, build_app):
    production = build_app(ProductionConfig)
    config = production.config
    assert config["ENV_NAME"] == "production"
    for name in (
        "SECRET_KEY",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "WHOP_WEBHOOK_SECRET",
        "WHOP_CLIENT_SECRET",
        "WHOP_CLIENT_ID",
        "WHOP_APP_ID",
        "LICENSE_SIGNING_KEY",
        "REDIS_URL",
    ):
        assert config[name] == production_env[name]
    assert config["SQLALCHEMY_DATABASE_URI"] == production_env["DATABASE_URL"]
    assert config["SANDBOX_ENABLED"] is False
    assert config["STRIPE_API_BASE"] == "https://api.stripe.com"
    assert config["WHOP_API_BASE"] == "https://api.whop.com"
    assert config["SESSION_COOKIE_SECURE"] is True and config["WEBHOOKS_REQUIRE_HTTPS"] is True
    # mail: the deployment's relay, submitted to with STARTTLS on 587
    assert (config["MAIL_SERVER"], config["MAIL_DEFAULT_SENDER"]) == (
        production_env["MAIL_SERVER"],
        production_env["MAIL_DEFAULT_SENDER"],
    )
    assert (config["MAIL_PORT"], config["MAIL_USE_TLS"], config["MAIL_USE_SSL"]) == (587, True, False)
    assert (config["MAIL_USERNAME"], config["MAIL_PASSWORD"], config["MAIL_TIMEOUT"]) == (None, None, 10.0)
    response = production.test_client().get("/signin")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def count(model):
    return _db.session.scalar(select(func.count()).select_from(model.__table__))


@pytest.mark.committed
def test_production_refuses_a_paid_checkout_signed_with_the_repository_secret(
    production_env, build_app, clean_env, run_jobs
):
    # With the secret missing, the production app that would have fallen back to the
    # repository's value cannot even be built...
    clean_env.delenv("STRIPE_WEBHOOK_SECRET")
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET is not set"):
        create_app(ProductionConfig)
    clean_env.setenv("STRIPE_WEBHOOK_SECRET", production_env["STRIPE_WEBHOOK_SECRET"])
    production = build_app(ProductionConfig)
    client = production.test_client()
    session = {
        "id": "cs_forged_1",
        "object": "checkout.session",
        "mode": "payment",
        "payment_status": "paid",
        "status": "complete",
        "amount_total": 50000,
        "currency": "usd",
        "client_reference_id": "1",
        "metadata": {"checkout_id": "1"},
        "payment_intent": "pi_forged",
    }
    forged = stripe_event("checkout.session.completed", session)
    # ...and the one that has real secrets refuses an event signed with the repository's value.
    body, headers = stripe_signed(forged, app_config.DEV_STRIPE_WEBHOOK_SECRET)
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "bad_signature"
    with production.app_context():
        assert count(InboundEvent) == 0 and count(Order) == 0
        assert run_jobs() == 0
    # The same door takes an event signed with the deployment's own secret.
    body, headers = stripe_signed(
        stripe_event("account.updated", {"id": "acct_x", "object": "account"}), production_env["STRIPE_WEBHOOK_SECRET"]
    )
    accepted = client.post("/webhooks/stripe", data=body, headers=headers)
    assert accepted.status_code == 200 and accepted.json == {"received": True, "duplicate": False}
    with production.app_context():
        assert count(InboundEvent) == 1 and count(Order) == 0


def run_python(args, env, cwd, timeout=60):
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def process_env(**values):
    """A minimal environment for a child process: none of this test run's settings."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "FLASK_APP": "app", "LANG": "C.UTF-8"}
    env.update({name: str(value) for name, value in values.items()})
    return env


def test_the_sandbox_refuses_to_start_in_production(tmp_path, production_env):
    port = free_port()
    env = process_env(TRADEPOST_ENV="production", SANDBOX_DATABASE=tmp_path / "sandbox.db")
    try:
        refused = run_python(["-m", "app.sandbox", "--port", str(port)], env, tmp_path, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the sandbox kept running with TRADEPOST_ENV=production")
    assert refused.returncode != 0
    assert "the sandbox refuses to start with TRADEPOST_ENV=production" in refused.stderr
    # `flask sandbox run` too, even when the production app itself is fully configured.
    env = process_env(**production_env, SANDBOX_DATABASE=tmp_path / "sandbox.db")
    try:
        refused = run_python(["-m", "flask", "sandbox", "run", "--port", str(port)], env, tmp_path, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("flask sandbox run kept running with TRADEPOST_ENV=production")
    assert refused.returncode != 0
    assert "refuses to start with TRADEPOST_ENV=production" in refused.stderr
    assert not (tmp_path / "sandbox.db").exists()


def test_the_rq_worker_refuses_production_with_a_development_secret(tmp_path, production_env):
    worker = [
        sys.executable,
        "-m",
        "rq.cli",
        "worker",
        "-c",
        "app.rq_settings",
        "--burst",
        "--worker-class",
        "rq.worker.SimpleWorker",
        "default",
    ]
    env = process_env(**{**production_env, "WHOP_WEBHOOK_SECRET": app_config.DEV_WHOP_WEBHOOK_SECRET})
    refused = subprocess.run(worker, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "WHOP_WEBHOOK_SECRET is the public development value from the repository" in refused.stderr
    started = subprocess.run(
        worker, env=process_env(**production_env), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 0, started.stderr


# -- settings are read when a config is built; .env first, the environment wins ------------------


def test_settings_are_read_when_a_config_is_built_not_at_import(clean_env):
    clean_env.setenv("PLATFORM_FEE_BPS", "1234")
    clean_env.setenv("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "yes")
    clean_env.setenv("LOG_LEVEL", "warning")
    config = DevelopmentConfig()
    assert (config.PLATFORM_FEE_BPS, config.WEBHOOKS_ALLOW_PRIVATE_NETWORKS, config.LOG_LEVEL) == (
        1234,
        True,
        "WARNING",
    )
    clean_env.setenv("PLATFORM_FEE_BPS", "")  # empty, as .env.example leaves it: the default
    assert DevelopmentConfig().PLATFORM_FEE_BPS == 1000
    clean_env.setenv("PLATFORM_FEE_BPS", "ten")
    with pytest.raises(ConfigError, match="PLATFORM_FEE_BPS has an invalid value: 'ten'"):
        DevelopmentConfig()
    clean_env.setenv("PLATFORM_FEE_BPS", "1000")
    clean_env.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        DevelopmentConfig()


WEB_SCRIPT = """
import json
from wsgi import app
print(json.dumps({"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": app.config["REDIS_URL"],
                  "PLATFORM_FEE_BPS": str(app.config["PLATFORM_FEE_BPS"])}))
"""
WORKER_SCRIPT = "import app.rq_settings as settings; print(settings.REDIS_URL)"


def resolved_everywhere(tmp_path, env):
    """What the web app (wsgi), the `flask` CLI and the RQ worker's settings each resolve,
    started as processes in `tmp_path` (where the .env is)."""
    procs = {
        "web": subprocess.Popen(
            [sys.executable, "-c", WEB_SCRIPT],
            env=env,
            cwd=tmp_path,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ),
        "cli": subprocess.Popen(
            [sys.executable, "-m", "flask", "settings"],
            env=env,
            cwd=tmp_path,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ),
        "worker": subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT],
            env=env,
            cwd=tmp_path,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ),
    }
    outputs = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{name}: {err}"
        outputs[name] = out
    web = json.loads(outputs["web"])
    cli = dict(line.split("=", 1) for line in outputs["cli"].splitlines())
    return web, {name: cli[name] for name in web}, outputs["worker"].strip()


def test_dotenv_fills_unset_settings_and_loses_to_the_environment_in_every_entry_point(tmp_path):
    dotenv_db = f"sqlite:///{tmp_path / 'from-dotenv.db'}"
    (tmp_path / ".env").write_text(
        f"DATABASE_URL={dotenv_db}\nREDIS_PORT=6391\nPLATFORM_FEE_BPS=1234\n# a comment\nSECRET_KEY=\n"
    )
    from_dotenv = {"DATABASE_URL": dotenv_db, "REDIS_URL": "redis://127.0.0.1:6391/0", "PLATFORM_FEE_BPS": "1234"}
    web, cli, worker = resolved_everywhere(tmp_path, process_env())
    assert web == from_dotenv
    assert cli == from_dotenv
    assert worker == from_dotenv["REDIS_URL"]

    real_db = f"sqlite:///{tmp_path / 'from-environment.db'}"
    env = process_env(DATABASE_URL=real_db, REDIS_URL="redis://127.0.0.1:6392/3", PLATFORM_FEE_BPS="777")
    web, cli, worker = resolved_everywhere(tmp_path, env)
    expected = {"DATABASE_URL": real_db, "REDIS_URL": "redis://127.0.0.1:6392/3", "PLATFORM_FEE_BPS": "777"}
    assert web == expected and cli == expected
    assert worker == "redis://127.0.0.1:6392/3"


# -- logging -------------------------------------------------------------------------------------

MAIL_SCRIPT = """
import os
from app import create_app
from app.models import OutgoingEmail
from app.services.mail import transmit

for level, to in ((None, "ada@example.com"), ("WARNING", "quiet@example.com")):
    if level:
        os.environ["LOG_LEVEL"] = level
    web = create_app()
    with web.app_context():
        try:  # nothing listens on MAIL_PORT: the attempt is logged, then refused
            transmit(OutgoingEmail(id=7, to_email=to, subject="Your order is in", body="Hello"))
        except OSError:
            pass
"""


def test_info_lines_and_the_mail_transport_are_logged(tmp_path):
    env = process_env(DATABASE_URL=f"sqlite:///{tmp_path / 'dev.db'}", MAIL_PORT=str(free_port()))
    shown = run_python(["-c", MAIL_SCRIPT], env, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert re.search(
        r"^\d{4}-\d\d-\d\d [\d:,]+ INFO \[app\.services\.mail\] email to ada@example\.com: "
        r"Your order is in$",
        shown.stderr,
        flags=re.MULTILINE,
    ), shown.stderr
    assert "INFO [app] email #7 to ada@example.com: Your order is in" in shown.stderr
    assert "quiet@example.com" not in shown.stderr  # LOG_LEVEL=WARNING hides INFO


# -- proxies and HSTS ----------------------------------------------------------------------------


@pytest.fixture
def app_with_proxies(clean_env, build_app, database_url, redis_url):
    """proxied(count) → a test app built with TRUSTED_PROXIES=count read from the environment."""

    def build(count):
        clean_env.setenv("TRUSTED_PROXIES", str(count))
        clean_env.setenv("SIGNIN_RATE_LIMIT", "3/minute")
        return build_app(make_test_config(database_url, redis_url))

    return build


@pytest.fixture
def signed_up(db, make_user):
    """A committed account's email; the session is closed so another app can write (SQLite)."""
    email = make_user(email="ada@example.com").email
    db.session.close()
    return email


def sign_in_from(client, email, forwarded_for, password=PASSWORD):
    return post_form(
        client, "/signin", {"email": email, "password": password}, headers={"X-Forwarded-For": forwarded_for}
    )


def audit_ips(proxied, action):
    with proxied.app_context():
        return _db.session.scalars(
            select(AuditEvent.ip_address).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


@pytest.mark.committed
def test_behind_one_trusted_proxy_the_forwarded_client_is_audited_and_rate_limited(app_with_proxies, signed_up):
    proxied = app_with_proxies(1)
    assert proxied.config["TRUSTED_PROXIES"] == 1
    client = proxied.test_client()
    # The proxy appends the address it saw; anything the client wrote before it is ignored.
    assert sign_in_from(client, signed_up, "6.6.6.6, 203.0.113.7").status_code == 303
    assert audit_ips(proxied, "auth.sign_in") == ["203.0.113.7"]
    stranger = proxied.test_client()
    for attempt in range(3):
        assert sign_in_from(stranger, f"nobody{attempt}@example.com", "198.51.100.9").status_code == 401
    assert sign_in_from(stranger, "nobody9@example.com", "198.51.100.9").status_code == 429
    assert sign_in_from(stranger, "nobody9@example.com", "6.6.6.6, 198.51.100.9").status_code == 429
    # Another client behind the same proxy has its own allowance.
    assert sign_in_from(stranger, "nobody9@example.com", "198.51.100.10").status_code == 401
    assert audit_ips(proxied, "auth.sign_in_failed") == ["198.51.100.9"] * 3 + ["198.51.100.10"]


@pytest.mark.committed
def test_without_trusted_proxies_forwarded_headers_are_ignored(app_with_proxies, signed_up):
    direct = app_with_proxies(0)
    client = direct.test_client()
    assert sign_in_from(client, signed_up, "203.0.113.7").status_code == 303
    assert audit_ips(direct, "auth.sign_in") == ["127.0.0.1"]
    stranger = direct.test_client()
    # Every request comes from the one address (the sign-in above used one of its 3 tries),
    # however each makes up its X-Forwarded-For.
    for attempt in range(2):
        assert sign_in_from(stranger, f"nobody{attempt}@example.com", f"198.51.100.{attempt}").status_code == 401
    assert sign_in_from(stranger, "nobody9@example.com", "198.51.100.99").status_code == 429
    assert set(audit_ips(direct, "auth.sign_in_failed")) == {"127.0.0.1"}


def test_negative_trusted_proxies_is_refused(clean_env):
    clean_env.setenv("TRUSTED_PROXIES", "-1")
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        DevelopmentConfig()


def test_hsts_only_in_production(client, clean_env, build_app, database_url, redis_url):
    assert "Strict-Transport-Security" not in client.get("/signin").headers
    clean_env.setenv("DATABASE_URL", database_url)
    clean_env.setenv("REDIS_URL", redis_url)
    development = build_app(DevelopmentConfig)
    response = development.test_client().get("/signin")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    # production: test_a_full_production_environment_starts asserts the header


# -- the ports of `make run` ---------------------------------------------------------------------


def test_ports_flow_into_every_default_url(clean_env):
    from app.devrun import stack_environment

    clean_env.setenv("PORT", "5100")
    clean_env.setenv("SANDBOX_PORT", "5155")
    clean_env.setenv("REDIS_PORT", "6390")
    clean_env.setenv("SANDBOX_SMTP_PORT", "1125")
    config = DevelopmentConfig()
    assert config.APP_BASE_URL == "http://127.0.0.1:5100"
    assert (config.MAIL_SERVER, config.MAIL_PORT) == ("127.0.0.1", 1125)  # the app mails the catcher
    assert config.SANDBOX_URL == config.STRIPE_API_BASE == "http://127.0.0.1:5155"
    assert config.WHOP_API_BASE == "http://127.0.0.1:5155/whop"
    assert config.REDIS_URL == config.RATELIMIT_STORAGE_URI == "redis://127.0.0.1:6390/0"
    sandbox_settings = sandbox.sandbox_config()
    assert sandbox_settings["APP_BASE_URL"] == "http://127.0.0.1:5100"  # where it delivers webhooks
    assert sandbox_settings["SANDBOX_PUBLIC_URL"] == "http://127.0.0.1:5155"
    assert sandbox_settings["SANDBOX_SMTP_PORT"] == 1125  # where the catcher listens
    # make run pins the URLs for every process: honcho gives each process type its own PORT.
    env, _ = stack_environment()
    assert (env["PORT"], env["SANDBOX_PORT"], env["REDIS_PORT"]) == ("5100", "5155", "6390")
    assert (env["APP_BASE_URL"], env["SANDBOX_URL"]) == ("http://127.0.0.1:5100", "http://127.0.0.1:5155")
    assert (env["SANDBOX_SMTP_PORT"], env["MAIL_SERVER"], env["MAIL_PORT"]) == ("1125", "127.0.0.1", "1125")
    assert "REDIS_URL" not in env  # devredis serves REDIS_PORT
    # the web process and the worker write their metrics to one directory (/metrics adds them up)
    from app.devrun import DEFAULT_METRICS_DIR

    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(DEFAULT_METRICS_DIR)
    # An explicit URL still wins over the port it would be derived from.
    clean_env.setenv("APP_BASE_URL", "https://shop.example.com")
    clean_env.setenv("REDIS_URL", "redis://cache.internal:6379/2")
    config = DevelopmentConfig()
    assert (config.APP_BASE_URL, config.REDIS_URL) == ("https://shop.example.com", "redis://cache.internal:6379/2")
    assert sandbox.sandbox_config()["APP_BASE_URL"] == "https://shop.example.com"
    clean_env.setenv("MAIL_SERVER", "mail.internal")
    clean_env.setenv("MAIL_PORT", "2525")
    env, _ = stack_environment()
    assert (env["SANDBOX_SMTP_PORT"], env["MAIL_SERVER"], env["MAIL_PORT"]) == ("1125", "mail.internal", "2525")
    clean_env.setenv("SANDBOX_PORT", "70000")
    with pytest.raises(ConfigError, match="SANDBOX_PORT"):
        DevelopmentConfig()


@pytest.mark.committed
def test_the_suites_app_mails_the_sandbox_fixtures_catcher(app, sandbox):
    """The app's MAIL_* settings in the suite reach the `sandbox` fixture's mail catcher,
    where tests read what was sent (tests/mailbox.py)."""
    to = f"wired-{secrets.token_hex(4)}@example.com"
    sender = parseaddr(app.config["MAIL_DEFAULT_SENDER"])[1]
    with smtplib.SMTP(app.config["MAIL_SERVER"], app.config["MAIL_PORT"], timeout=app.config["MAIL_TIMEOUT"]) as smtp:
        smtp.sendmail(sender, [to], b"Subject: Wired\r\n\r\nHello\r\n")
    assert [(m["from"], m["subject"]) for m in mail_json(sandbox, to=to)] == [(sender, "Wired")]


def test_defaults_are_the_documented_ports(clean_env):
    config = DevelopmentConfig()
    assert (config.APP_BASE_URL, config.SANDBOX_URL, config.REDIS_URL) == (
        "http://127.0.0.1:5000",
        "http://127.0.0.1:5055",
        "redis://127.0.0.1:6380/0",
    )


def test_procfile_dev_serves_web_and_sandbox_on_the_chosen_ports():
    from honcho.environ import expand_processes, parse_procfile

    procfile = parse_procfile((ROOT / "Procfile.dev").read_text(encoding="utf-8"))
    processes = {p.name: p for p in expand_processes(procfile.processes, env={}, port=5100)}
    web, sandbox_process = processes["web.1"], processes["sandbox.1"]
    assert web.env["PORT"] == "5100"  # honcho gives the first process type the base port
    assert '--port "$PORT"' in web.cmd
    assert '--port "$SANDBOX_PORT"' in sandbox_process.cmd
    for name in ("worker.1", "cron.1"):
        assert "-c app.rq_settings" in processes[name].cmd


def test_devredis_serves_redis_port_read_from_dotenv(tmp_path):
    port = free_port()
    (tmp_path / ".env").write_text(f"REDIS_PORT={port}\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.devredis"],
        env=process_env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from redis import Redis

        client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)

        def answers():
            try:
                return client.ping()
            except Exception:
                return False

        wait_until(answers, timeout=60, message=f"devredis did not serve REDIS_PORT={port}")
        waited = run_python(["-m", "app.devredis", "--wait"], process_env(), tmp_path, timeout=30)
        assert waited.returncode == 0, waited.stderr
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_the_sandbox_delivers_webhooks_to_the_app_on_port(tmp_path):
    """`python -m app.sandbox` serves SANDBOX_PORT, catches mail on SANDBOX_SMTP_PORT (read
    from .env), and targets APP_BASE_URL built from PORT."""
    app_port, sandbox_port, smtp_port = free_port(), free_port(), free_port()
    (tmp_path / ".env").write_text(f"SANDBOX_SMTP_PORT={smtp_port}\n")
    env = process_env(PORT=app_port, SANDBOX_PORT=sandbox_port, SANDBOX_DATABASE=tmp_path / "s.db")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.sandbox"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{sandbox_port}"

        def health():
            try:
                return loopback.get(base + "/_sandbox/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(health, timeout=60, message="the sandbox did not serve SANDBOX_PORT")
        page = loopback.get(base + "/_sandbox/", timeout=5)
        assert page.status_code == 200
        assert f"http://127.0.0.1:{app_port}/webhooks/stripe" in page.text
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.sendmail("no-reply@tradepost.test", ["ada@example.com"], b"Subject: Hi\r\n\r\nHello\r\n")
        caught = loopback.get(base + "/_sandbox/mail.json", timeout=5).json()
        assert [(m["to"], m["subject"], m["text"]) for m in caught] == [(["ada@example.com"], "Hi", "Hello\n")]
    finally:
        process.terminate()
        process.wait(timeout=10)
