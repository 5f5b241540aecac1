"""lesson lifecycle: holidays, the timetable slot of generated lessons, attendance, link samples

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holiday",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("county", sa.String(length=100), nullable=True),
        sa.Column("teaches_weekday", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("school_id IS NULL OR county IS NULL",
                           name=op.f("ck_holiday_one_scope")),
        sa.CheckConstraint(
            "teaches_weekday IS NULL OR (teaches_weekday >= 1 AND teaches_weekday <= 7)",
            name=op.f("ck_holiday_weekday_range")),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"],
                                name=op.f("fk_holiday_school_id_school"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holiday")),
    )
    with op.batch_alter_table("holiday", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_holiday_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_holiday_school_id"), ["school_id"], unique=False)

    with op.batch_alter_table("lesson", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timetable_slot", sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_lesson_timetable_entry_id_timetable_slot"),
            ["timetable_entry_id", "timetable_slot"])
    # Lessons generated before: their slot is where they are, as far as anyone can tell.
    op.execute("UPDATE lesson SET timetable_slot = planned_start "
               "WHERE timetable_entry_id IS NOT NULL")

    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("identity", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=True),
        sa.Column("terminal_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("left_at", sa.DateTime(), nullable=True),
        sa.Column("leave_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["classroom_id"], ["classroom.id"],
                                name=op.f("fk_attendance_classroom_id_classroom"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["lesson_id"], ["lesson.id"],
                                name=op.f("fk_attendance_lesson_id_lesson"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["terminal_id"], ["terminal.id"],
                                name=op.f("fk_attendance_terminal_id_terminal"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"],
                                name=op.f("fk_attendance_user_id_user_account"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance")),
    )
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attendance_lesson_id"), ["lesson_id"], unique=False)

    op.create_table(
        "link_sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("rtt_ms", sa.Float(), nullable=True),
        sa.Column("loss_pct", sa.Float(), nullable=True),
        sa.Column("jitter_ms", sa.Float(), nullable=True),
        sa.Column("down_kbps", sa.Float(), nullable=False),
        sa.Column("up_kbps", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["lesson_id"], ["lesson.id"],
                                name=op.f("fk_link_sample_lesson_id_lesson"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_sample")),
    )
    with op.batch_alter_table("link_sample", schema=None) as batch_op:
        batch_op.create_index("ix_link_sample_lesson_minute", ["lesson_id", "minute"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("link_sample", schema=None) as batch_op:
        batch_op.drop_index("ix_link_sample_lesson_minute")
    op.drop_table("link_sample")
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attendance_lesson_id"))
    op.drop_table("attendance")
    with op.batch_alter_table("lesson", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_lesson_timetable_entry_id_timetable_slot"),
                                 type_="unique")
        batch_op.drop_column("timetable_slot")
    with op.batch_alter_table("holiday", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_holiday_school_id"))
        batch_op.drop_index(batch_op.f("ix_holiday_day"))
    op.drop_table("holiday")
