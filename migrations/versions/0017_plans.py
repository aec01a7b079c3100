"""plans: a product's plans (one-time / monthly / yearly, trial, tier), memberships' real periods

Every existing product gets one plan with its price, billing and trial (named Standard,
Monthly or Yearly), and its memberships and checkouts point at that plan. Memberships gain
the columns that make access follow the paid period: paid_through, grace_ends_at,
access_ends_at and cancel_at_period_end; access_ends_at of existing rows is computed here
the way services/subscriptions.py computes it (period end plus a day while access lasts,
the cancellation time once ended). Member posts and files gain an optional minimum tier.

New columns are added with ALTER TABLE ... ADD COLUMN on both databases: memberships and
checkouts are referenced by other tables (payments, licenses, orders), so SQLite must not
rebuild them (a batch rebuild would drop and re-create a referenced table).

Revision ID: 0017
Revises: 0013
Create Date: 2026-11-30 12:00:00.000000

"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0013"
branch_labels = None
depends_on = None

# Written out, not imported from the models: a revision must mean the same thing forever.
RENEWAL_SLACK = timedelta(days=1)
ACCESS_STATUSES = ("trialing", "active", "past_due")


def _add_reference(table, column):
    """Add `column` INTEGER NULL referencing plans.id, without rebuilding `table` on SQLite."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER REFERENCES plans (id)")
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(op.f(f"fk_{table}_{column}_plans"), table, "plans", [column], ["id"])


def _currency():
    try:
        from flask import current_app

        return str(current_app.config.get("CURRENCY") or "usd").lower()
    except RuntimeError:  # run outside the app (plain alembic)
        return "usd"


def upgrade():
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("billing", sa.String(length=16), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("trial_days", sa.Integer(), nullable=False),
        sa.Column("tier_rank", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("billing IN ('one_time', 'month', 'year')", name=op.f("ck_plans_billing")),
        sa.CheckConstraint("price_cents BETWEEN 100 AND 1000000", name=op.f("ck_plans_price")),
        sa.CheckConstraint("trial_days BETWEEN 0 AND 90", name=op.f("ck_plans_trial_days")),
        sa.CheckConstraint("billing <> 'one_time' OR trial_days = 0", name=op.f("ck_plans_one_time_trial")),
        sa.CheckConstraint("tier_rank IS NULL OR tier_rank BETWEEN 1 AND 100", name=op.f("ck_plans_tier_rank")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_plans_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_plans_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plans_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plans_product_id"), ["product_id"], unique=False)

    _add_reference("memberships", "plan_id")
    _add_reference("checkouts", "plan_id")
    op.add_column("checkouts", sa.Column("trial_days", sa.Integer(), nullable=False, server_default="0"))
    for column in ("paid_through", "grace_ends_at", "access_ends_at"):
        op.add_column("memberships", sa.Column(column, sa.DateTime(), nullable=True))
    op.add_column(
        "memberships", sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("member_posts", sa.Column("min_tier_rank", sa.Integer(), nullable=True))
    op.add_column("member_files", sa.Column("min_tier_rank", sa.Integer(), nullable=True))

    # One plan per existing product, the same on SQLite and PostgreSQL.
    op.execute(
        sa.text(
            "INSERT INTO plans (product_id, company_id, name, billing, price_cents, currency, trial_days,"
            " tier_rank, enabled, created_at, updated_at)"
            " SELECT id, company_id,"
            " CASE billing WHEN 'month' THEN 'Monthly' WHEN 'year' THEN 'Yearly' ELSE 'Standard' END,"
            " billing, price_cents, :currency,"
            " CASE billing WHEN 'one_time' THEN 0 ELSE trial_days END,"
            " NULL, :enabled, created_at, updated_at FROM products ORDER BY id"
        ).bindparams(currency=_currency(), enabled=True)
    )
    first_plan = "(SELECT MIN(plans.id) FROM plans WHERE plans.product_id = {table}.product_id)"
    op.execute(f"UPDATE memberships SET plan_id = {first_plan.format(table='memberships')}")
    op.execute(f"UPDATE checkouts SET plan_id = {first_plan.format(table='checkouts')} WHERE product_id IS NOT NULL")

    bind = op.get_bind()
    memberships = sa.table(
        "memberships",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("current_period_end", sa.DateTime()),
        sa.column("canceled_at", sa.DateTime()),
        sa.column("paid_through", sa.DateTime()),
        sa.column("access_ends_at", sa.DateTime()),
    )
    moment = datetime.now(UTC).replace(tzinfo=None)  # stored as naive UTC, like every column here
    rows = bind.execute(
        sa.select(memberships.c.id, memberships.c.status, memberships.c.current_period_end, memberships.c.canceled_at)
    ).all()
    for row in rows:
        if row.status in ACCESS_STATUSES:
            ends = row.current_period_end + RENEWAL_SLACK if row.current_period_end is not None else None
        else:
            ends = min(row.canceled_at or moment, moment)
        bind.execute(
            memberships.update()
            .where(memberships.c.id == row.id)
            .values(paid_through=row.current_period_end, access_ends_at=ends)
        )


def downgrade():
    for table in ("member_files", "member_posts"):
        op.drop_column(table, "min_tier_rank")
    for column in ("cancel_at_period_end", "access_ends_at", "grace_ends_at", "paid_through"):
        op.drop_column("memberships", column)
    op.drop_column("checkouts", "trial_days")
    for table in ("memberships", "checkouts"):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN plan_id")  # no rebuild (see above)
        else:
            op.drop_constraint(op.f(f"fk_{table}_plan_id_plans"), table, type_="foreignkey")
            op.drop_column(table, "plan_id")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plans_product_id"))
        batch_op.drop_index(batch_op.f("ix_plans_company_id"))
    op.drop_table("plans")
