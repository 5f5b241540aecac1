"""join alarm: linked classrooms that did not join their live lesson in time

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "join_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["classroom_id"], ["classroom.id"],
                                name=op.f("fk_join_failure_classroom_id_classroom"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lesson_id"], ["lesson.id"],
                                name=op.f("fk_join_failure_lesson_id_lesson"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_failure")),
        sa.UniqueConstraint("lesson_id", "classroom_id",
                            name=op.f("uq_join_failure_lesson_id_classroom_id")),
    )
    with op.batch_alter_table("join_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_join_failure_classroom_id"), ["classroom_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_join_failure_detected_at"), ["detected_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("join_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_join_failure_detected_at"))
        batch_op.drop_index(batch_op.f("ix_join_failure_classroom_id"))
    op.drop_table("join_failure")
