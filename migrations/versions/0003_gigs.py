"""gigs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 23:34:29.108404

"""

import sqlalchemy as sa
from alembic import op

from app import db_triggers

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "gigs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("slug", sa.String(length=140), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("description_md", sa.Text(), nullable=False),
        sa.Column("description_html", sa.Text(), nullable=False),
        sa.Column("faq", sa.JSON(), nullable=False),
        sa.Column("tags", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("basic_price_cents", sa.BigInteger(), nullable=True),
        sa.Column("min_delivery_days", sa.Integer(), nullable=True),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("orders_completed", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'review', 'published', 'rejected', 'paused')", name=op.f("ck_gigs_status")
        ),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"], name=op.f("fk_gigs_category_id_categories")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_gigs_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gigs")),
        sa.UniqueConstraint("slug", name=op.f("uq_gigs_slug")),
    )
    with op.batch_alter_table("gigs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gigs_basic_price_cents"), ["basic_price_cents"], unique=False)
        batch_op.create_index(batch_op.f("ix_gigs_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gigs_published_at"), ["published_at"], unique=False)
        batch_op.create_index("ix_gigs_status_category", ["status", "category_id"], unique=False)

    op.create_table(
        "gig_extras",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gig_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("extra_days", sa.Integer(), nullable=False),
        sa.Column("max_quantity", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("extra_days BETWEEN 0 AND 90", name=op.f("ck_gig_extras_extra_days")),
        sa.CheckConstraint("max_quantity BETWEEN 1 AND 10", name=op.f("ck_gig_extras_max_quantity")),
        sa.CheckConstraint("price_cents BETWEEN 100 AND 1000000", name=op.f("ck_gig_extras_price")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_gig_extras_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["gig_id"], ["gigs.id"], name=op.f("fk_gig_extras_gig_id_gigs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gig_extras")),
    )
    with op.batch_alter_table("gig_extras", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gig_extras_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gig_extras_gig_id"), ["gig_id"], unique=False)

    op.create_table(
        "gig_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gig_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_gig_images_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["gig_id"], ["gigs.id"], name=op.f("fk_gig_images_gig_id_gigs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gig_images")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_gig_images_storage_key")),
    )
    with op.batch_alter_table("gig_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gig_images_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gig_images_gig_id"), ["gig_id"], unique=False)

    op.create_table(
        "gig_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gig_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("delivery_days", sa.Integer(), nullable=False),
        sa.Column("revisions", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("tier IN ('basic', 'standard', 'premium')", name=op.f("ck_gig_packages_tier")),
        sa.CheckConstraint("delivery_days BETWEEN 1 AND 90", name=op.f("ck_gig_packages_delivery_days")),
        sa.CheckConstraint("price_cents BETWEEN 500 AND 1000000", name=op.f("ck_gig_packages_price")),
        sa.CheckConstraint("revisions IS NULL OR revisions BETWEEN 0 AND 10", name=op.f("ck_gig_packages_revisions")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_gig_packages_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["gig_id"], ["gigs.id"], name=op.f("fk_gig_packages_gig_id_gigs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gig_packages")),
        sa.UniqueConstraint("gig_id", "tier", name="uq_gig_packages_gig_tier"),
    )
    with op.batch_alter_table("gig_packages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gig_packages_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gig_packages_gig_id"), ["gig_id"], unique=False)

    op.create_table(
        "gig_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gig_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('short_text', 'long_text', 'single_choice')", name=op.f("ck_gig_questions_kind")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_gig_questions_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["gig_id"], ["gigs.id"], name=op.f("fk_gig_questions_gig_id_gigs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gig_questions")),
    )
    with op.batch_alter_table("gig_questions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gig_questions_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gig_questions_gig_id"), ["gig_id"], unique=False)
    db_triggers.run(op, db_triggers.KYC_GATE)
    db_triggers.run(op, db_triggers.GIG_SEARCH)


def downgrade():
    db_triggers.run(op, db_triggers.DROP_GIG_SEARCH)
    db_triggers.run(op, db_triggers.DROP_KYC_GATE)
    with op.batch_alter_table("gig_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gig_questions_gig_id"))
        batch_op.drop_index(batch_op.f("ix_gig_questions_company_id"))

    op.drop_table("gig_questions")
    with op.batch_alter_table("gig_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gig_packages_gig_id"))
        batch_op.drop_index(batch_op.f("ix_gig_packages_company_id"))

    op.drop_table("gig_packages")
    with op.batch_alter_table("gig_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gig_images_gig_id"))
        batch_op.drop_index(batch_op.f("ix_gig_images_company_id"))

    op.drop_table("gig_images")
    with op.batch_alter_table("gig_extras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gig_extras_gig_id"))
        batch_op.drop_index(batch_op.f("ix_gig_extras_company_id"))

    op.drop_table("gig_extras")
    with op.batch_alter_table("gigs", schema=None) as batch_op:
        batch_op.drop_index("ix_gigs_status_category")
        batch_op.drop_index(batch_op.f("ix_gigs_published_at"))
        batch_op.drop_index(batch_op.f("ix_gigs_company_id"))
        batch_op.drop_index(batch_op.f("ix_gigs_basic_price_cents"))

    op.drop_table("gigs")
