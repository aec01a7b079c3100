"""user sessions: one row per sign-in, checked on every request; sign-out revokes it

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("sign_in_method", sa.String(length=16), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_reason", sa.String(length=24), nullable=True),
        sa.CheckConstraint(
            "sign_in_method IN ('password', 'sign_up', 'whop')", name=op.f("ck_user_sessions_sign_in_method")
        ),
        sa.CheckConstraint(
            "revoked_reason IN ('sign_out', 'sign_out_everywhere', 'password_changed', "
            "'revoked', 'replaced', 'deactivated')",
            name=op.f("ck_user_sessions_revoked_reason"),
        ),
        sa.CheckConstraint(
            "(revoked_at IS NULL) = (revoked_reason IS NULL)", name=op.f("ck_user_sessions_revoked_with_reason")
        ),
        sa.CheckConstraint("expires_at > created_at", name=op.f("ck_user_sessions_expires_after_creation")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_user_sessions_user_id_created_at", ["user_id", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_user_sessions_user_id_created_at")
    op.drop_table("user_sessions")
