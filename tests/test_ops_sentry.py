"""Sentry: off unless SENTRY_DSN is set; on, an unexpected error reaches it with the request
id. Run in a process of its own: sentry-sdk instruments libraries process-wide."""

import gzip
import json
import subprocess
import sys
import textwrap

from tests.processes import REPO_ROOT

SCRIPT = textwrap.dedent(
    """
    import sys
    import sentry_sdk
    from app import create_app
    from tests.database import make_test_config

    dsn, database_url, redis_url = sys.argv[1:4]
    app = create_app(make_test_config(database_url, redis_url, SENTRY_DSN=dsn or None))
    assert (sentry_sdk.get_client().is_active()) == bool(dsn)

    def broken():
        raise RuntimeError("a bug for Sentry")

    app.view_functions["ops.healthz"] = broken
    response = app.test_client().get("/healthz", headers={"X-Request-ID": "req-for-sentry"})
    assert response.status_code == 500, response.status_code
    sentry_sdk.flush(timeout=10)
    print("done")
    """
)


def run(dsn, database_url, redis_url):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, dsn, database_url, redis_url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "done" in result.stdout, result.stderr[-3000:]


def envelope_items(received):
    body = received.body
    if received.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return [json.loads(line) for line in body.decode().splitlines() if line.strip().startswith("{")]


def test_unexpected_errors_reach_sentry_with_the_request_id(sink, database_url, redis_url):
    host = sink.url.removeprefix("http://")
    run(f"http://publickey@{host}/42", database_url, redis_url)
    sink.wait_for("/api/42/envelope/")
    items = [item for received in sink.on("/api/42/envelope/") for item in envelope_items(received)]
    [event] = [item for item in items if "exception" in item]  # once, though it is also logged
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["request_id"] == "req-for-sentry"
    assert event["environment"] == "test"


def test_sentry_is_off_by_default(sink, database_url, redis_url):
    run("", database_url, redis_url)
    assert sink.on("/api/42/envelope/") == []
