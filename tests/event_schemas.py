"""Plugin: every outbound event the suite causes must match its JSON Schema
(app/services/outbound/schemas.py), as the docs page shows it.

Each `outbox_events` row written in this process is checked as it is inserted — the whole
delivered body (envelope and `data`), so `Z` timestamps, field types and status vocabulary all
count — and a test during which a row failed errors at teardown, naming the event and what
is wrong. The terminal summary says how many events of each type were checked, and which
catalogued types the run never emitted.
"""

import json
from collections import Counter

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import event

from app.clock import now
from app.models import OutboxEvent
from app.services.outbound.catalogue import EVENT_CATALOGUE, TEST_EVENT_TYPE
from app.services.outbound.schemas import event_schema
from app.services.outbound.signing import payload_json

_validators: dict[str, Draft202012Validator] = {}
VIOLATIONS: list[str] = []
CHECKED: Counter = Counter()


def schema_errors(event_type, body):
    """What is wrong with `body` (a delivered event body) by `event_type`'s schema, as text."""
    if event_type not in _validators:
        schema = event_schema(event_type)
        Draft202012Validator.check_schema(schema)
        _validators[event_type] = Draft202012Validator(schema)
    errors = sorted(_validators[event_type].iter_errors(body), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in errors]


def check_outbox_row(row):
    """Check one OutboxEvent about to be written; record what is wrong in VIOLATIONS."""
    if row.type not in (*EVENT_CATALOGUE, TEST_EVENT_TYPE):
        VIOLATIONS.append(f"{row.type}: not in the event catalogue")
        return
    body = json.loads(payload_json(row.public_id, row.type, row.created_at or now(), row.company_id, row.data))
    CHECKED[row.type] += 1
    VIOLATIONS.extend(f"{row.type} {error} in {row.data}" for error in schema_errors(row.type, body))


@event.listens_for(OutboxEvent, "before_insert")
def _check_before_insert(mapper, connection, target):
    check_outbox_row(target)


@pytest.fixture(autouse=True)
def _outbound_events_match_their_schemas():
    """Fail the test (at teardown) if an event it caused does not match its schema."""
    start = len(VIOLATIONS)
    yield
    found = VIOLATIONS[start:]
    del VIOLATIONS[start:]
    assert not found, "outbound events that do not match their JSON Schema:\n" + "\n".join(found)


def pytest_terminal_summary(terminalreporter):
    if not CHECKED:
        return
    checked = ", ".join(f"{name} ×{count}" for name, count in sorted(CHECKED.items()))
    terminalreporter.write_line(f"outbound event schemas: checked {checked}")
    never = sorted(set(EVENT_CATALOGUE) - set(CHECKED))
    if never:
        terminalreporter.write_line(f"outbound event schemas: not emitted in this run: {', '.join(never)}")
