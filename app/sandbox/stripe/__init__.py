"""The Stripe emulator: the API v1 subset Tradepost calls, hosted pages, controls, webhooks.

``init_app(app)`` mounts it on the sandbox app. What each module holds:

* ``api.py``       — ``/v1/...``: the endpoints the ``stripe`` library calls (form decoding,
                     API keys, idempotency keys, Stripe's error shapes)
* ``pages.py``     — hosted Checkout (``/checkout/<id>``) and Connect onboarding
                     (``/connect/onboarding/<token>``), standing in for stripe.com's pages
* ``portal.py``    — the customer portal: configurations, sessions and the hosted portal page
                     (``/p/session/<token>``: cancel, renew, switch plan, update card)
* ``control.py``   — ``/_sandbox/...``: what happens at Stripe without an API call (renewals,
                     disputes, verification, resending events), as pages and JSON endpoints
* ``clock.py``     — ``/_sandbox/clock/...``: test-clock style period ends (renew, fail, end
                     at period end) and invoice retries, with Stripe's events
* ``ops.py``       — the state changes behind all three, and the events they emit
* ``objects.py``   — builders of Stripe-shaped objects (ids, defaults, nested lists)
* ``store.py``     — the SQLite state: objects, idempotent responses, the delivery queue
* ``webhooks.py``  — the background thread that signs and POSTs events to the app
* ``faults.py``    — failures injected into the next matching API requests (tests of retries)
* ``templates/stripe/`` — the pages' templates
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from app.sandbox.stripe import api, clock, control, pages, portal
from app.sandbox.stripe.faults import Faults
from app.sandbox.stripe.store import Store
from app.sandbox.stripe.webhooks import Deliverer


def init_app(app: Flask) -> None:
    """Mount the emulator on ``app`` (whose config holds the sandbox settings) and start the
    webhook delivery thread unless SANDBOX_DELIVER_WEBHOOKS is off."""
    store = Store(app.config["SANDBOX_DATABASE"])
    deliverer = Deliverer(
        store,
        app.config["APP_BASE_URL"] + "/webhooks/stripe",
        app.config["STRIPE_WEBHOOK_SECRET"],
        bool(app.config["SANDBOX_DELIVER_WEBHOOKS"]),
    )
    app.extensions["sandbox_store"] = store
    app.extensions["sandbox_deliverer"] = deliverer
    app.extensions["sandbox_faults"] = Faults()

    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(clock.bp)

    @app.errorhandler(404)
    @app.errorhandler(405)
    def api_not_found(error: Any) -> Any:
        # Routing errors never reach a blueprint's handlers: answer /v1/ in Stripe's shape here.
        if request.path.startswith("/v1/"):
            message = f"Unrecognized request URL ({request.method}: {request.path})."
            return jsonify({"error": {"type": "invalid_request_error", "message": message}}), 404
        return error

    @app.teardown_appcontext
    def release_connection(exc: BaseException | None) -> None:
        # The threaded server runs each request on a fresh thread: close its connection.
        store.close_thread_connection()

    deliverer.start()
