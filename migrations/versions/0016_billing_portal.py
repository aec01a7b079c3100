"""billing portal: what a member changed in Stripe's customer portal

Memberships remember their Stripe customer (the portal is opened for it), when a
subscription set to cancel at the end of its period ends (0017 added the flag), the Stripe
price it is billed at (a plan switch changes it), and the card renewals will charge (brand and
last four digits only).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 12:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


COLUMNS = (
    ("stripe_customer_id", sa.String(length=64)),
    ("stripe_price_id", sa.String(length=64)),
    ("cancel_at", sa.DateTime()),
    ("card_brand", sa.String(length=20)),
    ("card_last4", sa.String(length=4)),
)


def upgrade():
    # Plain ADD COLUMN (no table rebuild on SQLite): memberships keeps its rows, its ids' memory
    # and everything that references it.
    for name, type_ in COLUMNS:
        op.add_column("memberships", sa.Column(name, type_, nullable=True))
    op.create_index(op.f("ix_memberships_stripe_customer_id"), "memberships", ["stripe_customer_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_memberships_stripe_customer_id"), table_name="memberships")
    for name, _type in reversed(COLUMNS):
        op.drop_column("memberships", name)
