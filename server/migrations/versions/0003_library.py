"""library: recordings, resources, renditions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "recording",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "recording",
                "stopped",
                "failed",
                name="recordingstate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("directory", sa.String(length=500), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lesson.id"], name=op.f("fk_recording_lesson_id_lesson"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording")),
    )
    with op.batch_alter_table("recording", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recording_lesson_id"), ["lesson_id"], unique=False)

    op.create_table(
        "resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("grade", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column(
            "lesson_kind",
            sa.Enum(
                "dedicated",
                "master_teacher",
                "famous_school",
                name="lessonkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("taught_on", sa.Date(), nullable=True),
        sa.Column(
            "visibility",
            sa.Enum(
                "private",
                "school",
                "county",
                "everyone",
                name="visibility",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "processing",
                "ready",
                "failed",
                name="resourcestate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("teacher_id", sa.Integer(), nullable=True),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("county", sa.String(length=100), nullable=True),
        sa.Column("lesson_id", sa.Integer(), nullable=True),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("directory", sa.String(length=500), nullable=False),
        sa.Column("source_file", sa.String(length=500), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("poster", sa.String(length=500), nullable=True),
        sa.Column("thumbnails", sa.String(length=500), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lesson.id"], name=op.f("fk_resource_lesson_id_lesson"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["user_account.id"],
            name=op.f("fk_resource_owner_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recording.id"],
            name=op.f("fk_resource_recording_id_recording"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_resource_school_id_school"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["teacher_id"],
            ["user_account.id"],
            name=op.f("fk_resource_teacher_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource")),
    )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resource_lesson_id"), ["lesson_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_school_id"), ["school_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_taught_on"), ["taught_on"], unique=False)

    op.create_table(
        "rendition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bandwidth", sa.Integer(), nullable=False),
        sa.Column("playlist", sa.String(length=500), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resource.id"],
            name=op.f("fk_rendition_resource_id_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rendition")),
    )
    with op.batch_alter_table("rendition", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rendition_resource_id"), ["resource_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("rendition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rendition_resource_id"))

    op.drop_table("rendition")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_taught_on"))
        batch_op.drop_index(batch_op.f("ix_resource_state"))
        batch_op.drop_index(batch_op.f("ix_resource_school_id"))
        batch_op.drop_index(batch_op.f("ix_resource_owner_id"))
        batch_op.drop_index(batch_op.f("ix_resource_lesson_id"))

    op.drop_table("resource")
    with op.batch_alter_table("recording", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_lesson_id"))

    op.drop_table("recording")
