"""Status-like columns (statuses, kinds, roles, tiers...) are `string_enum` columns: the
database takes every value the model lists and refuses any other, whoever writes the row."""

from datetime import timedelta

import pytest
from sqlalchemy import Enum, select, update
from sqlalchemy.exc import IntegrityError

from app.clock import now
from app.extensions import db as _db
from app.models import (
    AccountToken,
    ApiKey,
    CompanyInvitation,
    GigRevision,
    InboundEvent,
    OrderEvent,
    OrderFile,
    OutboxEvent,
    OutgoingEmail,
    Payment,
    Payout,
    Refund,
    UserSession,
    WebhookEndpoint,
    WebhookMessage,
    WhopIdentity,
    WhopPayment,
)
from app.services.outbound.catalogue import example_data
from tests.affiliate_flows import affiliate_rows
from tests.database import truncate_all
from tests.factories import make_cast, make_licensed_shop, make_order
from tests.legends_game import fuzz_world

ENUM_COLUMNS = sorted(
    (table.name, column.name)
    for table in _db.metadata.tables.values()
    for column in table.columns
    if isinstance(column.type, Enum)
)


@pytest.fixture(scope="module")
def one_row_each(app):
    """A row in every table that has a status-like column: written and committed once for the
    module (each test's writes roll back with its transaction), every table emptied at its end.
    Writing them all is most of a test's time; the tests only read and update them."""
    with app.app_context():
        write_one_row_each(_db)
        _db.session.commit()
        _db.session.remove()
    yield
    truncate_all(app)


def write_one_row_each(db):
    cast = make_cast()
    order = make_order(cast, status="disputed")
    company = cast.company
    shop = make_licensed_shop(seller_email="lic-seller@example.com", buyer_email="lic-buyer@example.com")
    payment = Payment(
        company_id=company.id,
        kind="gig",
        buyer_id=cast.buyer.id,
        order_id=order.id,
        amount_cents=10000,
        fee_cents=1000,
        currency="usd",
    )
    endpoint = WebhookEndpoint(company_id=company.id, url="https://example.com/hook", secret_encrypted="x")
    event = OutboxEvent(
        company_id=company.id, public_id="evt_" + "e" * 24, type="order.created", data=example_data("order.created")
    )
    db.session.add_all([payment, endpoint, event])
    db.session.flush()
    db.session.add_all(
        [
            Refund(
                company_id=company.id,
                payment_id=payment.id,
                order_id=order.id,
                amount_cents=500,
                seller_share_cents=450,
                fee_returned_cents=50,
                currency="usd",
            ),
            Payout(company_id=company.id, amount_cents=2000, currency="usd"),
            CompanyInvitation(
                company_id=company.id,
                email="invited@example.com",
                role="member",
                token_hash="1" * 64,
                expires_at=now() + timedelta(days=7),
            ),
            OrderEvent(company_id=company.id, order_id=order.id, action="open_dispute", actor_role="buyer"),
            OrderFile(
                company_id=company.id,
                order_id=order.id,
                purpose="delivery",
                filename="a.txt",
                storage_key="enum/a.txt",
                size_bytes=1,
            ),
            OutgoingEmail(to_email="bea@example.com", subject="Hi", body="Hello"),
            InboundEvent(provider="stripe", event_id="evt_enum", type="charge.refunded", payload={}),
            WebhookMessage(
                company_id=company.id,
                public_id="msg_enum",
                event_id=event.id,
                endpoint_id=endpoint.id,
                event_type="order.created",
            ),
            # Revoked, so that revoked_reason may hold a value (revoked_at and revoked_reason go together).
            UserSession(
                user_id=cast.buyer.id,
                token_hash="0" * 64,
                sign_in_method="password",
                expires_at=now() + timedelta(hours=1),
                revoked_at=now(),
                revoked_reason="sign_out",
            ),
            WhopIdentity(user_id=cast.buyer.id, whop_user_id="user_enum", created_via="oauth"),
            AccountToken(
                user_id=cast.buyer.id,
                purpose="verify_email",
                token_hash="1" * 64,
                email=cast.buyer.email,
                expires_at=now() + timedelta(hours=1),
            ),
            WhopPayment(company_id=shop["company"].id, whop_payment_id="pay_enum", amount_cents=100, currency="usd"),
            ApiKey(company_id=company.id, name="enum", key_hash="2" * 64, key_hint="abcd", scopes="orders:read"),
            # Decided, with a reason, so that every status is allowed by its other checks.
            GigRevision(
                company_id=company.id,
                gig_id=cast.gig.id,
                kind="submission",
                status="rejected",
                content={},
                submitted_at=now(),
                decided_at=now(),
                rejection_reason="Show your own work.",
            ),
        ]
    )
    db.session.flush()
    affiliate_rows(company, order, payment)
    fuzz_world(company, cast.buyer, cast.other_buyer, cast.admin)  # a Legends game with a guild


def test_the_enum_columns_are_the_status_like_columns():
    assert len(ENUM_COLUMNS) == 55
    assert {
        ("orders", "status"),
        ("payments", "status"),
        ("payouts", "status"),
        ("refunds", "status"),
        ("companies", "kyc_status"),
        ("companies", "payout_schedule"),
        ("company_invitations", "role"),
        ("company_members", "role"),
        ("users", "intent"),
        ("order_disputes", "resolution"),
        ("user_sessions", "revoked_reason"),
        ("gig_revisions", "kind"),
        ("gig_revisions", "status"),
        ("api_keys", "mode"),
    } <= set(ENUM_COLUMNS)


@pytest.mark.parametrize("table_name, column_name", ENUM_COLUMNS)
def test_the_database_takes_the_listed_values_and_refuses_others(db, one_row_each, table_name, column_name):
    table = db.metadata.tables[table_name]
    column = table.c[column_name]
    row_id = db.session.scalar(select(table.c.id).order_by(table.c.id).limit(1))
    assert row_id is not None, f"one_row_each wrote no {table_name} row"

    def write(value):
        db.session.execute(update(table).where(table.c.id == row_id).values({column_name: value}))

    for value in column.type.enums:
        with db.session.begin_nested():
            write(value)
    for value in ("bogus", column.type.enums[0].upper(), column.type.enums[0] + " ", ""):
        savepoint = db.session.begin_nested()
        with pytest.raises(IntegrityError, match=f"ck_{table_name}_{column_name}\\b"):
            write(value)
        savepoint.rollback()
    assert db.session.scalar(select(column).where(table.c.id == row_id)) == column.type.enums[-1]
