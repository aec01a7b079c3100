"""The hello app: a separate Flask process that Tradepost embeds in an iframe.

What every Tradepost app does, in about a hundred lines:

1. Read the user token from the frame URL (`?tradepost_user_token=…`) or, behind a proxy, the
   `x-tradepost-user-token` header.
2. Verify it with PyJWT against Tradepost's JWKS (`/.well-known/jwks.json`, fetched over HTTP
   and cached; an unknown `kid` makes it fetch again, so keys rotate without a restart):
   algorithm ES256, `iss` = Tradepost's URL, `aud` = this app's id, `exp` not past.
3. Fetch the API key of the installing company (`company_id` claim) once, with the app id and
   secret (HTTP Basic) at `POST /apps/installation-key`, and call the API with it.

Settings (environment): TRADEPOST_URL, TRADEPOST_APP_ID, TRADEPOST_APP_SECRET, and
JWKS_REFRESH_COOLDOWN (seconds between forced JWKS fetches for an unknown kid; default 30).
"""

import os
from typing import Any

import httpx
import jwt
from flask import Flask, jsonify, render_template_string, request

TOKEN_PARAMETER = "tradepost_user_token"
TOKEN_HEADER = "x-tradepost-user-token"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hello app</title></head>
<body style="font-family: system-ui, sans-serif; margin: 1.5rem; color: #1d2a33">
{% if error %}
  <h1>Not verified</h1><p id="error">{{ error }}</p>
{% else %}
  <h1 id="hello">Hello, {{ who.name }}</h1>
  <p>User <code>{{ who.user_id }}</code> of company <code>{{ who.company_id }}</code>, in the {{ who.view }} view.</p>
  <p id="api">Tradepost API: {{ who.api }}</p>
{% endif %}
</body></html>"""


class Verifier:
    """Verifies user tokens with the keys Tradepost publishes (cached by PyJWKClient)."""

    def __init__(self, tradepost_url: str, app_id: str, refresh_cooldown: float = 30):
        self.issuer = tradepost_url.rstrip("/")
        self.app_id = app_id
        # The key set is cached 5 minutes; an unknown `kid` fetches it again, at most once per
        # `refresh_cooldown` seconds (so forged kids cannot make us hammer Tradepost).
        self.jwks = jwt.PyJWKClient(
            self.issuer + "/.well-known/jwks.json", cache_keys=True, lifespan=300, cooldown_duration=refresh_cooldown
        )

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; raises jwt.PyJWTError when it is not valid for this app."""
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=["ES256"],
            audience=self.app_id,
            issuer=self.issuer,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )


class Tradepost:
    """Calls to Tradepost's API on behalf of installing companies (one key each, cached)."""

    def __init__(self, tradepost_url: str, app_id: str, app_secret: str):
        self.http = httpx.Client(base_url=tradepost_url.rstrip("/"), timeout=10)
        self.auth = (app_id, app_secret)
        self.keys: dict[str, str] = {}

    def key_for(self, company_id: str) -> str | None:
        if company_id not in self.keys:
            answer = self.http.post("/apps/installation-key", json={"company_id": company_id}, auth=self.auth)
            if answer.status_code != 200:
                return None
            self.keys[company_id] = answer.json()["api_key"]
        return self.keys[company_id]

    def products(self, company_id: str) -> str:
        """What the API says about the company's products, in a few words."""
        key = self.key_for(company_id)
        if key is None:
            return "no API key (the app is not installed for this company)"
        answer = self.http.get("/api/v1/products", params={"limit": 3}, headers={"Authorization": f"Bearer {key}"})
        if answer.status_code != 200:
            if answer.status_code == 401:
                self.keys.pop(company_id, None)  # revoked: ask again next time
            return f"refused ({answer.status_code})"
        return f"products: {len(answer.json().get('data', []))}"


def create_app() -> Flask:
    tradepost_url = os.environ["TRADEPOST_URL"].rstrip("/")
    app_id = os.environ["TRADEPOST_APP_ID"]
    verifier = Verifier(tradepost_url, app_id, float(os.environ.get("JWKS_REFRESH_COOLDOWN", "30")))
    tradepost = Tradepost(tradepost_url, app_id, os.environ["TRADEPOST_APP_SECRET"])
    app = Flask(__name__)

    def who_is_looking() -> tuple[dict[str, Any] | None, str | None]:
        token = request.args.get(TOKEN_PARAMETER) or request.headers.get(TOKEN_HEADER)
        if not token:
            return None, "No user token: open this app from Tradepost."
        try:
            claims = verifier.verify(token)
        except jwt.PyJWTError as exc:
            return None, f"Token refused: {exc}"
        company_id = str(claims.get("company_id", ""))
        who = {
            "user_id": claims["sub"],
            "name": claims.get("name", ""),
            "company_id": company_id,
            "view": claims.get("view", ""),
            "api": tradepost.products(company_id),
        }
        return who, None

    @app.after_request
    def headers(response):
        # Only Tradepost may frame us; the token in our URL is never sent on as a Referer.
        response.headers["Content-Security-Policy"] = f"frame-ancestors {tradepost_url}"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/health")
    def health():
        return jsonify(ok=True)

    @app.get("/whoami")
    def whoami():
        who, error = who_is_looking()
        if error:
            return jsonify(error=error), 401
        return jsonify(who)

    @app.post("/")
    @app.post("/echo")
    def echo():
        """A form post of the frame (through Tradepost's proxy, the token is in the header)."""
        who, error = who_is_looking()
        if error:
            return jsonify(error=error), 401
        return jsonify(who=who, message=request.form.get("message", ""))

    @app.get("/")
    @app.get("/<path:view>")
    def view(view: str = ""):
        who, error = who_is_looking()
        return render_template_string(PAGE, who=who, error=error), 401 if error else 200

    return app
