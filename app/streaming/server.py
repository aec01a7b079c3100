"""The Legends live-updates process: a small Flask app served by gunicorn's gevent worker.

    gunicorn --worker-class gevent --bind 127.0.0.1:5060 'app.streaming.server:create_stream_app()'

It needs only the configuration (SECRET_KEY to check the links pages embed, REDIS_URL,
APP_BASE_URL for CORS) and Redis: no database, no blueprints of the web app. Endpoints:

- `GET /stream/legends/<company_id>?token=…[&last_event_id=N]` — `text/event-stream` of that
  game's live updates meant for everyone or for the token's user; a comment line every
  LEGENDS_STREAM_HEARTBEAT_SECONDS; `Last-Event-ID` (or `last_event_id`) replays what this
  process still holds. Refusals are JSON `{"error": {"code", "message"}}`: 401 without a
  valid, unexpired token, 403 for another game's token, 503 with Retry-After when Redis is down.
- `GET /healthz` — `{"status": "ok", "redis": true|false}`.
- `GET /metrics` — this process's Prometheus figures (Bearer METRICS_TOKEN when set).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator

from flask import Flask, Response, current_app, jsonify, request
from gevent.queue import Empty
from redis.exceptions import RedisError

from app import metrics
from app.config import config_from_env, load_env_file
from app.errors import ServiceError
from app.services.legends.live import origin_of, read_stream_token
from app.streaming.hub import CLOSE, Hub

log = logging.getLogger(__name__)

# The browser waits this long before reconnecting after the stream ends (EventSource `retry:`).
RETRY_MS = 3000
UNAVAILABLE = "Live updates are paused for a moment; the page keeps itself up to date meanwhile."


def create_stream_app(config_class=None) -> Flask:
    """The streaming app for `config_class` (default: chosen by TRADEPOST_ENV after `.env`)."""
    if config_class is None:
        load_env_file()
        config_class = config_from_env()
    config = config_class()
    config.validate()
    app = Flask(__name__)
    app.config.from_object(config)
    logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.extensions["legends_hub"] = Hub(app.config["REDIS_URL"])
    app.extensions["app_origin"] = origin_of(app.config["APP_BASE_URL"])

    @app.after_request
    def allow_the_app(response: Response) -> Response:
        # Pages come from the web app's origin (another port locally): EventSource is CORS.
        response.headers["Access-Control-Allow-Origin"] = app.extensions["app_origin"]
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.errorhandler(ServiceError)
    def refuse(error: ServiceError):
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(404)
    def not_found(_error):
        return error_response(404, "not_found", "Not found.")

    @app.errorhandler(405)
    def not_allowed(_error):
        return error_response(405, "method_not_allowed", "Only GET is served here.")

    @app.errorhandler(Exception)
    def unexpected(_error):
        log.exception("legends stream: unexpected error on %s", request.path)
        return error_response(500, "internal_error", "Something went wrong on our side.")

    app.add_url_rule("/stream/legends/<int:company_id>", "stream", stream)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/metrics", "metrics", metrics_text)
    return app


def error_response(status: int, code: str, message: str, retry_after: int | None = None):
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def last_event_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if raw is None or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


def stream(company_id: int):
    """The live updates of one game for the token's user (see the module docstring)."""
    user_id = read_stream_token(
        request.args.get("token"),
        company_id,
        current_app.config["SECRET_KEY"],
        current_app.config["LEGENDS_STREAM_TOKEN_SECONDS"],
    )
    hub: Hub = current_app.extensions["legends_hub"]
    if not hub.available():
        return error_response(503, "stream_unavailable", UNAVAILABLE, retry_after=10)
    try:
        listener, replay = hub.join(company_id, user_id, last_event_id())
    except (RedisError, OSError) as error:
        log.warning("legends stream: cannot subscribe to game %s: %s", company_id, error)
        return error_response(503, "stream_unavailable", UNAVAILABLE, retry_after=10)
    heartbeat = current_app.config["LEGENDS_STREAM_HEARTBEAT_SECONDS"]

    def events() -> Iterator[bytes]:
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
            if replay:
                metrics.LEGENDS_SSE_MESSAGES.labels(how="replayed").inc(len(replay))
                yield b"".join(replay)
            while True:
                try:
                    frame = listener.queue.get(timeout=heartbeat)
                except Empty:
                    yield b": heartbeat\n\n"
                    continue
                if frame is CLOSE:
                    yield b'event: unavailable\ndata: {"retry": true}\n\n'
                    return
                # Everything already waiting goes out in one write.
                frames = [frame]
                while not listener.queue.empty() and frames[-1] is not CLOSE:
                    frames.append(listener.queue.get_nowait())
                if frames[-1] is CLOSE:
                    yield b"".join(frames[:-1]) + b'event: unavailable\ndata: {"retry": true}\n\n'
                    return
                yield b"".join(frames)
        finally:
            hub.leave(listener)

    return Response(
        events(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def healthz():
    hub: Hub = current_app.extensions["legends_hub"]
    return jsonify(status="ok", redis=hub.available())


def metrics_text():
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return error_response(401, "unauthorized", "Send Authorization: Bearer <METRICS_TOKEN>.")
    return Response(metrics.exposition(), mimetype=metrics.CONTENT_TYPE)
