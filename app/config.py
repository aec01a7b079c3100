"""Configuration classes, read from the environment when a config object is created.

`TRADEPOST_ENV` picks one: development (default), test, production. Every entry point (the
web app, `flask` commands, the RQ worker and cron, the sandbox, `make run`) first reads a
`.env` file with `load_env_file()`, so all of them see the same settings; the real
environment always wins over `.env`. Settings are `Setting` descriptors resolved in
`Config.__init__`, never at import, so a test can set a variable and build a new config.
"""

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = BASE_DIR / "instance"

# Development defaults shared with the sandbox process, so `make run` works without a .env.
# They are public (they are in this repository): production refuses every one of them.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_STRIPE_SECRET_KEY = "sk_test_tradepost_sandbox"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_tradepost_dev_stripe_secret"
DEV_WHOP_WEBHOOK_SECRET = "ws_tradepost_dev_whop_secret"
DEV_WHOP_APP_ID = "app_tradepost_dev"
DEV_WHOP_CLIENT_ID = "tradepost-dev-client"
DEV_WHOP_CLIENT_SECRET = "tradepost-dev-client-secret"
DEV_ENCRYPTION_KEY = "apcEUmuZ6Gp4Z6UKeDazKKNQkKB7x8XcQ7JeGq2O-RY="
# The From of development mail (a reserved .test domain): production must name its own sender.
DEV_MAIL_DEFAULT_SENDER = "Tradepost <no-reply@tradepost.test>"
# Placeholders from .env.example and the test config: as public as the defaults above.
PUBLIC_PLACEHOLDERS = frozenset({"change-me", "test-secret-key"})

# The ports of `make run` (PORT=5100 SANDBOX_PORT=5155 REDIS_PORT=6390 make run), and the
# sandbox's mail catcher (SMTP), where development and tests send their mail.
DEFAULT_PORT = 5000
DEFAULT_SANDBOX_PORT = 5055
DEFAULT_REDIS_PORT = 6380
DEFAULT_SANDBOX_SMTP_PORT = 1025
DEFAULT_LEGENDS_STREAM_PORT = 5060

MIN_SECRET_KEY_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 24
HSTS_ONE_YEAR = 365 * 24 * 3600


class ConfigError(RuntimeError):
    """Raised at start-up when the configuration cannot run safely."""


def load_env_file():
    """Read `.env` from the current directory (or the nearest parent that has one) into
    os.environ, never overriding a variable the real environment already sets.

    The same file and precedence as the `flask` command's own loading; every entry point
    calls this before building a config. Returns the path read, or None.
    """
    from dotenv import find_dotenv, load_dotenv

    path = find_dotenv(".env", usecwd=True)
    if path:
        load_dotenv(path, override=False, encoding="utf-8")
    return path or None


def env_value(name):
    """The variable's value, or None when it is unset or empty (`.env.example` leaves
    optional settings empty: empty means "use the default")."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value


def as_bool(value):
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_bool(name, default=False):
    value = env_value(name)
    return default if value is None else as_bool(value)


def as_port(value):
    port = int(value)
    if not 0 < port < 65536:
        raise ValueError("not a TCP port")
    return port


def as_port_or_off(value):
    """A port number, or 0 for "off" (SANDBOX_SMTP_PORT)."""
    port = int(value)
    if not 0 <= port < 65536:
        raise ValueError("not a TCP port")
    return port


def as_seconds(value):
    seconds = float(value)
    if not 0 < seconds <= 3600:
        raise ValueError("not a timeout")
    return seconds


def env_port(name, default):
    """A port number from the environment (PORT, SANDBOX_PORT, REDIS_PORT)."""
    value = env_value(name)
    if value is None:
        return default
    try:
        return as_port(value)
    except ValueError:
        raise ConfigError(f"{name} must be a port number (1-65535), not {value!r}") from None


def as_count(value):
    count = int(value)
    if count < 0:
        raise ValueError("negative")
    return count


def as_log_level(value):
    level = value.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("unknown level")
    return level


def as_log_format(value):
    fmt = value.strip().lower()
    if fmt not in {"json", "text"}:
        raise ValueError("unknown log format")
    return fmt


def as_fraction(value):
    fraction = float(value)
    if not 0 <= fraction <= 1:
        raise ValueError("not between 0 and 1")
    return fraction


def database_url(url):
    """Point plain PostgreSQL URLs at the psycopg 3 driver we install."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_app_base_url():
    return f"http://127.0.0.1:{env_port('PORT', DEFAULT_PORT)}"


def default_sandbox_url():
    return f"http://127.0.0.1:{env_port('SANDBOX_PORT', DEFAULT_SANDBOX_PORT)}"


def default_redis_url():
    return f"redis://127.0.0.1:{env_port('REDIS_PORT', DEFAULT_REDIS_PORT)}/0"


class Setting:
    """One setting, read from the environment variable `env` (default: the attribute's name)
    each time a config object is created.

    `default` is a value, or a function of the config being built (for settings derived
    from earlier ones). `cast` turns the string into the value; a value it rejects stops
    the start with a ConfigError naming the variable. `secret` hides it in `flask settings`.
    A subclass replaces a Setting with a plain class attribute to pin a value (tests do).
    """

    def __init__(self, default=None, *, env=None, cast=None, secret=False):
        self.default = default
        self.env = env
        self.cast = cast
        self.secret = secret
        self.attr = None

    def __set_name__(self, owner, name):
        self.attr = name
        self.env = self.env or name

    def resolve(self, config):
        raw = env_value(self.env)
        if raw is None:
            return self.default(config) if callable(self.default) else self.default
        if self.cast is None:
            return raw
        try:
            return self.cast(raw)
        except ValueError:
            raise ConfigError(f"{self.env} has an invalid value: {raw!r}") from None


def settings_of(config_class):
    """(attribute, Setting) pairs of `config_class`, in the order they were declared."""
    seen = {}
    for klass in reversed(config_class.__mro__):
        for name in vars(klass):
            seen.setdefault(name, None)
    for name in seen:
        value = getattr(config_class, name, None)
        if isinstance(value, Setting):
            yield name, value


class Config:
    ENV_NAME = "development"

    # Ports first: the URLs below default to them.
    PORT = Setting(DEFAULT_PORT, cast=as_port)
    SANDBOX_PORT = Setting(DEFAULT_SANDBOX_PORT, cast=as_port)
    REDIS_PORT = Setting(DEFAULT_REDIS_PORT, cast=as_port)
    # The sandbox's mail catcher listens here (0: off); development mail goes to it.
    SANDBOX_SMTP_PORT = Setting(DEFAULT_SANDBOX_SMTP_PORT, cast=as_port_or_off)
    # The Legends live-updates process (app/streaming, server-sent events) listens here.
    LEGENDS_STREAM_PORT = Setting(DEFAULT_LEGENDS_STREAM_PORT, cast=as_port)

    SECRET_KEY = Setting(DEV_SECRET_KEY, secret=True)
    SQLALCHEMY_DATABASE_URI = Setting(
        f"sqlite:///{INSTANCE_DIR / 'tradepost.db'}", env="DATABASE_URL", cast=database_url
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = Setting(lambda c: f"redis://127.0.0.1:{c.REDIS_PORT}/0")

    APP_BASE_URL = Setting(lambda c: f"http://127.0.0.1:{c.PORT}")
    SANDBOX_ENABLED = Setting(True, cast=as_bool)
    SANDBOX_URL = Setting(lambda c: f"http://127.0.0.1:{c.SANDBOX_PORT}")
    # `flask seed-demo` gives demo sellers real Connect accounts in the sandbox (starting one if needed).
    SEED_SANDBOX_ACCOUNTS = Setting(True, cast=as_bool)

    STRIPE_SECRET_KEY = Setting(DEV_STRIPE_SECRET_KEY, secret=True)
    STRIPE_WEBHOOK_SECRET = Setting(DEV_STRIPE_WEBHOOK_SECRET, secret=True)
    STRIPE_API_BASE = Setting(lambda c: c.SANDBOX_URL if c.SANDBOX_ENABLED else "https://api.stripe.com")
    WHOP_WEBHOOK_SECRET = Setting(DEV_WHOP_WEBHOOK_SECRET, secret=True)
    WHOP_APP_ID = Setting(DEV_WHOP_APP_ID)
    WHOP_CLIENT_ID = Setting(DEV_WHOP_CLIENT_ID)
    WHOP_CLIENT_SECRET = Setting(DEV_WHOP_CLIENT_SECRET, secret=True)
    WHOP_API_BASE = Setting(lambda c: c.SANDBOX_URL + "/whop" if c.SANDBOX_ENABLED else "https://api.whop.com")
    WHOP_JWKS_URL = Setting(lambda c: c.WHOP_API_BASE.rstrip("/") + "/.well-known/jwks.json")
    # Fernet keys (urlsafe base64 of 32 bytes), comma-separated, newest first, encrypting the
    # secrets we store (app/crypto.py): the newest encrypts, any decrypts.
    ENCRYPTION_KEYS = Setting(DEV_ENCRYPTION_KEY, secret=True)
    # The Fernet key Whop refresh tokens were encrypted with before ENCRYPTION_KEYS (if it was
    # set): still decrypts them until `flask crypto rotate` has re-encrypted them.
    WHOP_TOKEN_KEY = Setting(None, secret=True)

    # Email over SMTP, under the names Flask-Mailman reads. Development and tests send to the
    # sandbox's mail catcher (plain SMTP on 127.0.0.1:SANDBOX_SMTP_PORT, any login accepted);
    # production names its relay. MAIL_USE_TLS: STARTTLS after connecting (port 587);
    # MAIL_USE_SSL: TLS from the first byte (port 465).
    MAIL_SERVER = Setting("127.0.0.1")
    MAIL_USE_SSL = Setting(False, cast=as_bool)
    MAIL_USE_TLS = Setting(False, cast=as_bool)
    MAIL_PORT = Setting(lambda c: c.SANDBOX_SMTP_PORT or 25, cast=as_port)
    MAIL_USERNAME = Setting(None)
    MAIL_PASSWORD = Setting(None, secret=True)
    MAIL_DEFAULT_SENDER = Setting(DEV_MAIL_DEFAULT_SENDER)
    # Seconds to wait for the SMTP server (connecting, and each answer).
    MAIL_TIMEOUT = Setting(10.0, cast=as_seconds)
    # Flask-Mailman's transport: SMTP everywhere, tests included (they read the sandbox's
    # catcher); Flask-Mailman would otherwise keep test mail in memory.
    MAIL_BACKEND = "smtp"

    PLATFORM_FEE_BPS = Setting(1000, cast=int)
    PAYOUT_MINIMUM_CENTS = Setting(2000, cast=int)
    CLEARANCE_DAYS = Setting(14, cast=int)
    # Days a subscriber keeps access after a failed renewal (membership past_due) while Stripe
    # retries the card; past them access ends unless the invoice is paid.
    SUBSCRIPTION_GRACE_DAYS = Setting(3, cast=as_count)
    # Anonymous listing, search and gig pages are cached this long in Redis (0 = off).
    PAGE_CACHE_SECONDS = Setting(30, cast=int)
    # The longest a web process keeps a shared part of a signed-in page (app/pagecache.py kept);
    # every write to what it shows makes it stale at once. 0 = off.
    PAGE_PARTS_SECONDS = Setting(300, cast=int)
    # Affiliate-link clicks stored per visitor IP and minute; more are served but not counted.
    REFERRAL_CLICKS_PER_MINUTE = Setting(30, cast=as_count)
    # Legends live updates: the address browsers open the stream at (its own port locally; in
    # production the same host as the app, with /stream/ routed to the `stream` process), how
    # long the signed link a page embeds may open it, and the seconds between heartbeats.
    LEGENDS_STREAM_URL = Setting(lambda c: f"http://127.0.0.1:{c.LEGENDS_STREAM_PORT}")
    LEGENDS_STREAM_TOKEN_SECONDS = Setting(1800.0, cast=as_seconds)
    LEGENDS_STREAM_HEARTBEAT_SECONDS = Setting(15.0, cast=as_seconds)
    # Uploaded files (gig images, deliveries, member files); default instance/uploads.
    UPLOAD_DIR = Setting(None)
    CURRENCY = Setting("usd")
    # Where people write for help: shown on the contact and help pages (a mailto link).
    SUPPORT_EMAIL = Setting("support@tradepost.test")

    # Logging (app/logs.py): the level of the app's own loggers.
    LOG_LEVEL = Setting("INFO", cast=as_log_level)
    # `json`: one JSON object per line (production's default); `text`: human-readable lines.
    LOG_FORMAT = Setting("text", cast=as_log_format)
    # Operations (app/observability.py, app/metrics.py, app/health.py). /metrics answers only
    # `Authorization: Bearer <METRICS_TOKEN>`; unset (development only) it answers anyone.
    METRICS_TOKEN = Setting(None, secret=True)
    # Off: no request metrics are counted (the overhead bench's baseline); /metrics still answers.
    METRICS_ENABLED = Setting(True, cast=as_bool)
    # /readyz: a worker whose last heartbeat is older than this is dead (workers beat every
    # `--worker-ttl` - 15 s: Procfile runs them with --worker-ttl 60); the cron scheduler beats
    # at least every 60 s; a queue whose oldest job waited longer than QUEUE_LAG_SECONDS is late.
    WORKER_HEARTBEAT_SECONDS = Setting(60.0, cast=as_seconds)
    SCHEDULER_HEARTBEAT_SECONDS = Setting(180.0, cast=as_seconds)
    QUEUE_LAG_SECONDS = Setting(300.0, cast=as_seconds)
    # Errors to Sentry when set (off by default); traces sampled at this rate (0: none).
    SENTRY_DSN = Setting(None, secret=True)
    SENTRY_TRACES_SAMPLE_RATE = Setting(0.0, cast=as_fraction)
    # How many reverse proxies in front of the app append X-Forwarded-For / -Proto
    # (werkzeug ProxyFix); 0 trusts none of those headers.
    TRUSTED_PROXIES = Setting(0, cast=as_count)
    HSTS_MAX_AGE = 0  # Strict-Transport-Security is sent only when > 0 (production)

    # Largest request body for any form or JSON call (413 past it); views taking file uploads
    # declare their own allowance with app.inputs.body_limit.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH") or 1024 * 1024)

    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Signed-in sessions (app/services/sessions.py): "Keep me signed in" lasts 30 days from
    # sign-in; otherwise a session ends after 8 hours without a request, at most 7 days in.
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    USER_SESSION_IDLE_TIMEOUT = timedelta(hours=8)
    USER_SESSION_MAX_AGE = timedelta(days=7)
    # The per-process identity cache (app/identity_cache.py): signed-in sessions it keeps (0 =
    # off: every request runs the lookup query), and the most seconds one is kept.
    IDENTITY_CACHE_SIZE = Setting(5000, cast=as_count)
    IDENTITY_CACHE_SECONDS = Setting(60.0, cast=as_seconds)

    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_KEY_PREFIX = "tp-limits"
    # Redis down: Flask-Limiter counts every limit in process memory until Redis answers again,
    # so sign-in keeps working; the license API refuses with a 503 instead (see blueprints/license_api.py).
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    SIGNIN_RATE_LIMIT = Setting("10/minute")
    # "Forgot password" emails, per client address and per address asked about.
    PASSWORD_RESET_RATE_LIMIT = Setting("5/hour")
    # License API: the Ed25519 key that signs every answer (base64 of the 32-byte seed, or PEM).
    # Unset: generated once under instance/ in development, per process in tests.
    LICENSE_SIGNING_KEY = Setting(None, secret=True)
    LICENSE_RATE_LIMIT_PER_IP = Setting("100/minute")
    LICENSE_RATE_LIMIT_PER_KEY = Setting("60/minute")
    # Apps (services/user_tokens.py): EC P-256 private keys signing the ES256 user tokens of
    # embedded apps, newest first (PEM blocks, or base64 of PKCS#8 DER comma-separated). The
    # newest signs; all are published at /.well-known/jwks.json, so tokens of the previous key
    # still verify during a rotation. Unset: generated once under instance/ in development,
    # per process in tests; production refuses to start without it.
    APP_TOKEN_SIGNING_KEYS = Setting(None, secret=True)
    # Public REST API (/api/v1): requests per minute, per API key and per client address.
    API_RATE_LIMIT_PER_MINUTE = Setting(100, cast=as_count)

    # Inbound webhooks (/webhooks/*): larger bodies are refused with 413 before they are read.
    WEBHOOK_MAX_BODY_BYTES = Setting(256 * 1024, cast=as_count)

    RQ_QUEUES = ("default", "webhooks", "scheduled")
    # Outbound webhooks: refuse plain http in production; private addresses only for local dev.
    WEBHOOKS_REQUIRE_HTTPS = Setting(False, cast=as_bool)
    WEBHOOKS_ALLOW_PRIVATE_NETWORKS = Setting(False, cast=as_bool)
    # Outbound delivery runs: messages leased per claim, requests in flight per worker process,
    # and per endpoint (so one slow endpoint holds at most that many of the sender threads).
    WEBHOOKS_BATCH_SIZE = Setting(100, cast=as_count)
    WEBHOOKS_CONCURRENCY = Setting(32, cast=as_count)
    WEBHOOKS_ENDPOINT_CONCURRENCY = Setting(8, cast=as_count)

    def __init__(self):
        # Declaration order, so a derived default sees the settings it is built from.
        for name, setting in settings_of(type(self)):
            setattr(self, name, setting.resolve(self))
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL

    def validate(self):
        """Refuse configurations that cannot run safely; a no-op outside production."""


class DevelopmentConfig(Config):
    DEBUG = False


class TestConfig(Config):
    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = Setting("sqlite://", env="TEST_DATABASE_URL", cast=database_url)
    WTF_CSRF_ENABLED = True
    # argon2's cheapest parameters keep hundreds of test sign-ins fast; never outside tests.
    ARGON2_PROFILE = "CHEAPEST"
    PAGE_CACHE_SECONDS = 0  # tests of the cache turn it on explicitly
    SEED_SANDBOX_ACCOUNTS = False  # the seed test that wants them uses the sandbox fixture


# Secrets production needs from its own environment: name -> the repository's development
# value, which anyone can read and so must never sign or authenticate anything in production.
PRODUCTION_SECRETS = {
    "SECRET_KEY": DEV_SECRET_KEY,
    "STRIPE_SECRET_KEY": DEV_STRIPE_SECRET_KEY,
    "STRIPE_WEBHOOK_SECRET": DEV_STRIPE_WEBHOOK_SECRET,
    "WHOP_WEBHOOK_SECRET": DEV_WHOP_WEBHOOK_SECRET,
    "WHOP_CLIENT_SECRET": DEV_WHOP_CLIENT_SECRET,
    "WHOP_CLIENT_ID": DEV_WHOP_CLIENT_ID,
    "WHOP_APP_ID": DEV_WHOP_APP_ID,
    "LICENSE_SIGNING_KEY": None,
    "APP_TOKEN_SIGNING_KEYS": None,
    "ENCRYPTION_KEYS": DEV_ENCRYPTION_KEY,
    "METRICS_TOKEN": None,
}
# Settings production needs from its own environment that are not secrets: where mail goes,
# and who it comes from.
PRODUCTION_MAIL = {"MAIL_SERVER": None, "MAIL_DEFAULT_SENDER": DEV_MAIL_DEFAULT_SENDER}
PRODUCTION_REQUIRED = ("DATABASE_URL", "REDIS_URL", *PRODUCTION_SECRETS, *PRODUCTION_MAIL)
DEVELOPMENT_VALUES = {**PRODUCTION_SECRETS, **PRODUCTION_MAIL}


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS_MAX_AGE = HSTS_ONE_YEAR
    SANDBOX_ENABLED = Setting(False, cast=as_bool)
    LOG_FORMAT = Setting("json", cast=as_log_format)
    WEBHOOKS_REQUIRE_HTTPS = Setting(True, cast=as_bool)
    # No development fallbacks: each of these must come from the environment (validate()).
    SECRET_KEY = Setting(None, secret=True)
    SQLALCHEMY_DATABASE_URI = Setting(None, env="DATABASE_URL", cast=database_url)
    REDIS_URL = Setting(None)
    STRIPE_SECRET_KEY = Setting(None, secret=True)
    STRIPE_WEBHOOK_SECRET = Setting(None, secret=True)
    WHOP_WEBHOOK_SECRET = Setting(None, secret=True)
    WHOP_APP_ID = Setting(None)
    WHOP_CLIENT_ID = Setting(None)
    WHOP_CLIENT_SECRET = Setting(None, secret=True)
    ENCRYPTION_KEYS = Setting(None, secret=True)
    # A mail relay of its own, submitted to with STARTTLS on 587 unless MAIL_USE_SSL (465).
    MAIL_SERVER = Setting(None)
    MAIL_USE_TLS = Setting(lambda c: not c.MAIL_USE_SSL, cast=as_bool)
    MAIL_PORT = Setting(lambda c: 465 if c.MAIL_USE_SSL else 587, cast=as_port)
    MAIL_DEFAULT_SENDER = Setting(None)

    def validate(self):
        """Refuse to start unless every secret and the mail settings are set, are not a
        development value from this repository and are not obviously unusable; one error
        names every variable at fault."""
        values = {name: getattr(self, name) for name in DEVELOPMENT_VALUES}
        values["DATABASE_URL"] = self.SQLALCHEMY_DATABASE_URI
        values["REDIS_URL"] = self.REDIS_URL
        problems = []
        for name in PRODUCTION_REQUIRED:
            value = values[name]
            if not value:
                problems.append(f"{name} is not set")
            elif value == DEVELOPMENT_VALUES.get(name) or value.strip() in PUBLIC_PLACEHOLDERS:
                problems.append(f"{name} is the public development value from the repository")
            else:
                problem = _weakness(name, value)
                if problem:
                    problems.append(f"{name} {problem}")
        if self.WHOP_TOKEN_KEY:
            from app.crypto import fernet_key_problem

            problem = fernet_key_problem("WHOP_TOKEN_KEY", self.WHOP_TOKEN_KEY, many=False)
            if problem:
                problems.append(problem)
        if self.MAIL_USE_TLS and self.MAIL_USE_SSL:
            problems.append(
                "MAIL_USE_TLS and MAIL_USE_SSL are both on: pick STARTTLS (MAIL_USE_TLS, port 587) "
                "or TLS from the start (MAIL_USE_SSL, port 465)"
            )
        if self.SANDBOX_ENABLED:
            problems.append("SANDBOX_ENABLED is on: production uses real Stripe and Whop")
        if problems:
            raise ConfigError("production refuses to start: " + "; ".join(problems))


def _weakness(name, value):
    """Why a set, non-default secret is still unusable in production, or None."""
    if name == "SECRET_KEY" and len(value) < MIN_SECRET_KEY_LENGTH:
        return f"is too short (at least {MIN_SECRET_KEY_LENGTH} random characters)"
    if name == "STRIPE_SECRET_KEY" and not value.startswith(("sk_", "rk_")):
        return "is not a Stripe secret key (sk_... or rk_...)"
    if name == "STRIPE_WEBHOOK_SECRET" and (not value.startswith("whsec_") or len(value) < 20):
        return "is not a Stripe webhook signing secret (whsec_...)"
    if name == "ENCRYPTION_KEYS":
        from app.crypto import fernet_key_problem, parse_keys

        if DEV_ENCRYPTION_KEY in parse_keys(value):
            return "holds the public development key from the repository"
        problem = fernet_key_problem(name, value)
        return problem and problem.removeprefix(f"{name} ")
    if name == "MAIL_DEFAULT_SENDER":
        return _sender_problem(value)
    if name == "METRICS_TOKEN" and len(value) < MIN_METRICS_TOKEN_LENGTH:
        return f"is too short (at least {MIN_METRICS_TOKEN_LENGTH} random characters)"
    if name == "LICENSE_SIGNING_KEY":
        from app.signing_keys import parse_signing_key

        try:
            parse_signing_key(value)
        except (ValueError, TypeError):
            return "is not an Ed25519 private key (PEM, or base64 of a 32-byte seed)"
    if name == "APP_TOKEN_SIGNING_KEYS":
        from app.signing_keys import parse_ec_signing_keys

        try:
            parse_ec_signing_keys(value)
        except (ValueError, TypeError):
            return "is not a list of EC P-256 private keys (PEM, or base64 of PKCS#8 DER)"
    return None


def _sender_problem(value):
    """Why MAIL_DEFAULT_SENDER cannot be the From of production mail, or None."""
    from email.utils import parseaddr

    from email_validator import EmailNotValidError, validate_email

    _name, address = parseaddr(value)
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return f"is not an address mail can come from ('Tradepost <no-reply@your-domain>'): {exc}"
    return None


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_from_env():
    """The configuration class named by TRADEPOST_ENV (development by default)."""
    name = env_value("TRADEPOST_ENV") or "development"
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"TRADEPOST_ENV must be one of {', '.join(CONFIGS)}, not {name!r}") from None
