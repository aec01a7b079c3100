"""status enums: status and kind columns are sa.Enum(native_enum=False, create_constraint=True)

The models now declare their status-like columns (33 of them: statuses, kinds, roles, tiers,
billing, sources...) as `string_enum(VALUES, name)` (app/models/types.py): VARCHAR of the
same length plus CHECK (column IN (...)) named ck_<table>_<column> by the naming convention,
with the allowed values in one tuple next to the model. The constraints already in the
database have those names and that text, so they stay as they are: rebuilding tables on
SQLite to re-create identical constraints would gain nothing and risks the rows of every
table whose foreign keys point at them, the triggers on gigs, and AUTOINCREMENT's memory of
issued ids. tests/test_migrations.py proves every CHECK constraint of a migrated database
equals the models', on SQLite and PostgreSQL.

One constraint changes: order_disputes.resolution said `resolution IS NULL OR resolution IN
(...)`; the enum's `resolution IN (...)` means the same (a CHECK passes on NULL) and is now the
text the model emits. order_disputes is referenced by no other table, so its batch rebuild on
SQLite is safe.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 10:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Written out, not imported from the models: a revision must mean the same thing forever.
RESOLUTIONS = "'refund', 'partial_refund', 'release', 'cancelled'"


def _replace_resolution_check(sqltext):
    with op.batch_alter_table("order_disputes", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_order_disputes_resolution"), type_="check")
        batch_op.create_check_constraint(op.f("ck_order_disputes_resolution"), sqltext)


def upgrade():
    _replace_resolution_check(f"resolution IN ({RESOLUTIONS})")


def downgrade():
    _replace_resolution_check(f"resolution IS NULL OR resolution IN ({RESOLUTIONS})")
