"""link samples: frame rate and freezes from the terminals' own reports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("link_sample", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fps", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("freezes", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("freeze_ms", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("link_sample", schema=None) as batch_op:
        batch_op.drop_column("freeze_ms")
        batch_op.drop_column("freezes")
        batch_op.drop_column("fps")
