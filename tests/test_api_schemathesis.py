"""schemathesis over the whole OpenAPI document (/api/v1/openapi.json), against the app over
WSGI with a valid key of a seeded company: no 5xx, every answer's status, content type and
body as documented, and every keyed operation refuses a request without its key (401).
Bounded (a few examples per operation, derandomized) so it takes well under a minute."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_v1 import make_api_shop

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 12


def test_every_operation_behaves_as_documented(app, db, monkeypatch):
    shop = make_api_shop()
    for setting in ("LICENSE_RATE_LIMIT_PER_IP", "LICENSE_RATE_LIMIT_PER_KEY"):
        monkeypatch.setitem(app.config, setting, "100000/minute")
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_PER_MINUTE", 100000)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    headers = {"Authorization": f"Bearer {shop.key}"}

    for operation in operations:
        check_operation(operation, headers)


def check_operation(operation, headers):
    """Run the checks on EXAMPLES_PER_OPERATION generated requests of `operation`."""
    keyed = operation.definition.raw.get("security") != []
    checks = CHECKS + ([ignored_auth] if keyed else [])

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        case.call_and_validate(headers=headers, checks=checks)

    run()
