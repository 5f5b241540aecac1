"""Booking conflicts (issue #7): a classroom or a teacher is not booked twice at once.

The world's "lesson" is taught by `teacher` in hub_room, linked to point_room, on
2026-12-01 08:00–08:40 (Beijing); "lesson2" by `teacher2` in hub_room2 on 2026-12-02.
"""

from __future__ import annotations

from typing import Any

from server.i18n import Translator
from server.pages.messages import translate_message
from tests.test_i18n import LOCALE_DIR

from .conftest import Api
from .world import World


def _lesson(w: World, start: str, end: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "加课", "kind": "dedicated", "teacher_id": w["teacher2"],
        "host_classroom_id": w["hub_room2"], "linked_classroom_ids": [],
        "planned_start": f"2026-12-01T{start}:00+08:00", "planned_end": f"2026-12-01T{end}:00+08:00",
    }
    return body | extra


def _message(reply: Any, field: str) -> str:
    return next(d["message"] for d in reply.body["error"]["details"] if d["field"] == field)


async def test_overlapping_lesson_is_refused_naming_the_other(admin: Api, world: World) -> None:
    other = world["lesson"]
    host = await admin.post("lessons", _lesson(world, "08:20", "09:00",
                                               host_classroom_id=world["hub_room"]))
    assert host.status == 422 and host.code == "invalid" and host.fields == ["host_classroom_id"]
    message = _message(host, "host_classroom_id")
    assert message == (f"classroom “hub” is taken by lesson {other} “Music for the point” "
                       "on 2026-12-01 08:00–08:40 Asia/Shanghai")

    linked = await admin.post("lessons", _lesson(world, "07:30", "08:01",
                                                 linked_classroom_ids=[world["point_room"]]))
    assert linked.status == 422 and linked.fields == ["linked_classroom_ids"]
    assert "classroom “point”" in _message(linked, "linked_classroom_ids")

    teacher = await admin.post("lessons", _lesson(world, "07:59", "08:30",
                                                  teacher_id=world["teacher"]))
    assert teacher.status == 422 and teacher.fields == ["teacher_id"]
    assert _message(teacher, "teacher_id").startswith(f"the teacher teaches lesson {other} ")

    everything = await admin.post("lessons", _lesson(
        world, "08:10", "08:20", teacher_id=world["teacher"], host_classroom_id=world["hub_room"],
        linked_classroom_ids=[world["point_room"]]))
    assert sorted(everything.fields) == ["host_classroom_id", "linked_classroom_ids", "teacher_id"]


async def test_touching_times_and_other_rooms_are_allowed(admin: Api, world: World) -> None:
    same = {"teacher_id": world["teacher"], "host_classroom_id": world["hub_room"],
            "linked_classroom_ids": [world["point_room"]]}
    before = await admin.post("lessons", _lesson(world, "07:20", "08:00", **same))
    after = await admin.post("lessons", _lesson(world, "08:40", "09:20", **same))
    elsewhere = await admin.post("lessons", _lesson(world, "08:00", "08:40"))
    assert (before.status, after.status, elsewhere.status) == (201, 201, 201), after.body


async def test_cancelled_lessons_do_not_block(admin: Api, world: World) -> None:
    lesson = world["lesson"]
    assert (await admin.patch(f"lessons/{lesson}", {"status": "cancelled"})).status == 200
    replacement = await admin.post("lessons", _lesson(world, "08:00", "08:40",
                                                      host_classroom_id=world["hub_room"]))
    assert replacement.status == 201, replacement.body
    # Restoring the cancelled one would now double-book its classroom.
    restored = await admin.patch(f"lessons/{lesson}", {"status": "scheduled"})
    assert restored.status == 422 and restored.fields == ["host_classroom_id"]
    assert f"lesson {replacement.body['id']} “加课”" in _message(restored, "host_classroom_id")


async def test_edit_moving_onto_a_conflict_is_refused(admin: Api, world: World) -> None:
    lesson2 = world["lesson2"]
    moved = await admin.patch(f"lessons/{lesson2}", {
        "planned_start": "2026-12-01T08:30:00+08:00", "planned_end": "2026-12-01T09:10:00+08:00",
        "host_classroom_id": world["hub_room"]})
    assert moved.status == 422 and moved.fields == ["host_classroom_id"]
    unchanged = await admin.get(f"lessons/{lesson2}")
    assert unchanged.body["planned_start"] == "2026-12-02T00:00:00Z"
    assert unchanged.body["host_classroom_id"] == world["hub_room2"]

    # The same move in its own classroom is fine, and so is editing it again in place.
    ok = await admin.patch(f"lessons/{lesson2}", {
        "planned_start": "2026-12-01T08:30:00+08:00", "planned_end": "2026-12-01T09:10:00+08:00"})
    assert ok.status == 200, ok.body
    assert (await admin.patch(f"lessons/{lesson2}", {"title": "美术"})).status == 200
    handed = await admin.patch(f"lessons/{lesson2}", {"teacher_id": world["teacher"]})
    assert handed.status == 422 and handed.fields == ["teacher_id"]


def _entry(w: World, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "course_id": w["course"], "teacher_id": w["teacher"], "hub_classroom_id": w["hub_room"],
        "kind": "dedicated", "weekday": 2, "start_time": "08:00:00", "end_time": "08:40:00",
        "term_start": "2026-09-01", "term_end": "2027-01-15",
        "linked_classroom_ids": [w["point_room"]],
    }
    return body | extra


async def test_timetable_entries_do_not_overlap(admin: Api, world: World) -> None:
    first = await admin.post("timetable-entries", _entry(world))
    assert first.status == 201, first.body
    other = {"teacher_id": world["teacher2"], "hub_classroom_id": world["hub_room2"],
             "linked_classroom_ids": []}

    room = await admin.post("timetable-entries", _entry(
        world, **other | {"hub_classroom_id": world["hub_room"], "start_time": "08:30:00",
                          "end_time": "09:10:00"}))
    assert room.status == 422 and room.fields == ["hub_classroom_id"]
    assert _message(room, "hub_classroom_id") == (
        f"classroom “hub” is taken by timetable entry {first.body['id']} “Music 3” at 08:00–08:40 "
        "on the same weekday and term")
    linked = await admin.post("timetable-entries", _entry(
        world, **other | {"linked_classroom_ids": [world["point_room"]]}))
    assert linked.status == 422 and linked.fields == ["linked_classroom_ids"]
    teacher = await admin.post("timetable-entries", _entry(
        world, **other | {"teacher_id": world["teacher"]}))
    assert teacher.status == 422 and teacher.fields == ["teacher_id"]

    # Another weekday, a later term or touching times are free.
    for free in ({"weekday": 3}, {"term_start": "2027-02-01", "term_end": "2027-06-30"},
                 {"start_time": "08:40:00", "end_time": "09:20:00"}):
        made = await admin.post("timetable-entries", _entry(world, **free))
        assert made.status == 201, (free, made.body)

    wednesday = next(e["id"] for e in (await admin.get("timetable-entries", weekday="3")).body["items"])
    moved = await admin.patch(f"timetable-entries/{wednesday}", {"weekday": 2})
    assert moved.status == 422 and set(moved.fields) == {"hub_classroom_id",
                                                          "linked_classroom_ids", "teacher_id"}


def test_conflict_messages_read_chinese() -> None:
    zh = Translator(LOCALE_DIR).get("zh_CN").gettext
    assert translate_message(zh, "classroom “hub” is taken by lesson 4 “音乐” on "
                                 "2026-12-01 08:00–08:40 Asia/Shanghai") == (
        "教室“hub”已被课堂 4“音乐”占用（2026-12-01 08:00–08:40 Asia/Shanghai）")
    assert translate_message(zh, "the teacher teaches lesson 4 “音乐” on 2026-12-01 08:00–08:40 "
                                 "Asia/Shanghai").startswith("该教师此时已有课堂 4")
    assert translate_message(zh, "the teacher has timetable entry 2 “三年级音乐” at 08:30–09:10 "
                                 "on the same weekday and term") == (
        "该教师已有课表条目 2“三年级音乐”（同一星期、学期重叠，08:30–09:10）")
    assert translate_message(zh, "classroom “音乐教室” is taken by timetable entry 2 “三年级音乐” at "
                                 "08:30–09:10 on the same weekday and term").startswith(
        "教室“音乐教室”已被课表条目 2")
