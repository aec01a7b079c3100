"""order activity: timeline, requirements, deliveries and files, messages, disputes, reviews, email outbox

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 23:55:17.283316

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("to_email", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f("ck_email_outbox_status")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_outbox_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
    )
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_email_outbox_status_id", ["status", "id"], unique=False)

    op.create_table(
        "order_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.String(length=300), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_order_answers_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_answers_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["gig_questions.id"],
            name=op.f("fk_order_answers_question_id_gig_questions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_answers")),
    )
    with op.batch_alter_table("order_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_answers_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_answers_order_id"), ["order_id"], unique=False)

    op.create_table(
        "order_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_order_deliveries_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_order_deliveries_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_deliveries_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_deliveries")),
        sa.UniqueConstraint("order_id", "number", name="uq_order_deliveries_order_number"),
    )
    with op.batch_alter_table("order_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_deliveries_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_deliveries_order_id"), ["order_id"], unique=False)

    op.create_table(
        "order_disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("opened_by_role", sa.String(length=8), nullable=False),
        sa.Column("opened_by_user_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("stripe_dispute_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("resolved_by_user_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "opened_by_role IN ('buyer', 'seller', 'system')", name=op.f("ck_order_disputes_opened_by_role")
        ),
        sa.CheckConstraint(
            "resolution IS NULL OR resolution IN ('refund', 'partial_refund', 'release', 'cancelled')",
            name=op.f("ck_order_disputes_resolution"),
        ),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_order_disputes_status")),
        sa.CheckConstraint("refunded_cents >= 0", name=op.f("ck_order_disputes_refunded")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_order_disputes_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["opened_by_user_id"],
            ["users.id"],
            name=op.f("fk_order_disputes_opened_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_disputes_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_user_id"],
            ["users.id"],
            name=op.f("fk_order_disputes_resolved_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_disputes")),
        sa.UniqueConstraint("stripe_dispute_id", name=op.f("uq_order_disputes_stripe_dispute_id")),
    )
    with op.batch_alter_table("order_disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_disputes_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_disputes_order_id"), ["order_id"], unique=False)

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=True),
        sa.Column("actor_role", sa.String(length=8), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "actor_role IN ('buyer', 'seller', 'admin', 'system')", name=op.f("ck_order_events_actor_role")
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_order_events_actor_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_order_events_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_events_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_events_company_id"), ["company_id"], unique=False)
        batch_op.create_index("ix_order_events_order_id_id", ["order_id", "id"], unique=False)

    op.create_table(
        "order_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("sender_role", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_order_messages_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_messages_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["users.id"], name=op.f("fk_order_messages_sender_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_messages")),
    )
    with op.batch_alter_table("order_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_messages_company_id"), ["company_id"], unique=False)
        batch_op.create_index("ix_order_messages_order_id_id", ["order_id", "id"], unique=False)

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("gig_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating")),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_reviews_buyer_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_reviews_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["gig_id"], ["gigs.id"], name=op.f("fk_reviews_gig_id_gigs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_reviews_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("order_id", name=op.f("uq_reviews_order_id")),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reviews_company_id"), ["company_id"], unique=False)
        batch_op.create_index("ix_reviews_gig_id_created_at", ["gig_id", "created_at"], unique=False)

    op.create_table(
        "order_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("purpose IN ('requirements', 'delivery')", name=op.f("ck_order_files_purpose")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_order_files_size")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_order_files_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["order_deliveries.id"],
            name=op.f("fk_order_files_delivery_id_order_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_files_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_user_id"],
            ["users.id"],
            name=op.f("fk_order_files_uploaded_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_files")),
    )
    with op.batch_alter_table("order_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_files_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_files_order_id"), ["order_id"], unique=False)


def downgrade():
    with op.batch_alter_table("order_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_files_order_id"))
        batch_op.drop_index(batch_op.f("ix_order_files_company_id"))

    op.drop_table("order_files")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_reviews_gig_id_created_at")
        batch_op.drop_index(batch_op.f("ix_reviews_company_id"))

    op.drop_table("reviews")
    with op.batch_alter_table("order_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_order_messages_order_id_id")
        batch_op.drop_index(batch_op.f("ix_order_messages_company_id"))

    op.drop_table("order_messages")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index("ix_order_events_order_id_id")
        batch_op.drop_index(batch_op.f("ix_order_events_company_id"))

    op.drop_table("order_events")
    with op.batch_alter_table("order_disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_disputes_order_id"))
        batch_op.drop_index(batch_op.f("ix_order_disputes_company_id"))

    op.drop_table("order_disputes")
    with op.batch_alter_table("order_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_deliveries_order_id"))
        batch_op.drop_index(batch_op.f("ix_order_deliveries_company_id"))

    op.drop_table("order_deliveries")
    with op.batch_alter_table("order_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_answers_order_id"))
        batch_op.drop_index(batch_op.f("ix_order_answers_company_id"))

    op.drop_table("order_answers")
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_email_outbox_status_id")

    op.drop_table("email_outbox")
