"""The catalogue service on SQLite and PostgreSQL: visibility, Chinese search, filters, paging,
changes, deletion (rows and files) and views."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.principal import Principal, PrincipalKind
from server.auth.resolve import user_principal
from server.errors import ErrorCode, KelianError
from server.jobs import store as jobs
from server.library import catalogue
from server.library.catalogue import CatalogueQuery, parse_query
from server.library.storage import LibraryStorage
from server.models import (
    AuditEvent,
    Job,
    JobState,
    LessonKind,
    Recording,
    RecordingState,
    Rendition,
    Resource,
    ResourceState,
    User,
    Visibility,
)
from tests.api.conftest import fresh
from tests.api.world import World

from .media import HlsFiles
from .resources import add_resource


async def who(db: AsyncSession, world: World, name: str) -> Principal:
    await fresh(db)
    user = await db.get(User, world[name])
    assert user is not None
    await db.refresh(user, ["school"])
    return user_principal(user, via_cookie=False)


async def titles(db: AsyncSession, p: Principal, query: CatalogueQuery | None = None,
                 **kw: int) -> list[str]:
    await fresh(db)
    rows, total = await catalogue.list_resources(db, p, query or CatalogueQuery(), **kw)
    assert total >= len(rows)
    return sorted(r.title for r in rows)


@pytest.fixture
async def shelf(db: AsyncSession, world: World, storage: LibraryStorage) -> dict[str, int]:
    """Resources of every visibility and state across the world's two counties (no media)."""
    a, b = world["a_hub"], world["b_hub"]
    specs = {
        "private": dict(owner_id=world["teacher"], teacher_id=world["teacher"], school_id=a,
                        county="清城区", visibility=Visibility.private),
        "school": dict(owner_id=world["teacher2"], teacher_id=world["teacher2"], school_id=a,
                       county="清城区", visibility=Visibility.school),
        "county_b": dict(owner_id=world["teacher_b"], teacher_id=world["teacher_b"],
                         school_id=b, county="清新区", visibility=Visibility.county),
        "everyone": dict(owner_id=world["teacher_b"], teacher_id=world["teacher_b"],
                         school_id=b, county="清新区", visibility=Visibility.everyone),
        "processing": dict(owner_id=world["teacher"], teacher_id=world["teacher"], school_id=a,
                           county="清城区", state=ResourceState.processing,
                           visibility=Visibility.everyone),
        "failed": dict(owner_id=world["teacher2"], teacher_id=world["teacher2"], school_id=a,
                       county="清城区", state=ResourceState.failed, error="no video track",
                       visibility=Visibility.everyone),
        "school_b": dict(owner_id=world["teacher_b"], teacher_id=world["teacher_b"],
                         school_id=b, county="清新区", visibility=Visibility.school),
    }
    ids = {}
    for name, fields in specs.items():
        ids[name] = (await add_resource(db, storage, name, **fields)).id
    return ids


EXPECTED = {
    "admin": {"private", "school", "county_b", "everyone", "processing", "failed", "school_b"},
    "teacher": {"private", "school", "everyone", "processing"},  # own ones in any state
    "teacher2": {"school", "everyone", "failed"},
    "teacher_b": {"county_b", "everyone", "school_b"},
    "observer": {"school", "everyone"},
    "inspector": {"school", "everyone"},  # every school of county A, not county B's
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_visibility_scoping(db: AsyncSession, world: World, shelf: dict[str, int],
                                  name: str) -> None:
    p = await who(db, world, name)
    assert set(await titles(db, p)) == EXPECTED[name]
    for title, resource_id in shelf.items():
        if title in EXPECTED[name]:
            assert (await catalogue.get_resource(db, p, resource_id)).title == title
        else:
            with pytest.raises(KelianError) as err:
                await catalogue.get_resource(db, p, resource_id)
            assert err.value.code is ErrorCode.not_found


async def test_terminals_and_strangers_see_nothing(db: AsyncSession, world: World,
                                                   shelf: dict[str, int]) -> None:
    terminal = Principal(kind=PrincipalKind.terminal, terminal_id=world["terminal"],
                         classroom_id=world["point_room"], school_id=world["a_point"])
    assert await titles(db, terminal) == []
    assert await titles(db, Principal(kind=PrincipalKind.anonymous)) == []
    # A county inspector elsewhere sees only what is for everyone.
    other = Principal(kind=PrincipalKind.user, user_id=999, role=None, county="别的区")
    assert await titles(db, other) == ["everyone"]


async def test_search_finds_part_of_a_chinese_title(db: AsyncSession, world: World,
                                                    storage: LibraryStorage) -> None:
    owner = dict(owner_id=world["teacher"], teacher_id=world["teacher"],
                 school_id=world["a_hub"], county="清城区")
    await add_resource(db, storage, "三年级音乐《小雨沙沙》示范课", tags=["节奏", "示范课"],
                       subject="音乐", **owner)
    await add_resource(db, storage, "四年级美术：画秋天", description="用水彩画出秋天的树叶",
                       tags=["水彩"], subject="美术", **owner)
    await add_resource(db, storage, "进度 100% 完成_了", **owner)
    p = await who(db, world, "teacher2")

    async def search(q: str) -> list[str]:
        return await titles(db, p, CatalogueQuery(q=q))

    assert await search("小雨") == ["三年级音乐《小雨沙沙》示范课"]
    assert await search("沙沙》示") == ["三年级音乐《小雨沙沙》示范课"]
    assert await search("秋天") == ["四年级美术：画秋天"]
    assert await search("树叶") == ["四年级美术：画秋天"]  # the description
    assert await search("节") == ["三年级音乐《小雨沙沙》示范课"]  # part of a tag
    assert await search("水彩") == ["四年级美术：画秋天"]
    assert await search("Teacher") == sorted(["三年级音乐《小雨沙沙》示范课", "四年级美术：画秋天",
                                              "进度 100% 完成_了"])  # the teacher's name
    assert await search("a hub") != []  # the school's name, case-insensitive
    # LIKE's wildcards are matched as themselves.
    assert await search("%") == ["进度 100% 完成_了"]
    assert await search("_") == ["进度 100% 完成_了"]
    assert await search("0%完") == []
    assert await search("\\") == []
    # Every word must match somewhere.
    assert await search("音乐 节奏") == ["三年级音乐《小雨沙沙》示范课"]
    assert await search("音乐 水彩") == []


async def test_filters_and_paging(db: AsyncSession, world: World,
                                  storage: LibraryStorage) -> None:
    base = dict(visibility=Visibility.everyone, county="清城区")
    for day in range(1, 8):
        await add_resource(
            db, storage, f"课 {day}", taught_on=date(2026, 11, day),
            subject="音乐" if day % 2 else "英语", grade="三年级" if day < 5 else "四年级",
            lesson_kind=LessonKind.famous_school if day == 3 else LessonKind.dedicated,
            tags=["节奏"] if day == 4 else ["节奏感"], owner_id=world["teacher"],
            teacher_id=world["teacher2"] if day == 5 else world["teacher"],
            school_id=world["b_hub"] if day == 6 else world["a_hub"], **base)
    p = await who(db, world, "observer")
    assert await titles(db, p, CatalogueQuery(subject="英语")) == ["课 2", "课 4", "课 6"]
    assert await titles(db, p, CatalogueQuery(grade="四年级")) == ["课 5", "课 6", "课 7"]
    assert await titles(db, p, CatalogueQuery(lesson_kind=LessonKind.famous_school)) == ["课 3"]
    assert await titles(db, p, CatalogueQuery(school_id=world["b_hub"])) == ["课 6"]
    assert await titles(db, p, CatalogueQuery(teacher_id=world["teacher2"])) == ["课 5"]
    assert await titles(db, p, CatalogueQuery(tag="节奏")) == ["课 4"]  # a whole tag
    assert await titles(db, p, CatalogueQuery(taught_from=date(2026, 11, 3),
                                              taught_to=date(2026, 11, 4))) == ["课 3", "课 4"]
    teacher = await who(db, world, "teacher2")
    assert await titles(db, teacher, CatalogueQuery(mine=True)) == ["课 5"]

    await fresh(db)
    first, total = await catalogue.list_resources(db, p, CatalogueQuery(), limit=3)
    second, _ = await catalogue.list_resources(db, p, CatalogueQuery(), limit=3, offset=3)
    assert total == 7
    assert [r.title for r in first] == ["课 7", "课 6", "课 5"]  # newest lesson first
    assert [r.title for r in second] == ["课 4", "课 3", "课 2"]


def test_parse_query() -> None:
    assert parse_query({"q": " 小雨 ", "school_id": "3", "from": "2026-11-01", "mine": "true",
                        "lesson_kind": "dedicated", "state": "failed", "limit": "5"}) == \
        CatalogueQuery(q="小雨", school_id=3, taught_from=date(2026, 11, 1), mine=True,
                       lesson_kind=LessonKind.dedicated, state=ResourceState.failed)
    for bad in ({"nope": "1"}, {"school_id": "x"}, {"to": "yesterday"}, {"lesson_kind": "x"},
                {"mine": "yes"}, {"q": "a\x00"}, {"teacher_id": str(2**40)}):
        with pytest.raises(KelianError) as err:
            parse_query(bad)
        assert err.value.code is ErrorCode.invalid, bad
    # The pages send empty inputs and their own parameters.
    assert parse_query({"subject": "", "page": "2", "school_id": ""}, strict=False) == \
        CatalogueQuery()


async def test_update_by_owner_and_admin_only(db: AsyncSession, world: World,
                                              storage: LibraryStorage) -> None:
    resource_id = (await add_resource(db, storage, "旧标题", owner_id=world["teacher"],
                                      teacher_id=world["teacher"], school_id=world["a_hub"],
                                      county="清城区")).id
    owner = await who(db, world, "teacher")
    changed = await catalogue.update_resource(db, owner, resource_id, {
        "title": "新标题", "tags": ["节奏", "节奏", "示范课"], "taught_on": "2026-10-01",
        "visibility": "county", "lesson_kind": None})
    assert (changed.title, changed.tags, changed.taught_on, changed.visibility) == \
        ("新标题", ["节奏", "示范课"], date(2026, 10, 1), Visibility.county)
    for bad in ({"title": ""}, {"tags": ["a,b"]}, {"visibility": None}, {"views": 3},
                {"tags": [str(i) for i in range(21)]}):
        with pytest.raises(KelianError) as err:
            await catalogue.update_resource(db, owner, resource_id, bad)
        assert err.value.code is ErrorCode.invalid, bad
        await db.rollback()
    colleague = await who(db, world, "teacher2")  # same school: sees it, may not change it
    with pytest.raises(KelianError) as err:
        await catalogue.update_resource(db, colleague, resource_id, {"title": "x"})
    assert err.value.code is ErrorCode.forbidden
    await db.rollback()
    admin = await who(db, world, "admin")
    assert (await catalogue.update_resource(db, admin, resource_id, {"grade": "三年级"})).grade \
        == "三年级"
    await fresh(db)
    events = (await db.scalars(select(AuditEvent.actor).where(
        AuditEvent.tag == "record.updated", AuditEvent.target == f"resource:{resource_id}"))).all()
    assert events == [f"user:{world['teacher']}", f"user:{world['admin']}"]


def _files(storage: LibraryStorage) -> list[str]:
    return sorted(p.relative_to(storage.root).as_posix() for p in storage.root.rglob("*")
                  if p.is_file())


async def test_delete_removes_rows_and_files(db: AsyncSession, world: World,
                                             storage: LibraryStorage, hls: HlsFiles) -> None:
    owner_fields = dict(owner_id=world["teacher"], teacher_id=world["teacher"],
                        school_id=world["a_hub"])
    keep_id = (await add_resource(db, storage, "留下", hls, **owner_fields)).id
    # A lesson's recording and an uploaded source: both go with the Resource.
    rec_dir = storage.recording_dir(world["lesson"])
    rec_dir.mkdir(parents=True)
    (rec_dir / "rec-1.0.mkv").write_bytes(b"x" * 100)
    recording = Recording(lesson_id=world["lesson"], state=RecordingState.stopped,
                          directory=storage.relative(rec_dir),
                          segments=[{"file": "rec-1.0.mkv", "start_s": 0, "duration_s": 1}])
    db.add(recording)
    await db.flush()
    upload = storage.upload_dir() / "abc.mp4"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"video")
    recording_id = recording.id
    gone = await add_resource(db, storage, "删除", hls, recording_id=recording_id,
                              source_file=storage.relative(upload), **owner_fields)
    gone_id = gone.id
    job = await jobs.enqueue(db, "transcode", {"resource_id": gone_id}, subject_type="resource",
                             subject_id=gone_id)
    job_id = job.id
    await db.commit()
    before = _files(storage)
    assert any(f.startswith(f"resources/{gone_id}/360p/") for f in before)

    colleague = await who(db, world, "teacher2")
    with pytest.raises(KelianError) as err:
        await catalogue.delete_resource(db, colleague, storage, gone_id)
    assert err.value.code is ErrorCode.forbidden
    await db.rollback()
    assert _files(storage) == before

    await catalogue.delete_resource(db, await who(db, world, "teacher"), storage, gone_id)
    await fresh(db)
    assert await db.get(Resource, gone_id) is None
    assert await db.scalar(select(func.count()).select_from(Rendition).where(
        Rendition.resource_id == gone_id)) == 0
    assert await db.get(Recording, recording_id) is None
    assert (await db.get(Job, job_id)).state is JobState.cancelled  # type: ignore[union-attr]
    left = _files(storage)
    assert left == [f for f in before if f.startswith(f"resources/{keep_id}/")]
    assert not storage.resource_dir(gone_id).exists() and not rec_dir.exists()


async def test_views_and_progress(db: AsyncSession, world: World,
                                  storage: LibraryStorage) -> None:
    resource_id = (await add_resource(db, storage, "处理中", state=ResourceState.processing,
                                      owner_id=world["teacher"], school_id=world["a_hub"])).id
    p = await who(db, world, "teacher")
    found = await catalogue.progress(db, p, resource_id)
    assert (found["state"], found["job_state"], found["progress"]) == \
        (ResourceState.processing, None, None)
    job = await jobs.enqueue(db, "transcode", {}, subject_type="resource", subject_id=resource_id)
    claim = await jobs.claim(db, "w1", ["transcode"])
    assert claim is not None and claim.job_id == job.id
    assert await jobs.heartbeat(db, claim, progress=0.42, speed=3.5)
    await db.commit()
    await fresh(db)
    found = await catalogue.progress(db, p, resource_id)
    assert (found["job_state"], found["progress"], found["speed"], found["attempts"]) == \
        (JobState.running, pytest.approx(0.42), pytest.approx(3.5), 1)

    await catalogue.count_view(db, resource_id)
    await catalogue.count_view(db, resource_id)
    await fresh(db)
    assert (await db.get(Resource, resource_id)).views == 2  # type: ignore[union-attr]


def test_no_media_in_the_repository() -> None:
    """Test media are made at test time (design.md: no binary blobs in git)."""
    here = Path(__file__).parent
    assert not [p for p in here.rglob("*") if p.suffix in (".ts", ".mp4", ".mkv", ".jpg")]
