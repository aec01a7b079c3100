"""Every Alembic revision upgrades and downgrades, on SQLite and (in CI) PostgreSQL, with
rows in the tables; a migrated database has exactly the models' CHECK constraints."""

import re
import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.extensions import db
from app.models import OrderDispute
from tests.database import make_test_config
from tests.factories import make_cast, make_order


@pytest.fixture
def make_scratch_database(database_url, tmp_path):
    """make_scratch_database() → the URL of an empty database of the same kind as the suite's;
    each is dropped afterwards."""
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    names = []

    def make():
        name = f"tp_migrations_{uuid.uuid4().hex[:8]}"
        names.append(name)
        if url.get_backend_name() != "postgresql":
            return f"sqlite:///{tmp_path / name}.db"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return url.set(database=name).render_as_string(hide_password=False)

    yield make
    if url.get_backend_name() == "postgresql":
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def scratch_database_url(make_scratch_database):
    """An empty database of the same kind as the suite's, dropped afterwards."""
    return make_scratch_database()


def table_names(app):
    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def test_migrations_upgrade_downgrade_and_upgrade_again(scratch_database_url, redis_url):
    app = create_app(make_test_config(scratch_database_url, redis_url))
    with app.app_context():
        upgrade(revision="heads")
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "companies", "company_members", "audit_events", "notifications"} <= tables
        assert set(db.metadata.tables) <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(revision="heads")
        assert set(db.metadata.tables) <= set(inspect(db.engine).get_table_names())
        db.engine.dispose()


def check_constraints(app):
    """{(table, constraint name): its SQL, whitespace folded} as the database reports them."""
    with app.app_context():
        inspector = inspect(db.engine)
        found = {
            (table, check["name"]): re.sub(r"\s+", " ", check["sqltext"]).strip()
            for table in inspector.get_table_names()
            for check in inspector.get_check_constraints(table)
        }
        db.engine.dispose()
    return found


def test_a_migrated_database_has_exactly_the_models_check_constraints(make_scratch_database, redis_url):
    """`flask db check` compares columns, indexes and keys but not CHECKs: this does, so a
    model's allowed values (string_enum) and its migrations cannot drift apart."""
    migrated = create_app(make_test_config(make_scratch_database(), redis_url))
    with migrated.app_context():
        upgrade(revision="heads")
    modelled = create_app(make_test_config(make_scratch_database(), redis_url))
    with modelled.app_context():
        db.create_all()

    from_migrations, from_models = check_constraints(migrated), check_constraints(modelled)
    assert from_migrations == from_models
    assert {
        ("orders", "ck_orders_status"),
        ("payouts", "ck_payouts_status"),
        ("users", "ck_users_intent"),
        ("order_disputes", "ck_order_disputes_resolution"),
    } <= set(from_models)
    assert len(from_models) >= 60


def row_counts():
    """Rows per table the database has at its revision (later revisions add tables); the session
    is closed again (SQLite: its transaction holds the write lock)."""
    present = set(inspect(db.engine).get_table_names())
    counts = {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
        if table.name in present
    }
    db.session.remove()
    return counts


def test_the_status_enum_revision_keeps_rows_and_refuses_unknown_values(scratch_database_url, redis_url):
    app = create_app(make_test_config(scratch_database_url, redis_url))
    with app.app_context():
        upgrade(revision="0012")
        order = make_order(make_cast(), status="disputed")
        db.session.commit()
        dispute_id = db.session.scalar(select(OrderDispute.id).where(OrderDispute.order_id == order.id))
        db.session.remove()
        before = row_counts()
        assert before["order_disputes"] == before["orders"] == 1 and before["users"] >= 5

        def refused(resolution):
            try:
                with db.engine.begin() as conn:
                    conn.execute(
                        text("UPDATE order_disputes SET resolution = :value WHERE id = :id"),
                        {"value": resolution, "id": dispute_id},
                    )
                    conn.execute(text("UPDATE order_disputes SET resolution = NULL WHERE id = :id"), {"id": dispute_id})
            except IntegrityError:
                return True
            return False

        for revision, step in (("0013", upgrade), ("0012", downgrade), ("heads", upgrade)):
            step(revision=revision)
            after = row_counts()  # tables of later revisions start empty
            assert {name: after[name] for name in before} == before, revision
            assert all(after[name] == 0 for name in after.keys() - before.keys()), revision
            assert refused("bogus") and refused("REFUND") and refused("")
            assert not refused("partial_refund") and not refused("refund")
            assert db.session.scalar(select(OrderDispute.resolution).where(OrderDispute.id == dispute_id)) is None
            db.session.remove()
        db.engine.dispose()
