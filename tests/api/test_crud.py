"""Create, read, list, change and delete every kind of record through the API, as an admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.routes import PLURALS
from server.models import AuditEvent

from .conftest import Api, fresh
from .world import World

Payloads = Callable[[World], tuple[dict[str, Any], dict[str, Any]]]

# kind path -> (create body, patch body), built from the seeded world's ids.
SAMPLES: dict[str, Payloads] = {
    "schools": lambda w: (
        {"name": "清远市第二中心小学", "kind": "school", "county": "清城区", "hub_school_id": w["a_hub"]},
        {"name": "清远市第二小学", "time_zone": "Asia/Urumqi"},
    ),
    "classrooms": lambda w: (
        {"school_id": w["a_point"], "name": "音乐教室"},
        {"name": "美术教室"},
    ),
    "terminals": lambda w: (
        {"classroom_id": w["hub_room2"], "name": "讲台一体机"},
        {"name": "后墙电视"},
    ),
    "sources": lambda w: (
        {"classroom_id": w["hub_room"], "name": "教师摄像机", "kind": "rtsp",
         "url": "rtsp://10.1.2.3:554/main", "role": "teacher"},
        {"enabled": False, "url": "rtsp://10.1.2.4/sub"},
    ),
    "users": lambda w: (
        {"username": "li.ming", "display_name": "李明", "role": "teacher", "password": "a-long-secret",
         "school_id": w["a_point"], "locale": "zh_CN"},
        {"display_name": "李明老师", "role": "observer"},
    ),
    "courses": lambda w: (
        {"school_id": w["a_hub"], "name": "三年级英语", "subject": "英语", "grade": "三年级"},
        {"grade": "四年级"},
    ),
    "timetable-entries": lambda w: (
        {"course_id": w["course"], "teacher_id": w["teacher"], "hub_classroom_id": w["hub_room"],
         "kind": "dedicated", "weekday": 2, "start_time": "08:00:00", "end_time": "08:40:00",
         "term_start": "2026-09-01", "term_end": "2027-01-15",
         "linked_classroom_ids": [w["point_room"]]},
        {"weekday": 4, "linked_classroom_ids": []},
    ),
    "lessons": lambda w: (
        {"title": "名师课堂：古诗词", "kind": "master_teacher", "host_classroom_id": w["hub_room"],
         "planned_start": "2026-12-07T10:00:00+08:00", "planned_end": "2026-12-07T10:45:00+08:00",
         "teacher_id": w["teacher"], "course_id": w["course"],
         "linked_classroom_ids": [w["point_room"], w["b_room"]], "observer_ids": [w["observer"]]},
        {"title": "名师课堂：唐诗", "status": "cancelled", "observer_ids": []},
    ),
    "holidays": lambda w: (
        {"day": "2026-10-01", "name": "国庆节", "county": "清城区"},
        {"name": "国庆节调休", "teaches_weekday": 4},
    ),
}


def test_samples_cover_every_kind() -> None:
    assert set(SAMPLES) == set(PLURALS.values())


def assert_subset(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    for key, value in expected.items():
        if key == "password":
            assert "password" not in actual and "password_hash" not in actual
        elif key in ("planned_start", "planned_end"):
            continue  # compared as instants below
        else:
            assert actual[key] == value, key


@pytest.mark.parametrize("plural", list(SAMPLES))
async def test_round_trip(plural: str, admin: Api, world: World, db: AsyncSession) -> None:
    create, patch = SAMPLES[plural](world)

    made = await admin.post(plural, create)
    assert made.status == 201, made.body
    assert_subset(create, made.body)
    rid = made.body["id"]
    assert made.headers["Location"] == f"/api/v1/{plural}/{rid}"

    read = await admin.get(made.headers["Location"])
    assert read.status == 200 and read.body == made.body

    listed = await admin.get(plural, limit="200")
    assert listed.status == 200
    assert made.body in listed.body["items"]
    assert listed.body["total"] == len(listed.body["items"])

    changed = await admin.patch(f"{plural}/{rid}", patch)
    assert changed.status == 200, changed.body
    assert_subset(patch, changed.body)
    untouched = {k: v for k, v in made.body.items() if k not in patch and k != "id"}
    assert {k: changed.body[k] for k in untouched} == untouched  # only the given fields change
    assert (await admin.get(f"{plural}/{rid}")).body == changed.body

    gone = await admin.delete(f"{plural}/{rid}")
    assert gone.status == 204 and gone.body == b""
    assert (await admin.get(f"{plural}/{rid}")).status == 404
    assert (await admin.delete(f"{plural}/{rid}")).status == 404

    await fresh(db)
    kind = next(k for k, p in PLURALS.items() if p == plural)
    events = (await db.scalars(select(AuditEvent).where(AuditEvent.target == f"{kind.value}:{rid}")
                              .order_by(AuditEvent.id))).all()
    assert [e.tag for e in events] == ["record.created", "record.updated", "record.deleted"]
    assert {e.actor for e in events} == {f"user:{world['admin']}"}
    assert events[1].detail["fields"] == sorted(patch)


async def test_lesson_times_are_instants_returned_in_utc(admin: Api, world: World) -> None:
    create, _ = SAMPLES["lessons"](world)
    made = await admin.post("lessons", create)
    assert made.body["planned_start"] == "2026-12-07T02:00:00Z"
    assert made.body["planned_end"] == "2026-12-07T02:45:00Z"
    assert made.body["record"] is True  # master-teacher lessons are recorded by default


async def test_paging_and_filters(admin: Api, world: World) -> None:
    everyone = await admin.get("users")
    assert everyone.body["total"] == 6 and everyone.body["limit"] == 50

    page = await admin.get("users", limit="2", offset="1")
    assert page.body["items"] == everyone.body["items"][1:3]
    assert (page.body["total"], page.body["limit"], page.body["offset"]) == (6, 2, 1)
    beyond = await admin.get("users", offset="100")
    assert beyond.body["items"] == [] and beyond.body["total"] == 6

    teachers = await admin.get("users", role="teacher")
    assert {u["username"] for u in teachers.body["items"]} == {"teacher", "teacher2", "teacher_b"}
    in_b = await admin.get("users", role="teacher", school_id=str(world["b_hub"]))
    assert [u["username"] for u in in_b.body["items"]] == ["teacher_b"]
    assert (await admin.get("users", active="false")).body["total"] == 0
    assert (await admin.get("schools", q="hub")).body["total"] == 2  # case-insensitive
    assert (await admin.get("schools", q="%")).body["total"] == 0  # wildcards are literal

    week = await admin.get("lessons", **{"from": "2026-12-02T00:00:00+08:00",
                                         "to": "2026-12-03T00:00:00+08:00"})
    assert [lesson["title"] for lesson in week.body["items"]] == ["Teacher2's art"]


@pytest.mark.parametrize(("query", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"offset": "-1"}, "offset"), ({"school_id": "x"}, "school_id"),
    ({"school_id": "99999999999"}, "school_id"), ({"active": "yes"}, "active"),
    ({"colour": "red"}, "colour"),
])
async def test_bad_query_is_invalid(admin: Api, query: dict[str, str], field: str) -> None:
    reply = await admin.get("users", **query)
    assert reply.status == 422 and reply.code == "invalid" and reply.fields == [field]


async def test_naive_time_filter_is_invalid(admin: Api) -> None:
    reply = await admin.get("lessons", **{"from": "2026-12-02T00:00:00"})
    assert reply.status == 422 and reply.fields == ["from"]
