"""The Whop emulator: OAuth 2.1 + PKCE sign-in, JWKS, iframe user tokens, webhooks.

``init_app(app)`` mounts it at ``/whop`` on the sandbox app. The main app talks to it exactly
as it talks to api.whop.com, over HTTP. What each module holds:

* ``oauth.py``    — the OAuth/OpenID server: ``/oauth/authorize`` (pick or create a sandbox
                    user, then Allow/Deny), ``/oauth/token`` (PKCE S256, refresh rotation),
                    ``/oauth/userinfo``, ``/.well-known/openid-configuration``
* ``tokens.py``   — the ES256 signing keys, ``x-whop-user-token`` JWTs (``mint_user_token``,
                    the ``/tokens`` page) and the JWKS (``/.well-known/jwks.json``)
* ``proxy.py``    — "open as Whop would": ``/experiences/<id>``, ``/dashboard/<id>`` frame our
                    app through ``/proxy/...``, which adds the user token server-side
* ``webhooks.py`` — ``send_webhook``: Standard Webhooks deliveries to
                    ``APP_BASE_URL/webhooks/whop``, recorded and resendable
* ``pages.py``    — the control panel (``/``), creating users, avatars
* ``store.py``    — the ``whop_*`` tables in SANDBOX_DATABASE, ids, the clock, users
* ``web.py``      — settings, error answers, the HTTP client that calls our app
* ``cli.py``      — the commands of ``flask sandbox whop`` (create-user, mint-token,
                    send-webhook)
* ``templates/whop/`` — the pages' templates
"""

from __future__ import annotations

from flask import Flask

from app.sandbox.whop import oauth, pages, proxy, tokens, webhooks
from app.sandbox.whop.store import close_db


def init_app(app: Flask) -> None:
    """Mount the emulator's pages and APIs at ``/whop`` on ``app``, whose config holds the
    sandbox settings it reads: SANDBOX_DATABASE, APP_BASE_URL, SANDBOX_PUBLIC_URL and the
    WHOP_* app credentials (``create_sandbox_app`` fills them all)."""
    for module in (oauth, tokens, proxy, webhooks, pages):
        app.register_blueprint(module.bp)
    app.teardown_appcontext(close_db)
