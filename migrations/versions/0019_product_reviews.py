"""product reviews and product images

`product_reviews`: a buyer's stars (1-5) and words about a product they paid for, one per
buyer and product (unique), newest first per product by index.

`products` gains its picture: the storage key (unique index, like gig images' keys), content
type and size in pixels, all NULL until a seller uploads one. The columns are added with ADD
COLUMN and the uniqueness is an index, so SQLite does not rebuild `products` (a rebuild drops
the table, which with foreign keys on would cascade into memberships and licenses).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 11:51:53.352752

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "product_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_product_reviews_rating")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_product_reviews_buyer_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_product_reviews_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_reviews_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_reviews")),
        sa.UniqueConstraint("product_id", "buyer_id", name="uq_product_reviews_product_buyer"),
    )
    op.create_index(op.f("ix_product_reviews_company_id"), "product_reviews", ["company_id"], unique=False)
    op.create_index(
        "ix_product_reviews_product_id_created_at", "product_reviews", ["product_id", "created_at"], unique=False
    )

    op.add_column("products", sa.Column("image_key", sa.String(length=200), nullable=True))
    op.add_column("products", sa.Column("image_content_type", sa.String(length=32), nullable=True))
    op.add_column("products", sa.Column("image_width", sa.Integer(), nullable=True))
    op.add_column("products", sa.Column("image_height", sa.Integer(), nullable=True))
    op.create_index("uq_products_image_key", "products", ["image_key"], unique=True)


def downgrade():
    op.drop_index("uq_products_image_key", table_name="products")
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), not a batch rebuild of `products`.
    for column in ("image_height", "image_width", "image_content_type", "image_key"):
        op.drop_column("products", column)
    op.drop_index("ix_product_reviews_product_id_created_at", table_name="product_reviews")
    op.drop_index(op.f("ix_product_reviews_company_id"), table_name="product_reviews")
    op.drop_table("product_reviews")
