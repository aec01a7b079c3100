"""legends money: quest cash bonuses and the class commission bonus opt-in

`legends_quest_templates.bonus_cents`: a cash bonus (minor units, 0 to 100,000) the seller
pays from its available balance when a member claims the quest.
`legends_quests.bonus_key`: the random key of the bonus's ledger transaction, set when claimed.
`legends_games.class_commission_bonus`: the seller funds its classes' commission bonuses.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 19:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("legends_games") as batch:
        batch.add_column(sa.Column("class_commission_bonus", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("legends_quest_templates") as batch:
        batch.add_column(sa.Column("bonus_cents", sa.BigInteger(), server_default="0", nullable=False))
        batch.create_check_constraint(
            op.f("ck_legends_quest_templates_bonus_cents"), "bonus_cents >= 0 AND bonus_cents <= 100000"
        )
    with op.batch_alter_table("legends_quests") as batch:
        batch.add_column(sa.Column("bonus_key", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_legends_quests_bonus_key"), ["bonus_key"])


def downgrade():
    with op.batch_alter_table("legends_quests") as batch:
        batch.drop_constraint(op.f("uq_legends_quests_bonus_key"), type_="unique")
        batch.drop_column("bonus_key")
    with op.batch_alter_table("legends_quest_templates") as batch:
        batch.drop_constraint(op.f("ck_legends_quest_templates_bonus_cents"), type_="check")
        batch.drop_column("bonus_cents")
    with op.batch_alter_table("legends_games") as batch:
        batch.drop_column("class_commission_bonus")
