"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_tag"), ["tag"], unique=False)

    op.create_table(
        "school",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "hub",
                "teaching_point",
                "school",
                name="schoolkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("county", sa.String(length=100), nullable=False),
        sa.Column("hub_school_id", sa.Integer(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hub_school_id"],
            ["school.id"],
            name=op.f("fk_school_hub_school_id_school"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school")),
        sa.UniqueConstraint("name", name=op.f("uq_school_name")),
    )
    with op.batch_alter_table("school", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_school_county"), ["county"], unique=False)

    op.create_table(
        "classroom",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["school.id"],
            name=op.f("fk_classroom_school_id_school"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classroom")),
        sa.UniqueConstraint("school_id", "name", name=op.f("uq_classroom_school_id_name")),
    )
    with op.batch_alter_table("classroom", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_classroom_school_id"), ["school_id"], unique=False)

    op.create_table(
        "course",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("grade", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["school.id"],
            name=op.f("fk_course_school_id_school"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course")),
        sa.UniqueConstraint("school_id", "name", name=op.f("uq_course_school_id_name")),
    )
    with op.batch_alter_table("course", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_school_id"), ["school_id"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "teacher",
                "observer",
                "inspector",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("county", sa.String(length=100), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["school.id"],
            name=op.f("fk_user_account_school_id_school"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_account_school_id"), ["school_id"], unique=False)

    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_api_token_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "rtsp",
                "rtmp",
                "whip",
                name="sourcekind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "role",
            sa.Enum(
                "teacher",
                "students",
                "blackboard",
                "courseware",
                "other",
                name="sourcerole",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("stream_key", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["classroom_id"],
            ["classroom.id"],
            name=op.f("fk_source_classroom_id_classroom"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source")),
        sa.UniqueConstraint("classroom_id", "name", name=op.f("uq_source_classroom_id_name")),
        sa.UniqueConstraint("stream_key", name=op.f("uq_source_stream_key")),
    )
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_classroom_id"), ["classroom_id"], unique=False)

    op.create_table(
        "terminal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("token_issued_at", sa.DateTime(), nullable=True),
        sa.Column("token_revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["classroom_id"],
            ["classroom.id"],
            name=op.f("fk_terminal_classroom_id_classroom"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminal")),
        sa.UniqueConstraint("classroom_id", "name", name=op.f("uq_terminal_classroom_id_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_terminal_token_hash")),
    )
    with op.batch_alter_table("terminal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_terminal_classroom_id"), ["classroom_id"], unique=False
        )

    op.create_table(
        "timetable_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("teacher_id", sa.Integer(), nullable=False),
        sa.Column("hub_classroom_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "dedicated",
                "master_teacher",
                "famous_school",
                name="lessonkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("term_start", sa.Date(), nullable=False),
        sa.Column("term_end", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("end_time > start_time", name=op.f("ck_timetable_entry_time_order")),
        sa.CheckConstraint("term_end >= term_start", name=op.f("ck_timetable_entry_term_order")),
        sa.CheckConstraint(
            "weekday >= 1 AND weekday <= 7", name=op.f("ck_timetable_entry_weekday_range")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["course.id"],
            name=op.f("fk_timetable_entry_course_id_course"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["hub_classroom_id"],
            ["classroom.id"],
            name=op.f("fk_timetable_entry_hub_classroom_id_classroom"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["teacher_id"],
            ["user_account.id"],
            name=op.f("fk_timetable_entry_teacher_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timetable_entry")),
    )
    with op.batch_alter_table("timetable_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_timetable_entry_course_id"), ["course_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_timetable_entry_hub_classroom_id"), ["hub_classroom_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_timetable_entry_teacher_id"), ["teacher_id"], unique=False
        )

    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_user_session_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_session_token_hash")),
    )
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_session_user_id"), ["user_id"], unique=False)

    op.create_table(
        "lesson",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "dedicated",
                "master_teacher",
                "famous_school",
                name="lessonkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled",
                "live",
                "ended",
                "cancelled",
                name="lessonstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("timetable_entry_id", sa.Integer(), nullable=True),
        sa.Column("teacher_id", sa.Integer(), nullable=False),
        sa.Column("host_classroom_id", sa.Integer(), nullable=False),
        sa.Column("planned_start", sa.DateTime(), nullable=False),
        sa.Column("planned_end", sa.DateTime(), nullable=False),
        sa.Column("actual_start", sa.DateTime(), nullable=True),
        sa.Column("actual_end", sa.DateTime(), nullable=True),
        sa.Column("record", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("planned_end > planned_start", name=op.f("ck_lesson_planned_order")),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["course.id"],
            name=op.f("fk_lesson_course_id_course"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["host_classroom_id"],
            ["classroom.id"],
            name=op.f("fk_lesson_host_classroom_id_classroom"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["teacher_id"],
            ["user_account.id"],
            name=op.f("fk_lesson_teacher_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["timetable_entry_id"],
            ["timetable_entry.id"],
            name=op.f("fk_lesson_timetable_entry_id_timetable_entry"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson")),
        sa.UniqueConstraint(
            "timetable_entry_id",
            "planned_start",
            name=op.f("uq_lesson_timetable_entry_id_planned_start"),
        ),
    )
    with op.batch_alter_table("lesson", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lesson_course_id"), ["course_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_lesson_host_classroom_id"), ["host_classroom_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lesson_planned_start"), ["planned_start"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lesson_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_lesson_teacher_id"), ["teacher_id"], unique=False)

    op.create_table(
        "timetable_entry_classroom",
        sa.Column("timetable_entry_id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["classroom_id"],
            ["classroom.id"],
            name=op.f("fk_timetable_entry_classroom_classroom_id_classroom"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["timetable_entry_id"],
            ["timetable_entry.id"],
            name=op.f("fk_timetable_entry_classroom_timetable_entry_id_timetable_entry"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "timetable_entry_id", "classroom_id", name=op.f("pk_timetable_entry_classroom")
        ),
    )
    op.create_table(
        "lesson_classroom",
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["classroom_id"],
            ["classroom.id"],
            name=op.f("fk_lesson_classroom_classroom_id_classroom"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lesson.id"],
            name=op.f("fk_lesson_classroom_lesson_id_lesson"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lesson_id", "classroom_id", name=op.f("pk_lesson_classroom")),
    )
    op.create_table(
        "lesson_observer",
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lesson.id"],
            name=op.f("fk_lesson_observer_lesson_id_lesson"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_lesson_observer_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lesson_id", "user_id", name=op.f("pk_lesson_observer")),
    )


def downgrade() -> None:
    op.drop_table("lesson_observer")
    op.drop_table("lesson_classroom")
    op.drop_table("timetable_entry_classroom")
    with op.batch_alter_table("lesson", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lesson_teacher_id"))
        batch_op.drop_index(batch_op.f("ix_lesson_status"))
        batch_op.drop_index(batch_op.f("ix_lesson_planned_start"))
        batch_op.drop_index(batch_op.f("ix_lesson_host_classroom_id"))
        batch_op.drop_index(batch_op.f("ix_lesson_course_id"))

    op.drop_table("lesson")
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_session_user_id"))

    op.drop_table("user_session")
    with op.batch_alter_table("timetable_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timetable_entry_teacher_id"))
        batch_op.drop_index(batch_op.f("ix_timetable_entry_hub_classroom_id"))
        batch_op.drop_index(batch_op.f("ix_timetable_entry_course_id"))

    op.drop_table("timetable_entry")
    with op.batch_alter_table("terminal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_terminal_classroom_id"))

    op.drop_table("terminal")
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_classroom_id"))

    op.drop_table("source")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_account_school_id"))

    op.drop_table("user_account")
    with op.batch_alter_table("course", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_school_id"))

    op.drop_table("course")
    with op.batch_alter_table("classroom", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_classroom_school_id"))

    op.drop_table("classroom")
    with op.batch_alter_table("school", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_school_county"))

    op.drop_table("school")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_tag"))
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))

    op.drop_table("audit_event")
