"""Licensing over real HTTP: buying a licensed product through the sandbox issues a key, a
subscription's key follows the subscription, and concurrent activations never pass the limit."""

import concurrent.futures
import threading
import time
from datetime import datetime, timedelta

import psycopg
import pytest
from sqlalchemy import Engine, event, func, select

from app.clock import freeze
from app.extensions import db
from app.models import License, LicenseActivation, Membership
from app.services.licensing import public_api
from app.services.licensing.license_keys import license_key
from tests import loopback
from tests.factories import (
    make_connected_account,
    make_licensed_shop,
    make_policy,
    make_product,
    make_seller,
    make_user,
)
from tests.forms import pay_hosted_checkout, post_form, sign_in_as
from tests.waiting import wait_for_inbound

pytestmark = pytest.mark.committed


@pytest.fixture
def shop(app, sandbox):
    with app.app_context():
        _, company = make_seller("seller@example.com")
        make_connected_account(sandbox, company)
        make_policy(make_product(company, "desktop-app", "one_time", 4900), max_activations=2)
        make_policy(make_product(company, "cloud-plugin", "month", 1500), max_activations=1)
        make_user("buyer@example.com")


@pytest.fixture
def buyer(client, shop):
    return sign_in_as(client, "buyer@example.com")


@pytest.fixture
def clock():
    yield freeze
    freeze(None)


def validate(live_server, key, **extra):
    return loopback.post(f"{live_server}/api/v1/licenses/validate", json={"key": key, **extra}, timeout=10).json()


def the_key(app):
    with app.app_context():
        return license_key(db.session.scalars(select(License)).one())


def test_buying_a_licensed_product_issues_a_key(app, buyer, live_server, run_jobs):
    response = post_form(buyer, "/products/desktop-app/checkout")
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()
    key = the_key(app)
    with app.app_context():
        license = db.session.scalars(select(License)).one()
        membership = db.session.scalars(select(Membership)).one()
        assert (license.membership_id, license.buyer_id, license.max_activations) == (
            membership.id,
            membership.buyer_id,
            2,
        )
        assert license.access_ends_at is None and license.expires_at is None
    assert key in buyer.get("/account/licenses").get_data(as_text=True)
    answer = validate(live_server, key)
    assert answer["valid"] is True and answer["license"]["product_id"] == license.product_id

    run_jobs()  # a replayed completion issues no second key
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(License)) == 1


def test_subscription_key_expires_with_it_and_returns_on_renewal(app, buyer, sandbox, live_server, run_jobs, clock):
    response = post_form(buyer, "/products/cloud-plugin/checkout")
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    wait_for_inbound(app, "invoice.paid")
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()
    key = the_key(app)
    with app.app_context():
        membership = db.session.scalars(select(Membership)).one()
        period_end, subscription_id = membership.current_period_end, membership.stripe_subscription_id
    assert validate(live_server, key)["code"] == "VALID"

    clock(period_end + timedelta(days=2))  # the period ran out and no renewal arrived
    assert validate(live_server, key)["code"] == "EXPIRED"

    renewed = loopback.post(f"{sandbox}/_sandbox/subscriptions/{subscription_id}/advance", json={"outcome": "paid"})
    assert renewed.status_code == 200, renewed.text
    wait_for_inbound(app, "invoice.paid", count=2)
    wait_for_inbound(app, "customer.subscription.updated")  # carries the new period; sent after the invoice
    run_jobs()
    answer = validate(live_server, key)
    assert answer["code"] == "VALID"
    assert datetime.fromisoformat(answer["license"]["expires_at"]) > period_end + timedelta(days=2)

    canceled = loopback.post(f"{sandbox}/_sandbox/subscriptions/{subscription_id}/cancel", json={})
    assert canceled.status_code == 200, canceled.text
    wait_for_inbound(app, "customer.subscription.deleted")
    run_jobs()
    with app.app_context():
        assert db.session.scalars(select(Membership)).one().status == "canceled"
    answer = validate(live_server, key)
    assert (answer["valid"], answer["code"]) == (False, "EXPIRED")


def test_twenty_concurrent_activations_never_pass_the_maximum(app, live_server):
    with app.app_context():
        key = make_licensed_shop(max_activations=5)["key"]

    def activate(n):
        return loopback.post(
            f"{live_server}/api/v1/licenses/activate", json={"key": key, "fingerprint": f"machine-{n}"}, timeout=30
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(activate, range(20)))
    assert statuses.count(201) == 5 and statuses.count(409) == 15, statuses
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LicenseActivation)) == 5
        assert db.session.scalars(select(License)).one().activation_count == 5


def test_twenty_concurrent_activations_of_one_machine_take_one_seat(app, live_server):
    """Racing requests for the same new machine: one activates it, the others find it active
    (on PostgreSQL a request whose INSERT met the other's row takes no seat)."""
    with app.app_context():
        key = make_licensed_shop(max_activations=5)["key"]

    def activate(_):
        answer = loopback.post(
            f"{live_server}/api/v1/licenses/activate", json={"key": key, "fingerprint": "one-machine"}, timeout=30
        )
        return answer.status_code, answer.json()["license"]["activations"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(activate, range(20)))
    assert sorted(status for status, _ in answers) == [200] * 19 + [201], answers
    assert {count for _, count in answers} == {1}, answers
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LicenseActivation)) == 1
        assert db.session.scalars(select(License)).one().activation_count == 1


def test_a_machine_activated_while_its_twin_request_waits_takes_one_seat(app):
    """One request activates a machine and holds its transaction open; a second request for
    the same machine waits for the key's row, then finds the machine active (on PostgreSQL it
    locked the key when the first committed, met the first's row on INSERT and so took no seat)."""
    with app.app_context():
        key = make_licensed_shop(max_activations=5)["key"]
        postgres = db.session.get_bind().dialect.name == "postgresql"
    answers = {}

    def second():
        with app.app_context():
            license, activation, created = public_api.activate_license(key, "twin")
            answers["second"] = (created, activation.fingerprint, license.activation_count)
            db.session.commit()

    with app.app_context():
        _, _, created = public_api.activate_license(key, "twin")  # the row stays locked until commit
        waiter = threading.Thread(target=second)
        waiter.start()
        deadline = time.monotonic() + 10
        while postgres and time.monotonic() < deadline and not _waiting_for_a_lock(app):
            time.sleep(0.02)
        time.sleep(0 if postgres else 0.3)  # SQLite: the second's BEGIN IMMEDIATE waits
        db.session.commit()
    waiter.join(30)
    assert created and answers["second"] == (False, "twin", 1)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LicenseActivation)) == 1
        assert db.session.scalars(select(License)).one().activation_count == 1


def _waiting_for_a_lock(app):
    with psycopg.connect(app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", ""), autocommit=True) as conn:
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return conn.execute(waiting).fetchone()[0] > 0


def test_validate_and_activate_each_run_one_statement_on_a_connection_in_autocommit(app):
    """With the app's own engine (no test transaction around it): validate and activate each
    send one statement; on PostgreSQL on a pooled connection in autocommit (the statement is
    its own transaction: no BEGIN or COMMIT round trips), on SQLite in the session's
    transaction. What they wrote is kept either way."""
    with app.app_context():
        shop = make_licensed_shop(max_activations=2)
        postgres = db.engine.dialect.name == "postgresql"
    seen = []

    def record(conn, _cursor, statement, _parameters, _context, _executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN")):
            seen.append((statement.split()[0], conn.get_execution_options().get("isolation_level")))

    client = app.test_client()
    event.listen(Engine, "before_cursor_execute", record)
    try:
        validated = client.post("/api/v1/licenses/validate", json={"key": shop["key"]})
        activated = client.post("/api/v1/licenses/activate", json={"key": shop["key"], "fingerprint": "host-a"})
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert (validated.status_code, validated.get_json()["code"]) == (200, "VALID")
    assert (activated.status_code, activated.get_json()["code"]) == (201, "ACTIVATED")
    if postgres:
        assert seen == [("WITH", "AUTOCOMMIT"), ("WITH", "AUTOCOMMIT")]
    else:
        assert [statement for statement, _ in seen] == ["SELECT", "UPDATE", "UPDATE", "INSERT"]
        assert "AUTOCOMMIT" not in {level for _, level in seen}
    with app.app_context():
        license = db.session.scalars(select(License)).one()
        assert license.last_validated_at is not None and license.activation_count == 1
        assert db.session.scalars(select(LicenseActivation.fingerprint)).all() == ["host-a"]
