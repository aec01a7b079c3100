"""Public developer documentation pages."""
import json

from flask import Blueprint, render_template

from app.services.outbound.catalogue import EVENT_CATALOGUE, TEST_EVENT_TYPE, example_payload
from app.services.outbound.retries import RETRY_DELAYS

bp = Blueprint("docs", __name__, url_prefix="/docs")


@bp.route("/webhooks")
def webhooks():
    examples = {event_type: json.dumps(example_payload(event_type), indent=2)
                for event_type in (*EVENT_CATALOGUE, TEST_EVENT_TYPE)}
    return render_template("docs/webhooks.html", catalogue=EVENT_CATALOGUE, examples=examples,
                           retry_delays=RETRY_DELAYS, test_event_type=TEST_EVENT_TYPE)
