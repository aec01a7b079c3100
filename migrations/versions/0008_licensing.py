"""licensing: license policies, license keys and their machine activations

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "license_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("max_activations", sa.Integer(), nullable=False),
        sa.Column("duration_days", sa.Integer(), nullable=True),
        sa.Column("key_prefix", sa.String(length=6), nullable=False),
        sa.Column("key_format", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("max_activations BETWEEN 1 AND 1000", name=op.f("ck_license_policies_max_activations")),
        sa.CheckConstraint(
            "duration_days IS NULL OR duration_days BETWEEN 1 AND 3650", name=op.f("ck_license_policies_duration_days")
        ),
        sa.CheckConstraint("key_format IN ('grouped', 'compact')", name=op.f("ck_license_policies_key_format")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_license_policies_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_license_policies_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_policies")),
        sa.UniqueConstraint("product_id", name=op.f("uq_license_policies_product_id")),
    )
    with op.batch_alter_table("license_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_license_policies_company_id"), ["company_id"], unique=False)

    op.create_table(
        "licenses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=True),
        sa.Column("buyer_id", sa.Integer(), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_encrypted", sa.Text(), nullable=False),
        sa.Column("key_hint", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("max_activations", sa.Integer(), nullable=False),
        sa.Column("activation_count", sa.Integer(), nullable=False),
        sa.Column("reset_count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("access_ends_at", sa.DateTime(), nullable=True),
        sa.Column("last_validated_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'suspended', 'revoked')", name=op.f("ck_licenses_status")),
        sa.CheckConstraint("max_activations BETWEEN 1 AND 1000", name=op.f("ck_licenses_max_activations")),
        sa.CheckConstraint("activation_count >= 0", name=op.f("ck_licenses_activation_count")),
        sa.CheckConstraint("reset_count >= 0", name=op.f("ck_licenses_reset_count")),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_licenses_buyer_id_users")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_licenses_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"], ["memberships.id"], name=op.f("fk_licenses_membership_id_memberships")
        ),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_licenses_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licenses")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_licenses_key_hash")),
        sa.UniqueConstraint("membership_id", name=op.f("uq_licenses_membership_id")),
    )
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_licenses_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_licenses_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_licenses_product_id"), ["product_id"], unique=False)

    op.create_table(
        "license_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("license_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_license_activations_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["license_id"], ["licenses.id"], name=op.f("fk_license_activations_license_id_licenses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_activations")),
        sa.UniqueConstraint("license_id", "fingerprint", name="uq_license_activations_fingerprint"),
    )
    with op.batch_alter_table("license_activations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_license_activations_company_id"), ["company_id"], unique=False)


def downgrade():
    with op.batch_alter_table("license_activations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_license_activations_company_id"))
    op.drop_table("license_activations")
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_licenses_product_id"))
        batch_op.drop_index(batch_op.f("ix_licenses_company_id"))
        batch_op.drop_index(batch_op.f("ix_licenses_buyer_id"))
    op.drop_table("licenses")
    with op.batch_alter_table("license_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_license_policies_company_id"))
    op.drop_table("license_policies")
