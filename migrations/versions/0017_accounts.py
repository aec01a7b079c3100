"""accounts: email verification, emailed single-use links, deleted accounts, HTML mail with retries

- users.email_verified_at (NULL until a link we mailed was opened) and users.deleted_at.
  Accounts that exist before this revision are taken as verified (email_verified_at =
  created_at): they signed up when no proof was asked, and selling or withdrawing must not
  stop for them overnight.
- account_tokens: one row per emailed link (verify an address, reset a password, confirm a
  new address), holding only the token's SHA-256; single use (used_at), with an expiry.
- email_outbox: the HTML alternative and the template name, and the retry schedule
  (next_attempt_at) and the sender's lease (locked_until).

Only nullable columns are added to existing tables, so SQLite adds them in place
(ALTER TABLE ... ADD COLUMN) without rebuilding users, which many tables reference.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 12:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_verified_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE users SET email_verified_at = created_at")

    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html_body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("template", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))

    op.create_table(
        "account_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'reset_password', 'change_email')", name=op.f("ck_account_tokens_purpose")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_account_tokens_token_hash")),
    )
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_account_tokens_user_id_purpose", ["user_id", "purpose"], unique=False)


def downgrade():
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_account_tokens_user_id_purpose")
    op.drop_table("account_tokens")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+ has it): a batch rebuild of users would
    # drop the table, and with foreign keys on, cascade into every table that references it.
    for column in ("locked_until", "next_attempt_at", "template", "html_body"):
        op.drop_column("email_outbox", column)
    for column in ("deleted_at", "email_verified_at"):
        op.drop_column("users", column)
