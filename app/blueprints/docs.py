"""Public developer documentation: outbound webhooks and the license-key API."""

import json

from flask import Blueprint, current_app

from app.config import ConfigError
from app.services.licensing import public_api, signing
from app.services.outbound.catalogue import EVENT_CATALOGUE, TEST_EVENT_TYPE, example_payload
from app.services.outbound.retries import RETRY_DELAYS
from app.services.outbound.schemas import event_schema
from app.web import render

bp = Blueprint("docs", __name__, url_prefix="/docs")


@bp.route("/webhooks")
def webhooks():
    examples = {
        event_type: json.dumps(example_payload(event_type), indent=2)
        for event_type in (*EVENT_CATALOGUE, TEST_EVENT_TYPE)
    }
    return render(
        "docs/webhooks.html",
        catalogue=EVENT_CATALOGUE,
        examples=examples,
        schemas={event_type: json.dumps(event_schema(event_type), indent=2) for event_type in examples},
        retry_delays=RETRY_DELAYS,
        test_event_type=TEST_EVENT_TYPE,
    )


@bp.route("/licensing")
def licensing():
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    try:
        public_key_pem = signing.signing_key().public_pem.strip()
    except ConfigError:
        public_key_pem = "paste public_key_pem from /api/v1/licenses/public-key here"
    return render(
        "docs/licensing.html",
        api_base=base,
        codes=public_api.CODES,
        messages=public_api.MESSAGES,
        public_key_pem=public_key_pem,
        ttl_default_days=public_api.FILE_TTL_DEFAULT.days,
        ttl_max_days=public_api.FILE_TTL_MAX.days,
    )
