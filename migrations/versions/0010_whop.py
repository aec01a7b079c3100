"""whop: linked Whop accounts, company and experience links, Whop payments, member areas

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 23:53:15.216516

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _company_id():
    return sa.Column("company_id", sa.Integer(), nullable=False)


def _company_fk(table):
    return sa.ForeignKeyConstraint(
        ["company_id"], ["companies.id"], name=op.f(f"fk_{table}_company_id_companies"), ondelete="CASCADE"
    )


def upgrade():
    op.create_table(
        "whop_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("whop_user_id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("created_via", sa.String(length=16), nullable=False),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "created_via IN ('oauth', 'iframe', 'webhook')", name=op.f("ck_whop_identities_created_via")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_whop_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whop_identities")),
        sa.UniqueConstraint("user_id", name=op.f("uq_whop_identities_user_id")),
        sa.UniqueConstraint("whop_user_id", name=op.f("uq_whop_identities_whop_user_id")),
    )

    op.create_table(
        "whop_company_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("whop_company_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _company_id(),
        _company_fk("whop_company_links"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whop_company_links")),
        sa.UniqueConstraint("company_id", name="uq_whop_company_links_company_id"),
        sa.UniqueConstraint("whop_company_id", name=op.f("uq_whop_company_links_whop_company_id")),
    )
    with op.batch_alter_table("whop_company_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_whop_company_links_company_id"), ["company_id"], unique=False)

    op.create_table(
        "whop_product_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("whop_experience_id", sa.String(length=64), nullable=False),
        sa.Column("whop_product_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _company_id(),
        _company_fk("whop_product_links"),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_whop_product_links_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whop_product_links")),
        sa.UniqueConstraint("product_id", name=op.f("uq_whop_product_links_product_id")),
        sa.UniqueConstraint("whop_experience_id", name=op.f("uq_whop_product_links_whop_experience_id")),
        sa.UniqueConstraint("whop_product_id", name=op.f("uq_whop_product_links_whop_product_id")),
    )
    with op.batch_alter_table("whop_product_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_whop_product_links_company_id"), ["company_id"], unique=False)

    op.create_table(
        "whop_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("whop_payment_id", sa.String(length=64), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _company_id(),
        sa.CheckConstraint("status IN ('succeeded', 'refunded')", name=op.f("ck_whop_payments_status")),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_whop_payments_amount")),
        _company_fk("whop_payments"),
        sa.ForeignKeyConstraint(
            ["membership_id"], ["memberships.id"], name=op.f("fk_whop_payments_membership_id_memberships")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whop_payments")),
        sa.UniqueConstraint("whop_payment_id", name=op.f("uq_whop_payments_whop_payment_id")),
    )
    with op.batch_alter_table("whop_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_whop_payments_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_whop_payments_membership_id"), ["membership_id"], unique=False)

    op.create_table(
        "member_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=160), nullable=False),
        sa.Column("body_md", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _company_id(),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_member_posts_author_id_users"), ondelete="SET NULL"
        ),
        _company_fk("member_posts"),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_member_posts_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_posts")),
    )
    with op.batch_alter_table("member_posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_posts_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_member_posts_product_id"), ["product_id"], unique=False)

    op.create_table(
        "member_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=160), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _company_id(),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_member_files_size")),
        _company_fk("member_files"),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_member_files_product_id_products"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_member_files_uploaded_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_files")),
    )
    with op.batch_alter_table("member_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_files_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_member_files_product_id"), ["product_id"], unique=False)


def downgrade():
    for table, indexes in (
        ("member_files", ("ix_member_files_product_id", "ix_member_files_company_id")),
        ("member_posts", ("ix_member_posts_product_id", "ix_member_posts_company_id")),
        ("whop_payments", ("ix_whop_payments_membership_id", "ix_whop_payments_company_id")),
        ("whop_product_links", ("ix_whop_product_links_company_id",)),
        ("whop_company_links", ("ix_whop_company_links_company_id",)),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(table)
    op.drop_table("whop_identities")
