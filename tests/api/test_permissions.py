"""The permission matrix through the API: what each role reads (lists and single records) and writes.

Records a principal may not see are absent from lists and answer 404; writes it may not make on
records it can see answer 403.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.resolve import SESSION_COOKIE
from server.http import CSRF_COOKIE, CSRF_HEADER
from server.models import Lesson

from .conftest import Api, count_rows
from .world import World

# Seeded records by kind (names from world.py).
SEEDED = {
    "schools": ["a_hub", "a_point", "b_hub"],
    "classrooms": ["hub_room", "hub_room2", "point_room", "b_room"],
    "terminals": ["terminal", "terminal_b"],
    "users": ["admin", "teacher", "teacher2", "teacher_b", "observer", "inspector"],
    "courses": ["course", "course_b"],
    "lessons": ["lesson", "lesson2", "lesson_b"],
}
EVERYTHING = {kind: set(names) for kind, names in SEEDED.items()}
NOTHING: dict[str, set[str]] = {kind: set() for kind in SEEDED}
COUNTY_A_USERS = {"admin", "teacher", "teacher2", "observer"}

VISIBLE: dict[str, dict[str, set[str]]] = {
    "admin": EVERYTHING,
    "teacher": NOTHING | {
        "schools": EVERYTHING["schools"], "classrooms": EVERYTHING["classrooms"],
        "courses": EVERYTHING["courses"],
        "users": COUNTY_A_USERS,  # the people of their own school
        "lessons": {"lesson", "lesson2"},  # their own, and those in their school's classrooms
    },
    "observer": NOTHING | {"users": {"observer"}, "lessons": {"lesson"}},  # invited only
    "inspector": {
        "schools": {"a_hub", "a_point"}, "classrooms": {"hub_room", "hub_room2", "point_room"},
        "terminals": {"terminal"}, "users": COUNTY_A_USERS | {"inspector"},
        "courses": {"course"}, "lessons": {"lesson", "lesson2"},
    },
    "terminal": NOTHING | {"schools": {"a_point"}, "classrooms": {"point_room"},
                           "lessons": {"lesson"}},  # its classroom takes part in "lesson"
}


@pytest.mark.parametrize("who", list(VISIBLE))
async def test_reads(api: Api, world: World, who: str) -> None:
    client = api.as_(world.tokens[who])
    for kind, names in SEEDED.items():
        expected = {world[name] for name in VISIBLE[who][kind]}
        listed = await client.get(kind)
        assert listed.status == 200, (who, kind)
        assert {item["id"] for item in listed.body["items"]} == expected, (who, kind)
        assert listed.body["total"] == len(expected)
        for name in names:
            reply = await client.get(f"{kind}/{world[name]}")
            assert reply.status == (200 if world[name] in expected else 404), (who, kind, name)


def _lesson(w: World, **changes: Any) -> dict[str, Any]:
    return {"title": "Ad-hoc", "kind": "famous_school", "host_classroom_id": w["hub_room"],
            "planned_start": "2026-12-09T09:00:00+08:00",
            "planned_end": "2026-12-09T09:45:00+08:00"} | changes


async def test_admin_may_do_everything(api: Api, world: World) -> None:
    admin = api.as_(world.tokens["admin"])
    school = await admin.post("schools", {"name": "New", "kind": "school", "county": "清新区"})
    assert school.status == 201
    assert (await admin.patch(f"lessons/{world['lesson_b']}", {"title": "Fixed"})).status == 200
    no_teacher = await admin.post("lessons", _lesson(world))
    assert no_teacher.status == 422 and no_teacher.fields == ["teacher_id"]  # name one
    made = await admin.post("lessons", _lesson(world, teacher_id=world["teacher_b"]))
    assert made.status == 201 and made.body["teacher_id"] == world["teacher_b"]
    assert (await admin.post(f"terminals/{world['terminal']}/token")).status == 201


async def test_teacher(api: Api, world: World, db: AsyncSession) -> None:
    teacher = api.as_(world.tokens["teacher"])
    denied = [
        ("POST", "schools", {"name": "Mine", "kind": "school", "county": "K"}),
        ("POST", "users", {"username": "friend", "display_name": "F", "role": "teacher",
                           "password": "long enough", "school_id": world["a_hub"]}),
        ("POST", "classrooms", {"school_id": world["a_hub"], "name": "new"}),
        ("POST", "courses", {"school_id": world["a_hub"], "name": "c", "subject": "s", "grade": "g"}),
        ("PATCH", f"schools/{world['a_hub']}", {"name": "Renamed"}),
        ("PATCH", f"users/{world['teacher']}", {"display_name": "Me"}),  # not even themselves
        ("DELETE", f"classrooms/{world['hub_room2']}", None),
        ("PATCH", f"lessons/{world['lesson2']}", {"title": "Taken over"}),  # another's, visible
        ("DELETE", f"lessons/{world['lesson2']}", None),
        ("POST", "lessons", _lesson(world, teacher_id=world["teacher2"])),  # for someone else
        ("PATCH", f"lessons/{world['lesson']}", {"teacher_id": world["teacher2"]}),  # hand over
        ("POST", f"terminals/{world['terminal']}/token", None),
    ]
    lessons_before = await count_rows(db, Lesson)
    for method, path, body in denied:
        reply = await teacher.call(method, f"/api/v1/{path}", **({"body": body} if body else {}))
        expected = 404 if path.startswith("terminals/") else 403  # terminals are invisible
        assert reply.status == expected, (method, path, reply.body)
    assert await count_rows(db, Lesson) == lessons_before
    assert (await teacher.get(f"lessons/{world['lesson']}")).body["teacher_id"] == world["teacher"]

    invisible = await teacher.patch(f"lessons/{world['lesson_b']}", {"title": "B"})
    assert invisible.status == 404

    own = await teacher.post("lessons", _lesson(world))
    assert own.status == 201 and own.body["teacher_id"] == world["teacher"]  # defaults to self
    assert own.body["record"] is True  # famous-school lessons are recorded by default
    path = f"lessons/{own.body['id']}"
    changed = await teacher.patch(path, {"title": "Renamed", "status": "cancelled"})
    assert changed.status == 200 and changed.body["status"] == "cancelled"
    assert (await teacher.delete(path)).status == 204


async def test_observer_sees_only_invitations(api: Api, world: World) -> None:
    observer = api.as_(world.tokens["observer"])
    assert (await observer.get(f"lessons/{world['lesson']}")).status == 200
    assert (await observer.patch(f"lessons/{world['lesson']}", {"title": "x"})).status == 403
    assert (await observer.patch(f"lessons/{world['lesson2']}", {"title": "x"})).status == 404
    assert (await observer.post("lessons", _lesson(world, teacher_id=world["teacher"]))).status == 403
    assert (await observer.patch(f"users/{world['observer']}", {"locale": "en"})).status == 403

    admin = api.as_(world.tokens["admin"])
    invite = await admin.patch(f"lessons/{world['lesson2']}", {"observer_ids": [world["observer"]]})
    assert invite.status == 200
    titles = {item["title"] for item in (await observer.get("lessons")).body["items"]}
    assert titles == {"Music for the point", "Teacher2's art"}


async def test_inspector_reads_their_county_and_writes_nothing(api: Api, world: World) -> None:
    inspector = api.as_(world.tokens["inspector"])
    for plural, body in [
        ("schools", {"name": "S", "kind": "school", "county": "清城区"}),
        ("classrooms", {"school_id": world["a_hub"], "name": "new"}),
        ("lessons", _lesson(world, teacher_id=world["teacher"])),
        ("users", {"username": "u1", "display_name": "U", "role": "observer",
                   "password": "long enough"}),
    ]:
        assert (await inspector.post(plural, body)).status == 403, plural
    for path in (f"schools/{world['a_hub']}", f"classrooms/{world['hub_room']}",
                 f"lessons/{world['lesson']}", f"users/{world['teacher']}",
                 f"terminals/{world['terminal']}"):
        assert (await inspector.patch(path, {"name": "x"})).status == 403, path
        assert (await inspector.delete(path)).status == 403, path
    for path in (f"schools/{world['b_hub']}", f"lessons/{world['lesson_b']}"):
        assert (await inspector.patch(path, {"name": "x"})).status == 404, path
        assert (await inspector.delete(path)).status == 404, path
    assert (await inspector.post(f"terminals/{world['terminal']}/token")).status == 403
    assert (await inspector.delete(f"terminals/{world['terminal']}/token")).status == 403
    assert (await inspector.post(f"terminals/{world['terminal_b']}/token")).status == 404
    assert (await inspector.get("schools", county="清新区")).body["items"] == []


async def test_terminal_reads_its_classroom_and_writes_nothing(api: Api, world: World) -> None:
    terminal = api.as_(world.tokens["terminal"])
    me = (await terminal.get("me")).body
    assert me["kind"] == "terminal" and me["classroom_id"] == world["point_room"]
    assert me["user_id"] is None and me["role"] is None
    assert (await terminal.get("users")).body == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert (await terminal.get(f"users/{world['admin']}")).status == 404
    writes = [
        ("POST", "lessons", _lesson(world, teacher_id=world["teacher"])),
        ("PATCH", f"classrooms/{world['point_room']}", {"name": "mine"}),
        ("PATCH", f"lessons/{world['lesson']}", {"title": "x"}),
        ("DELETE", f"lessons/{world['lesson']}", None),
        ("POST", "tokens", {"name": "escalate"}),
    ]
    for method, path, body in writes:
        reply = await terminal.call(method, f"/api/v1/{path}", **({"body": body} if body else {}))
        assert reply.status == 403 and reply.code == "forbidden", (method, path)
    assert (await terminal.get("tokens")).status == 403
    assert (await terminal.delete(f"terminals/{world['terminal']}/token")).status == 404


# Cookie sessions and CSRF ----------------------------------------------------------------------


async def test_cookie_writes_need_the_csrf_header(api: Api, world: World, db: AsyncSession) -> None:
    browser = await api.signed_in(db, world["teacher"])
    session = {"Cookie": browser.headers["Cookie"]}
    csrf = browser.headers[CSRF_HEADER]

    read = await api.call("GET", "/api/v1/me", headers=session)
    assert read.status == 200 and read.body["user_id"] == world["teacher"]

    lessons_before = await count_rows(db, Lesson)
    for method, path, body in [
        ("POST", "lessons", _lesson(world)),
        ("PATCH", f"lessons/{world['lesson']}", {"title": "x"}),
        ("DELETE", f"lessons/{world['lesson']}", None),
        ("POST", "tokens", {"name": "via cookie"}),
    ]:
        kw: dict[str, Any] = {"body": body} if body else {}
        missing = await api.call(method, f"/api/v1/{path}", headers=session, **kw)
        assert missing.status == 403 and missing.code == "csrf_failed", (method, path)
        wrong = await api.call(method, f"/api/v1/{path}", headers=session | {CSRF_HEADER: "nope"},
                               **kw)
        assert wrong.status == 403 and wrong.code == "csrf_failed", (method, path)
    assert await count_rows(db, Lesson) == lessons_before

    made = await api.call("POST", "/api/v1/lessons", _lesson(world),
                          headers=session | {CSRF_HEADER: csrf})
    assert made.status == 201 and made.body["teacher_id"] == world["teacher"]


async def test_bearer_writes_need_no_csrf(api: Api, world: World) -> None:
    teacher = api.as_(world.tokens["teacher"])
    made = await teacher.post("lessons", _lesson(world),
                              headers={"Cookie": f"{CSRF_COOKIE}=abc123"})  # no header, fine
    assert made.status == 201


async def test_expired_session_cookie_is_anonymous(api: Api, world: World,
                                                   db: AsyncSession) -> None:
    reply = await api.call("GET", "/api/v1/me", headers={"Cookie": f"{SESSION_COOKIE}=ks_forged"})
    assert reply.status == 401 and reply.code == "unauthenticated"


async def test_stream_keys_are_shown_to_admins_only(api: Api, world: World) -> None:
    admin = api.as_(world.tokens["admin"])
    made = await admin.post("sources", {"classroom_id": world["hub_room"], "name": "OBS",
                                        "kind": "whip"})
    assert made.status == 201 and made.body["stream_key"]
    for who in ("teacher", "inspector"):
        seen = await api.as_(world.tokens[who]).get(f"sources/{made.body['id']}")
        assert seen.status == 200, who
        assert seen.body["stream_key"] is None, who
        listed = await api.as_(world.tokens[who]).get("sources")
        assert all(item["stream_key"] is None for item in listed.body["items"]), who
