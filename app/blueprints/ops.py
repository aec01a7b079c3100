"""Operations endpoints: liveness, readiness and Prometheus metrics.

None of them sets a cookie, touches the session or is cached; /metrics needs
`Authorization: Bearer <METRICS_TOKEN>` (open only when METRICS_TOKEN is unset, which
production refuses).
"""

import hmac

from flask import Blueprint, Response, current_app, jsonify, request

from app import metrics
from app.health import readiness_checks, run_checks

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
def healthz():
    """Liveness: the process answers requests (dependencies are /readyz's business)."""
    return jsonify(status="ok")


@bp.route("/readyz")
def readyz():
    """200 when every dependency check passes; 503 naming the ones that fail."""
    checks, failing = run_checks(readiness_checks())
    status = 503 if failing else 200
    return jsonify(status="unavailable" if failing else "ok", failing=failing, checks=checks), status


def _authorized() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        return True
    scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@bp.route("/metrics")
def metrics_text():
    """Prometheus text exposition of every process's metrics (see app/metrics.py)."""
    if not _authorized():
        response = jsonify(error={"code": "unauthorized", "message": "Send Authorization: Bearer <METRICS_TOKEN>."})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    live = current_app.extensions.get("metrics_live")
    return Response(metrics.exposition(live), content_type=metrics.CONTENT_TYPE)
