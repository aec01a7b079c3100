"""app installations own a hidden webhook endpoint

`webhook_endpoints.app_installation_id`: the installation whose app receives the endpoint's
events (the installing company's events its granted scopes cover, at the app's webhook URL,
signed with the app's secret). NULL for the endpoints sellers add themselves; endpoints with
it are never shown among the seller's own.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30 20:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_installation_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_webhook_endpoints_app_installation_id"), ["app_installation_id"], unique=True
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_webhook_endpoints_app_installation_id_app_installations"),
            "app_installations",
            ["app_installation_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade():
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_webhook_endpoints_app_installation_id_app_installations"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_webhook_endpoints_app_installation_id"))
        batch_op.drop_column("app_installation_id")
