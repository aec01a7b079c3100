"""The plumbing people rely on: health, errors, headers, config, CLI, jobs."""

import pytest
from flask import Response
from redis import Redis
from sqlalchemy import func, select

from app.clock import freeze, now
from app.models import Category, Company, Notification, User
from app.queue import enqueue
from tests.forms import post_form
from tests.processes import free_port


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_names_redis_when_it_is_stopped(app, client, tmp_path):
    from app.devredis import start_redis_server

    port = free_port()
    server = start_redis_server(port, tmp_path)
    original = app.extensions["redis"]
    app.extensions["redis"] = Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        assert client.get("/readyz").json["checks"]["redis"] == "ok"
        server.terminate()
        server.wait(timeout=10)
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "redis" in response.json["failing"]
        assert response.json["checks"]["redis"].startswith("error: ")
        assert response.json["checks"]["database"] == "ok"
        assert client.get("/healthz").status_code == 200  # alive all the same
    finally:
        app.extensions["redis"] = original
        if server.poll() is None:
            server.kill()


def test_not_found_is_html_for_browsers_and_json_for_apis(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert "Page not found" in page.get_data(as_text=True)
    api = client.get("/api/v1/nothing")
    assert api.status_code == 404
    assert api.json["error"]["code"] == "not_found"
    wanted = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert wanted.json["error"]["code"] == "not_found"


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in client.get("/nope").headers["Content-Security-Policy"]


def test_security_headers_are_added_once_and_a_responses_own_header_wins(app):
    with app.test_request_context("/gigs"):
        own = Response("x", headers={"Content-Security-Policy": "default-src 'none'", "referrer-policy": "no-referrer"})
        headers = app.process_response(own).headers
    assert headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert headers.getlist("Referrer-Policy") == ["no-referrer"]
    assert headers.getlist("X-Frame-Options") == ["DENY"]
    assert headers.getlist("X-Content-Type-Options") == ["nosniff"]
    with app.test_request_context("/experiences/exp_1"):
        framed = app.process_response(Response("x")).headers
    assert "frame-ancestors 'self' https://whop.com https://*.whop.com" in framed["Content-Security-Policy"]
    assert "X-Frame-Options" not in framed


def test_signed_in_pages_carry_the_csrf_meta_tag_and_vendored_htmx(client, make_user, sign_in):
    anonymous = client.get("/").get_data(as_text=True)
    assert 'hx-boost="true"' in anonymous
    assert '<meta name="csrf-token"' not in anonymous  # anonymous pages may come from the page cache
    sign_in(make_user())
    assert '<meta name="csrf-token"' in client.get("/").get_data(as_text=True)
    with client.get("/static/vendor/htmx.min.js") as htmx:
        assert htmx.status_code == 200
        assert b"htmx.org 2." in htmx.data[:100]


# Production configuration (secrets, .env, proxies, HSTS, ports): tests/test_config.py


def test_make_admin_command(app, db, make_user):
    user = make_user(email="boss@example.com")
    result = app.test_cli_runner().invoke(args=["users", "make-admin", "BOSS@example.com"])
    assert result.exit_code == 0, result.output
    assert "boss@example.com is now an admin." in result.output
    db.session.expire_all()
    assert db.session.get(User, user.id).is_admin is True


def test_make_admin_refuses_unknown_email(app, db):
    result = app.test_cli_runner().invoke(args=["users", "make-admin", "nobody@example.com"])
    assert result.exit_code != 0
    assert "No user with email" in result.output


def test_seed_demo_is_idempotent_and_prints_logins(app, db):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    lines = first.output.strip().splitlines()
    roles = [line.split()[0] for line in lines]
    assert roles.count("admin") == 1 and roles.count("seller") == 3 and roles.count("buyer") == 3
    assert all(len(line.split()) == (2 if line.startswith(("product ", "legends ")) else 3) for line in lines)
    users = db.session.scalar(select(func.count()).select_from(User))
    second = runner.invoke(args=["seed-demo"])
    assert second.output == first.output
    assert db.session.scalar(select(func.count()).select_from(User)) == users
    assert db.session.scalar(select(func.count()).select_from(Category)) >= 6
    sellers = db.session.scalars(select(Company).where(Company.kind == "seller")).all()
    assert len(sellers) == 3
    assert all(c.parent.kind == "platform" for c in sellers)


def test_seeded_accounts_can_sign_in(app, client, db):
    output = app.test_cli_runner().invoke(args=["seed-demo"]).output
    role, email, password = output.splitlines()[0].split()
    assert post_form(client, "/signin", {"email": email, "password": password}).status_code == 303


def test_jobs_run_in_process_against_real_redis(app, db, make_user, run_jobs):
    user = make_user()
    old = Notification(user_id=user.id, kind="t", title="old", read_at=now())
    db.session.add(old)
    db.session.commit()
    freeze(now().replace(year=now().year + 1))
    try:
        enqueue("app.tasks.sweeps.prune_notifications", queue="scheduled")
        assert app.extensions["redis"].llen("rq:queue:scheduled") == 1
        assert run_jobs() == 1
    finally:
        freeze(None)
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_cron_schedule_registers_sweeps():
    from rq import cron

    import app.tasks.schedule  # noqa: F401

    names = [job["func"].__name__ for job in cron._job_data_registry]
    assert "prune_notifications" in names


@pytest.mark.committed
def test_seeded_sellers_get_verified_sandbox_accounts(app, sandbox, monkeypatch):
    from app.payments import get_gateway

    monkeypatch.setitem(app.config, "SEED_SANDBOX_ACCOUNTS", True)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        from app.extensions import db

        verified = db.session.scalars(
            select(Company).where(Company.kyc_status == "verified", Company.kind == "seller")
        ).all()
        assert len(verified) == 2
        for company in verified:
            account = get_gateway().retrieve_account(company.stripe_account_id)
            assert account.charges_enabled and account.payouts_enabled
        first_ids = [company.stripe_account_id for company in verified]
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        assert [db.session.get(Company, company.id).stripe_account_id for company in verified] == first_ids
