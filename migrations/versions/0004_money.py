"""money: products, checkouts, orders, payments, memberships, ledger

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 23:38:40.093386

"""

import sqlalchemy as sa
from alembic import op

from app import db_triggers

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("slug", sa.String(length=140), nullable=False),
        sa.Column("description_md", sa.Text(), nullable=False),
        sa.Column("description_html", sa.Text(), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("billing", sa.String(length=16), nullable=False),
        sa.Column("trial_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("billing IN ('one_time', 'month', 'year')", name=op.f("ck_products_billing")),
        sa.CheckConstraint("price_cents BETWEEN 100 AND 1000000", name=op.f("ck_products_price")),
        sa.CheckConstraint("trial_days BETWEEN 0 AND 90", name=op.f("ck_products_trial_days")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_products_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("slug", name=op.f("uq_products_slug")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_products_company_id"), ["company_id"], unique=False)

    op.create_table(
        "checkouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("gig_id", sa.Integer(), nullable=True),
        sa.Column("package_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("extras", sa.JSON(), nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("subtotal_cents", sa.BigInteger(), nullable=False),
        sa.Column("extras_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_bps", sa.Integer(), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("delivery_days", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stripe_session_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_session_url", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('gig', 'product')", name=op.f("ck_checkouts_kind")),
        sa.CheckConstraint("status IN ('open', 'completed', 'expired', 'cancelled')", name=op.f("ck_checkouts_status")),
        sa.CheckConstraint("fee_cents >= 0 AND fee_cents <= total_cents", name=op.f("ck_checkouts_fee")),
        sa.CheckConstraint("quantity BETWEEN 1 AND 10", name=op.f("ck_checkouts_quantity")),
        sa.CheckConstraint("total_cents = subtotal_cents + extras_cents", name=op.f("ck_checkouts_total")),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_checkouts_buyer_id_users")),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f("fk_checkouts_company_id_companies")),
        sa.ForeignKeyConstraint(["gig_id"], ["gigs.id"], name=op.f("fk_checkouts_gig_id_gigs")),
        sa.ForeignKeyConstraint(["package_id"], ["gig_packages.id"], name=op.f("fk_checkouts_package_id_gig_packages")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_checkouts_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkouts")),
        sa.UniqueConstraint("stripe_session_id", name=op.f("uq_checkouts_stripe_session_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkouts_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkouts_company_id"), ["company_id"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("checkout_id", sa.Integer(), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=64), nullable=True),
        sa.Column("whop_membership_id", sa.String(length=64), nullable=True),
        sa.Column("current_period_end", sa.DateTime(), nullable=True),
        sa.Column("canceled_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("source IN ('stripe', 'whop')", name=op.f("ck_memberships_source")),
        sa.CheckConstraint(
            "status IN ('trialing', 'active', 'past_due', 'canceled', 'expired')", name=op.f("ck_memberships_status")
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_memberships_buyer_id_users")),
        sa.ForeignKeyConstraint(["checkout_id"], ["checkouts.id"], name=op.f("fk_memberships_checkout_id_checkouts")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_memberships_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_memberships_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("checkout_id", name=op.f("uq_memberships_checkout_id")),
        sa.UniqueConstraint("stripe_subscription_id", name=op.f("uq_memberships_stripe_subscription_id")),
        sa.UniqueConstraint("whop_membership_id", name=op.f("uq_memberships_whop_membership_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_memberships_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_memberships_product_id"), ["product_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("gig_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("checkout_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("previous_status", sa.String(length=24), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("package_tier", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("extras", sa.JSON(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("seller_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("delivery_days", sa.Integer(), nullable=False),
        sa.Column("revisions_allowed", sa.Integer(), nullable=True),
        sa.Column("revisions_used", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("is_late", sa.Boolean(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('awaiting_requirements', 'in_progress', 'delivered', 'revision_requested', 'completed', 'cancel_requested', 'cancelled', 'disputed', 'refunded')",
            name=op.f("ck_orders_status"),
        ),
        sa.CheckConstraint("seller_amount_cents + fee_cents = total_cents", name=op.f("ck_orders_split")),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_orders_buyer_id_users")),
        sa.ForeignKeyConstraint(["checkout_id"], ["checkouts.id"], name=op.f("fk_orders_checkout_id_checkouts")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_orders_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["gig_id"], ["gigs.id"], name=op.f("fk_orders_gig_id_gigs")),
        sa.ForeignKeyConstraint(["package_id"], ["gig_packages.id"], name=op.f("fk_orders_package_id_gig_packages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("checkout_id", name=op.f("uq_orders_checkout_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_company_id"), ["company_id"], unique=False)
        batch_op.create_index("ix_orders_company_status", ["company_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_gig_id"), ["gig_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("checkout_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("membership_id", sa.Integer(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("stripe_payment_intent_id", sa.String(length=64), nullable=True),
        sa.Column("stripe_charge_id", sa.String(length=64), nullable=True),
        sa.Column("stripe_invoice_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('gig', 'product', 'subscription')", name=op.f("ck_payments_kind")),
        sa.CheckConstraint(
            "status IN ('succeeded', 'partially_refunded', 'refunded', 'disputed')", name=op.f("ck_payments_status")
        ),
        sa.CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name=op.f("ck_payments_refunded")),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_payments_buyer_id_users")),
        sa.ForeignKeyConstraint(["checkout_id"], ["checkouts.id"], name=op.f("fk_payments_checkout_id_checkouts")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_payments_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"], ["memberships.id"], name=op.f("fk_payments_membership_id_memberships")
        ),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_payments_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("order_id", name=op.f("uq_payments_order_id")),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_payments_stripe_invoice_id")),
        sa.UniqueConstraint("stripe_payment_intent_id", name=op.f("uq_payments_stripe_payment_intent_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_membership_id"), ["membership_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_stripe_charge_id"), ["stripe_charge_id"], unique=False)

    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_ledger_transactions_order_id_orders")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_ledger_transactions_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("reference", name=op.f("uq_ledger_transactions_reference")),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_transactions_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_transactions_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_transactions_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_transactions_payment_id"), ["payment_id"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f("fk_ledger_entries_company_id_companies")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_account_company", ["account", "company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_transaction_id"), ["transaction_id"], unique=False)
    db_triggers.run(op, db_triggers.LEDGER_APPEND_ONLY)


def downgrade():
    db_triggers.run(op, db_triggers.DROP_LEDGER_APPEND_ONLY)
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_transaction_id"))
        batch_op.drop_index("ix_ledger_entries_account_company")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_payment_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_order_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_kind"))
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_created_at"))

    op.drop_table("ledger_transactions")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_stripe_charge_id"))
        batch_op.drop_index(batch_op.f("ix_payments_membership_id"))
        batch_op.drop_index(batch_op.f("ix_payments_company_id"))
        batch_op.drop_index(batch_op.f("ix_payments_buyer_id"))

    op.drop_table("payments")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_gig_id"))
        batch_op.drop_index("ix_orders_company_status")
        batch_op.drop_index(batch_op.f("ix_orders_company_id"))
        batch_op.drop_index(batch_op.f("ix_orders_buyer_id"))

    op.drop_table("orders")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_product_id"))
        batch_op.drop_index(batch_op.f("ix_memberships_company_id"))
        batch_op.drop_index(batch_op.f("ix_memberships_buyer_id"))

    op.drop_table("memberships")
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkouts_company_id"))
        batch_op.drop_index(batch_op.f("ix_checkouts_buyer_id"))

    op.drop_table("checkouts")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_company_id"))

    op.drop_table("products")
