"""gig revisions: a live gig's edits wait for review in gig_revisions; checkouts keep the package's revisions

- gig_revisions: a pending change to a live gig (kind "edit") or the snapshot of a rejected
  first submission (kind "submission"); at most one pending per gig (partial unique index).
- checkouts.package_revisions: the package's revision allowance when the buyer agreed, so
  an order created later gets the terms that were bought (backfilled from gig_packages).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 12:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "gig_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gig_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('edit', 'submission')", name=op.f("ck_gig_revisions_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'withdrawn')", name=op.f("ck_gig_revisions_status")
        ),
        sa.CheckConstraint("status = 'pending' OR decided_at IS NOT NULL", name=op.f("ck_gig_revisions_decided")),
        sa.CheckConstraint(
            "status <> 'rejected' OR rejection_reason IS NOT NULL", name=op.f("ck_gig_revisions_reason")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_gig_revisions_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["gig_id"], ["gigs.id"], name=op.f("fk_gig_revisions_gig_id_gigs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["users.id"], name=op.f("fk_gig_revisions_submitted_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_gig_revisions_decided_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gig_revisions")),
    )
    with op.batch_alter_table("gig_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gig_revisions_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gig_revisions_gig_id"), ["gig_id"], unique=False)
        batch_op.create_index("ix_gig_revisions_status_submitted_at", ["status", "submitted_at"], unique=False)
        batch_op.create_index(
            "uq_gig_revisions_pending_gig",
            ["gig_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    # Plain ALTER TABLE on both databases: a batch rebuild of checkouts on SQLite would drop a
    # table that orders and payments reference.
    op.add_column("checkouts", sa.Column("package_revisions", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE checkouts SET package_revisions = "
        "(SELECT revisions FROM gig_packages WHERE gig_packages.id = checkouts.package_id) "
        "WHERE package_id IS NOT NULL"
    )


def downgrade():
    op.drop_column("checkouts", "package_revisions")  # SQLite 3.35+ drops a column in place
    with op.batch_alter_table("gig_revisions", schema=None) as batch_op:
        batch_op.drop_index("uq_gig_revisions_pending_gig")
        batch_op.drop_index("ix_gig_revisions_status_submitted_at")
        batch_op.drop_index(batch_op.f("ix_gig_revisions_gig_id"))
        batch_op.drop_index(batch_op.f("ix_gig_revisions_company_id"))
    op.drop_table("gig_revisions")
