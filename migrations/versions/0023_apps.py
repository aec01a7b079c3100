"""apps and app installations

`apps`: apps companies register (base URL, experience and dashboard paths, requested scopes,
webhook URL and encrypted secret, published, localhost mode); `public_id` is the `aud` of the
user tokens Tradepost signs for the app.

`app_installations`: a company's installation of an app with the scopes it granted and the id
of the API key made for it; at most one active (not revoked) installation per app and company.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 14:53:44.191066

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("icon_url", sa.String(length=500), nullable=True),
        sa.Column("base_url", sa.String(length=300), nullable=False),
        sa.Column("experience_path", sa.String(length=200), nullable=False),
        sa.Column("dashboard_path", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("webhook_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("localhost_mode", sa.Boolean(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_apps_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apps")),
        sa.UniqueConstraint("public_id", name=op.f("uq_apps_public_id")),
    )
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_apps_company_id"), ["company_id"], unique=False)

    op.create_table(
        "app_installations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("granted_scopes", sa.JSON(), nullable=False),
        sa.Column("installed_by_id", sa.Integer(), nullable=True),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("api_key_encrypted", sa.Text(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_app_installations_api_key_id_api_keys"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_app_installations_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_app_installations_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["installed_by_id"],
            ["users.id"],
            name=op.f("fk_app_installations_installed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_installations")),
    )
    with op.batch_alter_table("app_installations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_installations_app_id"), ["app_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_app_installations_company_id"), ["company_id"], unique=False)
        batch_op.create_index(
            "uq_app_installations_active",
            ["app_id", "company_id"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )


def downgrade():
    op.drop_table("app_installations")
    op.drop_table("apps")
