"""Migrations: idempotent, and they build exactly the schema the models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, String, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from server.database import create_engine, upgrade
from server.models import Base


def _diff(connection: Connection, metadata: MetaData) -> list[Any]:
    # compare_type=True compares column types too. UTCDateTime is a TypeDecorator; alembic
    # compares its impl (a plain DateTime), so it needs no special case here.
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, metadata)


def _tables(connection: Connection) -> list[str]:
    return sorted(inspect(connection).get_table_names())


def _version(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def test_upgrade_twice_is_idempotent(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            first = await conn.run_sync(_tables)
            revision = await conn.run_sync(_version)
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == first
            assert await conn.run_sync(_version) == revision
    finally:
        await engine.dispose()
    assert revision is not None
    assert set(Base.metadata.tables) | {"alembic_version"} == set(first)


async def test_migrations_match_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff, Base.metadata)
    assert diff == [], "migrations and models differ:\n" + "\n".join(map(repr, diff))


async def test_comparison_sees_real_differences(engine: AsyncEngine) -> None:
    """Guards the test above: a model that drifted from the migrations must show up."""
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["school"].append_column(Column("motto", String(100)))
    drifted.tables["classroom"].c.name.type = String(100)
    drifted.tables["lesson"].c.planned_start.type = Integer()
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff, drifted)
    text = repr(diff)
    assert "motto" in text
    assert "'classroom', 'name'" in text
    assert "'lesson', 'planned_start'" in text
