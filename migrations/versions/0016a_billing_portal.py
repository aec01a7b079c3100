"""billing portal: what a member changed in Stripe's customer portal

Memberships remember their Stripe customer (the portal is opened for it), whether the
subscription is set to cancel at the end of its period and when, the Stripe price it is billed
at (a plan switch changes it), and the card renewals will charge (brand and last four digits
only).

Revision ID: 0016a
Revises: 0013
Create Date: 2026-11-30 12:00:00.000000

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0016a"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stripe_customer_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("stripe_price_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("cancel_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("card_brand", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("card_last4", sa.String(length=4), nullable=True))
        batch_op.create_index(batch_op.f("ix_memberships_stripe_customer_id"), ["stripe_customer_id"], unique=False)


def downgrade():
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_stripe_customer_id"))
        batch_op.drop_column("card_last4")
        batch_op.drop_column("card_brand")
        batch_op.drop_column("cancel_at")
        batch_op.drop_column("cancel_at_period_end")
        batch_op.drop_column("stripe_price_id")
        batch_op.drop_column("stripe_customer_id")
