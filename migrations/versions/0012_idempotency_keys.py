"""idempotency keys: random Stripe keys on money rows, one pending refund/payout at a time

Stripe idempotency keys were built from sequential ids (`checkout:<id>`, `refund:<id>`,
`payout:<id>`, `company:<id>:connect-account`), which repeat after a database reset or on a
second deployment sharing a Stripe account. Each money row now keeps a random key of its own
(existing rows get one here). Refunds remember the order action they belong to; payouts the
form submission that asked for them. At most one refund per payment and one payout per company
is pending (written, Stripe not yet confirmed): a retry finishes that one.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 10:00:00.000000

"""

import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")
# (table, column, length of a fresh random token in bytes)
RANDOM_COLUMNS = (
    ("companies", "stripe_account_key", 24),
    ("checkouts", "idempotency_key", 24),
    ("refunds", "idempotency_key", 24),
    ("payouts", "idempotency_key", 24),
    ("payouts", "request_token", 16),
)
UNIQUE_INDEXES = (
    ("uq_companies_stripe_account_key", "companies", ["stripe_account_key"]),
    ("uq_checkouts_idempotency_key", "checkouts", ["idempotency_key"]),
    ("uq_refunds_idempotency_key", "refunds", ["idempotency_key"]),
    ("uq_payouts_idempotency_key", "payouts", ["idempotency_key"]),
    ("uq_payouts_company_request_token", "payouts", ["company_id", "request_token"]),
)


def _add_not_null(table, column, length=64, default=""):
    """A NOT NULL column on a table that may hold rows. SQLite can add one only with a
    constant default (the rows are given their real values right after); PostgreSQL adds it
    nullable and tightens it once every row has a value."""
    if op.get_bind().dialect.name == "sqlite":
        op.add_column(table, sa.Column(column, sa.String(length=length), nullable=False, server_default=default))
    else:
        op.add_column(table, sa.Column(column, sa.String(length=length), nullable=True))


def _tighten(table, column, length=64):
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(table, column, existing_type=sa.String(length=length), nullable=False)


def _fill_random(table, column, nbytes):
    bind = op.get_bind()
    ids = bind.execute(sa.text(f"SELECT id FROM {table}")).scalars().all()
    for row_id in ids:
        bind.execute(
            sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
            {"value": secrets.token_urlsafe(nbytes), "id": row_id},
        )


def upgrade():
    for table, column, nbytes in RANDOM_COLUMNS:
        _add_not_null(table, column)
        _fill_random(table, column, nbytes)
        _tighten(table, column)
    for name, table, columns in UNIQUE_INDEXES:
        op.create_index(name, table, columns, unique=True)

    op.add_column("refunds", sa.Column("action", sa.String(length=32), nullable=True))
    op.add_column("refunds", sa.Column("note", sa.Text(), nullable=False, server_default=""))
    # `pending` used to mean "Stripe is still processing a refund we already recorded"; it now
    # means "written, Stripe not yet confirmed". Earlier refunds were all recorded.
    op.execute("UPDATE refunds SET status = 'succeeded' WHERE status = 'pending' AND stripe_refund_id IS NOT NULL")
    op.execute("UPDATE payouts SET status = 'failed' WHERE status = 'pending' AND stripe_transfer_id IS NULL")
    op.create_index(
        "uq_refunds_pending_payment",
        "refunds",
        ["payment_id"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index(
        "uq_payouts_pending_company",
        "payouts",
        ["company_id"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade():
    op.drop_index("uq_payouts_pending_company", table_name="payouts")
    op.drop_index("uq_refunds_pending_payment", table_name="refunds")
    for name, table, _columns in reversed(UNIQUE_INDEXES):
        op.drop_index(name, table_name=table)
    # Dropped in place (ALTER TABLE … DROP COLUMN, SQLite 3.35+), never by rebuilding the
    # tables as batch mode would: other tables' foreign keys point at checkouts and companies.
    for table, column in (("refunds", "note"), ("refunds", "action"), *((t, c) for t, c, _ in RANDOM_COLUMNS)):
        op.drop_column(table, column)
