"""Configuration classes, all read from the environment.

`TRADEPOST_ENV` picks one: development (default), test, production. In development a
`.env` file is read first (python-dotenv), so a fresh clone runs with no setup at all.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = BASE_DIR / "instance"

# Development defaults shared with the sandbox process, so `make run` works without a .env.
DEV_STRIPE_SECRET_KEY = "sk_test_tradepost_sandbox"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_tradepost_dev_stripe_secret"
DEV_WHOP_WEBHOOK_SECRET = "ws_tradepost_dev_whop_secret"
DEV_WHOP_APP_ID = "app_tradepost_dev"
DEV_WHOP_CLIENT_ID = "tradepost-dev-client"
DEV_WHOP_CLIENT_SECRET = "tradepost-dev-client-secret"
DEV_REDIS_PORT = 6380


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def database_url(url):
    """Point plain PostgreSQL URLs at the psycopg 3 driver we install."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class ConfigError(RuntimeError):
    """Raised at start-up when the configuration cannot run safely."""


class Config:
    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-insecure-secret-key-change-me")
    SQLALCHEMY_DATABASE_URI = database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'tradepost.db'}")
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", f"redis://127.0.0.1:{DEV_REDIS_PORT}/0")

    APP_BASE_URL = os.environ.get("APP_BASE_URL", "http://127.0.0.1:5000")
    SANDBOX_ENABLED = env_bool("SANDBOX_ENABLED", True)
    SANDBOX_URL = os.environ.get("SANDBOX_URL", "http://127.0.0.1:5055")
    # `flask seed-demo` gives demo sellers real Connect accounts in the sandbox (starting one if needed).
    SEED_SANDBOX_ACCOUNTS = env_bool("SEED_SANDBOX_ACCOUNTS", True)

    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", DEV_STRIPE_SECRET_KEY)
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", DEV_STRIPE_WEBHOOK_SECRET)
    WHOP_WEBHOOK_SECRET = os.environ.get("WHOP_WEBHOOK_SECRET", DEV_WHOP_WEBHOOK_SECRET)
    WHOP_APP_ID = os.environ.get("WHOP_APP_ID") or DEV_WHOP_APP_ID
    WHOP_CLIENT_ID = os.environ.get("WHOP_CLIENT_ID") or DEV_WHOP_CLIENT_ID
    WHOP_CLIENT_SECRET = os.environ.get("WHOP_CLIENT_SECRET") or DEV_WHOP_CLIENT_SECRET
    # Fernet key (urlsafe base64, 32 bytes) for stored Whop refresh tokens; unset: derived
    # from SECRET_KEY (see app/services/whop_accounts.py).
    WHOP_TOKEN_KEY = os.environ.get("WHOP_TOKEN_KEY") or None

    PLATFORM_FEE_BPS = int(os.environ.get("PLATFORM_FEE_BPS", "1000"))
    PAYOUT_MINIMUM_CENTS = int(os.environ.get("PAYOUT_MINIMUM_CENTS", "2000"))
    CLEARANCE_DAYS = int(os.environ.get("CLEARANCE_DAYS", "14"))
    # Anonymous listing, search and gig pages are cached this long in Redis (0 = off).
    PAGE_CACHE_SECONDS = int(os.environ.get("PAGE_CACHE_SECONDS", "30"))
    # Uploaded files (gig images, deliveries, member files); default instance/uploads.
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR") or None
    CURRENCY = os.environ.get("CURRENCY", "usd")

    # Largest request body for any form or JSON call (413 past it); views taking file uploads
    # declare their own allowance with app.inputs.body_limit.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH") or 1024 * 1024)

    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"

    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_KEY_PREFIX = "tp-limits"
    SIGNIN_RATE_LIMIT = os.environ.get("SIGNIN_RATE_LIMIT", "10/minute")
    # License API: the Ed25519 key that signs every answer (base64 of the 32-byte seed, or PEM).
    # Unset: generated once under instance/ in development, per process in tests.
    LICENSE_SIGNING_KEY = os.environ.get("LICENSE_SIGNING_KEY")
    LICENSE_RATE_LIMIT_PER_IP = os.environ.get("LICENSE_RATE_LIMIT_PER_IP", "100/minute")
    LICENSE_RATE_LIMIT_PER_KEY = os.environ.get("LICENSE_RATE_LIMIT_PER_KEY", "60/minute")

    RQ_QUEUES = ("default", "webhooks", "scheduled")
    # Outbound webhooks: refuse plain http in production; private addresses only for local dev.
    WEBHOOKS_REQUIRE_HTTPS = env_bool("WEBHOOKS_REQUIRE_HTTPS", False)
    WEBHOOKS_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", False)

    def __init__(self):
        # Derived settings resolved per instance, so a subclass's overrides apply.
        if self.SANDBOX_ENABLED:
            self.STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", self.SANDBOX_URL)
            self.WHOP_API_BASE = os.environ.get("WHOP_API_BASE", self.SANDBOX_URL + "/whop")
        else:
            self.STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "https://api.stripe.com")
            self.WHOP_API_BASE = os.environ.get("WHOP_API_BASE", "https://api.whop.com")
        self.WHOP_JWKS_URL = (os.environ.get("WHOP_JWKS_URL")
                              or self.WHOP_API_BASE.rstrip("/") + "/.well-known/jwks.json")
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL

    def validate(self):
        """Refuse configurations that cannot run safely; a no-op outside production."""


class DevelopmentConfig(Config):
    DEBUG = False


class TestConfig(Config):
    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("TEST_DATABASE_URL", "sqlite://"))
    WTF_CSRF_ENABLED = True
    # argon2's cheapest parameters keep hundreds of test sign-ins fast; never outside tests.
    ARGON2_PROFILE = "CHEAPEST"
    PAGE_CACHE_SECONDS = 0  # tests of the cache turn it on explicitly
    SEED_SANDBOX_ACCOUNTS = False  # the seed test that wants them uses the sandbox fixture


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    SANDBOX_ENABLED = env_bool("SANDBOX_ENABLED", False)
    WEBHOOKS_REQUIRE_HTTPS = env_bool("WEBHOOKS_REQUIRE_HTTPS", True)

    def validate(self):
        for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "LICENSE_SIGNING_KEY"):
            if not os.environ.get(name):
                raise ConfigError(f"production needs {name} set in the environment")
        if self.SANDBOX_ENABLED:
            raise ConfigError("production refuses SANDBOX_ENABLED: use real Stripe and Whop keys")
        self.SECRET_KEY = os.environ["SECRET_KEY"]
        self.LICENSE_SIGNING_KEY = os.environ["LICENSE_SIGNING_KEY"]
        self.SQLALCHEMY_DATABASE_URI = database_url(os.environ["DATABASE_URL"])
        self.REDIS_URL = self.RATELIMIT_STORAGE_URI = os.environ["REDIS_URL"]


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_from_env():
    """The configuration class named by TRADEPOST_ENV (development by default)."""
    name = os.environ.get("TRADEPOST_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"TRADEPOST_ENV must be one of {', '.join(CONFIGS)}, not {name!r}") from None
