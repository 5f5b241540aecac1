"""A lesson's Recording when its Room moves between nodes (a drain, a node that died): the next
node resumes it under the same id and folder when it sees the files, so the lesson ends with one
Recording and one library item; where it cannot see them it starts its own, and the node that
handed the Recording on closes it when nobody resumed it. Real database, real segment files."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import av
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from server.library.recordings import DatabaseRecordings, row_id
from server.library.storage import LibraryStorage
from server.models import Recording, RecordingState, Resource
from tests.api.world import World


def _write_segment(path: Path, seconds: float) -> Path:
    """A real segment file: `seconds` of 10 fps VP8, as the recorder's remux would hold."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 10)
        for i in range(int(seconds * 10)):
            frame = av.VideoFrame(160, 120, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([i * 7 % 255]) * plane.buffer_size)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)


async def _recordings(sessions: async_sessionmaker, lesson_id: int  # type: ignore[type-arg]
                      ) -> list[Recording]:
    async with sessions() as db:
        return list(await db.scalars(select(Recording).where(Recording.lesson_id == lesson_id)
                                     .order_by(Recording.id)))


async def test_the_next_node_resumes_the_recording_and_the_lesson_ends_with_one(
        world: World, storage: LibraryStorage, sessions: async_sessionmaker  # type: ignore[type-arg]
        ) -> None:
    lesson_id = world["lesson"]
    a = DatabaseRecordings(sessions, storage, "node-a:8080")
    b = DatabaseRecordings(sessions, storage, "node-b:8080")

    rec_a, folder = await a.begin(lesson_id)
    first = _write_segment(folder / f"{rec_a}.001.mkv", 2.0)
    await a.segment(rec_a, first, 0.0, None)
    await a.segment(rec_a, first, 0.0, 2.0)
    await a.finish(rec_a, [first], None, handed_on=True)  # node a drains
    [left] = await _recordings(sessions, lesson_id)
    assert (left.state, left.node) == (RecordingState.recording, "node-a:8080")

    rec_b, folder_b = await b.begin(lesson_id)  # the Room opens on node b
    assert (rec_b, folder_b) == (rec_a, folder)
    second = _write_segment(folder / f"{rec_b}.002.mkv", 1.0)
    await b.segment(rec_b, second, 0.0, 1.0)  # its writer's clock starts again at 0
    await a.finish(rec_a, [first], None, handed_on=True)  # late: node a no longer owns it
    await b.finish(rec_b, [second], None)  # the lesson ends on node b

    [done] = await _recordings(sessions, lesson_id)
    assert (done.state, done.node) == (RecordingState.stopped, "node-b:8080")
    assert [s["file"] for s in done.segments] == [first.name, second.name]
    assert done.segments[1]["start_s"] >= 2.0  # after node a's piece, not before it
    async with sessions() as db:
        [resource] = list(await db.scalars(select(Resource).where(
            Resource.lesson_id == lesson_id)))
    assert resource.recording_id == done.id


async def test_after_a_killed_nodes_unclosed_segment_the_new_ones_come_next(
        world: World, storage: LibraryStorage, sessions: async_sessionmaker  # type: ignore[type-arg]
        ) -> None:
    lesson_id = world["lesson"]
    a = DatabaseRecordings(sessions, storage, "node-a:8080")
    rec_a, folder = await a.begin(lesson_id)
    first = _write_segment(folder / f"{rec_a}.001.mkv", 2.0)
    await a.segment(rec_a, first, 0.0, 2.0)
    second = _write_segment(folder / f"{rec_a}.002.mkv", 3.0)
    await a.segment(rec_a, second, 2.0, None)  # opened, then node a was killed
    b = DatabaseRecordings(sessions, storage, "node-b:8080")
    rec_b, _ = await b.begin(lesson_id)
    third = _write_segment(folder / f"{rec_b}.003.mkv", 1.0)
    await b.segment(rec_b, third, 0.0, None)
    [running] = await _recordings(sessions, lesson_id)
    assert running.node == "node-b:8080"
    assert [s["file"] for s in running.segments] == [first.name, second.name, third.name]
    assert running.segments[2]["start_s"] >= 2.0  # after what the closed segments tell
    await b.finish(rec_b, [third], None)
    [done] = await _recordings(sessions, lesson_id)
    assert [s["file"] for s in done.segments] == [first.name, second.name, third.name]


async def test_a_node_that_cannot_see_the_files_starts_its_own_and_the_old_one_is_closed(
        world: World, storage: LibraryStorage, sessions: async_sessionmaker,  # type: ignore[type-arg]
        tmp_path: Path) -> None:
    lesson_id = world["lesson"]
    a = DatabaseRecordings(sessions, storage, "node-a:8080", unclaimed_after_s=0.2)
    elsewhere = LibraryStorage(tmp_path / "another-disk")
    b = DatabaseRecordings(sessions, elsewhere, "node-b:8080")

    rec_a, folder = await a.begin(lesson_id)
    first = _write_segment(folder / f"{rec_a}.001.mkv", 1.0)
    await a.segment(rec_a, first, 0.0, 1.0)
    await a.finish(rec_a, [first], None, handed_on=True)
    rec_b, folder_b = await b.begin(lesson_id)
    assert rec_b != rec_a and folder_b.is_relative_to(tmp_path / "another-disk")

    async def closed() -> bool:
        return (await _recordings(sessions, lesson_id))[0].state is RecordingState.stopped

    for _ in range(50):
        if await closed():
            break
        await asyncio.sleep(0.1)
    old, new = await _recordings(sessions, lesson_id)
    assert (old.id, old.state, [s["file"] for s in old.segments]) == (
        row_id(rec_a), RecordingState.stopped, [first.name])
    assert (new.id, new.state, new.node) == (row_id(rec_b), RecordingState.recording,
                                             "node-b:8080")
    await a.close()


def test_a_segment_too_short_to_open_does_not_cost_the_lesson(tmp_path: Path) -> None:
    """A node killed just after opening its segment leaves a few bytes of it; the transcode
    makes the lesson from the others (it crashed on it, seen in a three-node run)."""
    from server.jobs.runner import Progress
    from server.jobs.store import Claim
    from server.library.processing import render

    good = _write_segment(tmp_path / "rec-1.001.mkv", 2.0)
    cut = tmp_path / "rec-1.002.mkv"
    cut.write_bytes(good.read_bytes()[:40])  # the start of a header, as SIGKILL left one
    made = render([good, cut], tmp_path / "out", Progress(Claim(1, "transcode", {}, "w", 1, 3)))
    assert 1.5 < made.duration < 2.5
