"""Failures: each has its status and code, says what is wrong, and leaves nothing half-written."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import (
    ApiToken,
    AuditEvent,
    Classroom,
    Lesson,
    School,
    Terminal,
    User,
    lesson_classroom,
    utcnow,
)

from .conftest import Api, count_rows, fresh
from .world import World, add_api_token

# Bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "says"), [
    (b'{"name": "x",', "not valid JSON"),
    (b"{'name': 'x'}", "not valid JSON"),
    (b"", "empty"),
    (b'{"name": NaN}', "NaN"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "not an array"),
    (b'"school"', "not a string"),
    (b"null", "not null"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
])
async def test_malformed_body_is_a_bad_request(admin: Api, data: bytes, says: str) -> None:
    reply = await admin.post("schools", data=data, headers={"Content-Type": "application/json"})
    assert reply.status == 400 and reply.code == "bad_request"
    message = reply.body["error"]["message"]
    assert says.removeprefix("not ").split()[-1] in message, message


async def test_malformed_json_says_where(admin: Api) -> None:
    reply = await admin.post("schools", data=b'{\n "name": }', headers={"Content-Type": "application/json"})
    assert "line 2 column" in reply.body["error"]["message"]


@pytest.mark.parametrize("content_type", [
    None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/jsonx",
])
async def test_body_must_be_json(admin: Api, world: World, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    reply = await admin.post("schools", data=b'{"name": "X"}', headers=headers)
    assert reply.status == 415 and reply.code == "unsupported_media_type"
    patched = await admin.patch(f"classrooms/{world['hub_room']}", data=b'{"name": "X"}',
                                headers=headers)
    assert patched.status == 415


async def test_json_with_charset_is_fine(admin: Api) -> None:
    body = json.dumps({"name": "C", "kind": "hub", "county": "K"}).encode()
    reply = await admin.post("schools", data=body,
                             headers={"Content-Type": "application/json; charset=utf-8"})
    assert reply.status == 201


async def test_oversized_body_is_refused(admin: Api, db: AsyncSession) -> None:
    before = await count_rows(db, School)
    huge = {"name": "big", "kind": "hub", "county": "x" * (300 * 1024)}
    reply = await admin.post("schools", huge)
    assert reply.status == 413 and reply.code == "too_large"
    assert str(256 * 1024) in reply.body["error"]["message"]  # says the limit
    assert await count_rows(db, School) == before


# Validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field"), [
    ({"name": 123, "kind": "hub", "county": "K"}, "name"),
    ({"name": "N", "kind": "castle", "county": "K"}, "kind"),
    ({"name": "N", "kind": "hub"}, "county"),
    ({"name": "  ", "kind": "hub", "county": "K"}, "name"),
    ({"name": "N", "kind": "hub", "county": "K", "hub_school_id": "one"}, "hub_school_id"),
    ({"name": "N", "kind": "hub", "county": "K", "hub_school_id": 2**31}, "hub_school_id"),
    ({"name": "N", "kind": "hub", "county": "K", "time_zone": "Mars/Olympus"}, "time_zone"),
    ({"name": "N", "kind": "hub", "county": "K", "colour": "red"}, "colour"),
    ({"name": "x" * 201, "kind": "hub", "county": "K"}, "name"),
])
async def test_wrong_fields_are_invalid(admin: Api, body: dict[str, Any], field: str) -> None:
    reply = await admin.post("schools", body)
    assert reply.status == 422 and reply.code == "invalid"
    assert field in reply.fields, reply.body


@pytest.mark.parametrize(("plural", "body", "field"), [
    ("classrooms", lambda w: {"school_id": 999_999, "name": "R"}, "school_id"),
    ("terminals", lambda w: {"classroom_id": 2**31 - 1, "name": "T"}, "classroom_id"),
    ("lessons", lambda w: {"title": "L", "kind": "dedicated", "host_classroom_id": w["hub_room"],
                           "planned_start": "2026-12-01T08:00:00+08:00",
                           "planned_end": "2026-12-01T09:00:00+08:00", "teacher_id": w["teacher"],
                           "linked_classroom_ids": [w["point_room"], 424242]},
     "linked_classroom_ids"),
    ("lessons", lambda w: {"title": "L", "kind": "dedicated", "host_classroom_id": w["hub_room"],
                           "planned_start": "2026-12-01T08:00:00+08:00",
                           "planned_end": "2026-12-01T09:00:00+08:00",
                           "teacher_id": w["observer"]}, "teacher_id"),
])
async def test_unknown_references_are_invalid(admin: Api, world: World, db: AsyncSession,
                                              plural: str, body: Any, field: str) -> None:
    before = await count_rows(db, Lesson), await count_rows(db, lesson_classroom)
    reply = await admin.post(plural, body(world))
    assert reply.status == 422 and reply.fields == [field], reply.body
    assert (await count_rows(db, Lesson), await count_rows(db, lesson_classroom)) == before


@pytest.mark.parametrize(("plural", "body"), [
    ("schools", lambda w: {"name": "A Hub", "kind": "hub", "county": "K"}),
    ("classrooms", lambda w: {"school_id": w["a_hub"], "name": "hub"}),
    ("users", lambda w: {"username": "teacher", "display_name": "Again", "role": "observer",
                         "password": "long enough"}),
    ("courses", lambda w: {"school_id": w["a_hub"], "name": "Music 3", "subject": "s", "grade": "g"}),
])
async def test_duplicates_conflict(admin: Api, world: World, db: AsyncSession, plural: str,
                                   body: Any) -> None:
    audit_before = await count_rows(db, AuditEvent)
    reply = await admin.post(plural, body(world))
    assert reply.status == 409 and reply.code == "conflict"
    assert await count_rows(db, AuditEvent) == audit_before


async def test_delete_of_a_record_in_use_conflicts(admin: Api, world: World) -> None:
    # A teacher with lessons to come: refused, saying how many and what to do instead.
    reply = await admin.delete(f"users/{world['teacher']}")
    message = reply.body["error"]["message"]
    assert reply.status == 409 and re.search(r"teaches [1-9]\d* upcoming lesson", message)
    assert "disable the account" in message
    assert (await admin.get(f"users/{world['teacher']}")).status == 200
    # Anything else still referenced: the general refusal.
    reply = await admin.delete(f"classrooms/{world['hub_room']}")
    assert reply.status == 409 and "still used" in reply.body["error"]["message"]


async def test_cross_field_rules(admin: Api, world: World) -> None:
    reply = await admin.post("lessons", {
        "title": "Backwards", "kind": "dedicated", "host_classroom_id": world["hub_room"],
        "planned_start": "2026-12-01T09:00:00+08:00", "planned_end": "2026-12-01T08:00:00+08:00",
        "teacher_id": world["teacher"], "linked_classroom_ids": [world["hub_room"]]})
    assert reply.status == 422
    assert sorted(reply.fields) == ["linked_classroom_ids", "planned_end"]
    naive = await admin.post("lessons", {
        "title": "Naive", "kind": "dedicated", "host_classroom_id": world["hub_room"],
        "planned_start": "2026-12-01T09:00:00", "planned_end": "2026-12-01T10:00:00",
        "teacher_id": world["teacher"]})
    assert naive.status == 422 and set(naive.fields) == {"planned_start", "planned_end"}


# Nothing half-written --------------------------------------------------------------------------


async def test_failed_patch_changes_nothing(admin: Api, world: World, db: AsyncSession) -> None:
    path = f"lessons/{world['lesson']}"
    before = await admin.get(path)
    audit_before = await count_rows(db, AuditEvent)
    failures = [
        {"title": "New title", "linked_classroom_ids": [world["b_room"], 999_999]},  # 422 late
        {"title": "New title", "planned_end": "2020-01-01T00:00:00Z"},  # check fails after apply
        {"title": "New title", "status": "live"},  # not a change the API makes
        {"title": "New title", "teacher_id": world["inspector"]},
        {"title": None, "kind": "nope"},
    ]
    for body in failures:
        reply = await admin.patch(path, body)
        assert reply.status == 422, (body, reply.body)
        assert (await admin.get(path)).body == before.body
    renamed = await admin.patch(f"classrooms/{world['hub_room']}", {"name": "hub-2"})
    assert renamed.status == 409
    assert (await admin.get(f"classrooms/{world['hub_room']}")).body["name"] == "hub"
    assert await count_rows(db, AuditEvent) == audit_before
    await fresh(db)
    lesson = await db.get(Lesson, world["lesson"])
    assert lesson is not None and lesson.title == "Music for the point"


async def test_failed_create_leaves_counts(admin: Api, world: World, db: AsyncSession) -> None:
    tables = (School, Classroom, User, Lesson, lesson_classroom, AuditEvent)
    before = [await count_rows(db, t) for t in tables]
    attempts = [
        ("users", {"username": "inspector2", "display_name": "I", "role": "inspector",
                   "password": "long enough"}),  # an inspector needs a county
        ("users", {"username": "x", "display_name": "I", "role": "teacher", "password": "short"}),
        ("lessons", {"title": "L", "kind": "dedicated", "host_classroom_id": world["hub_room"],
                     "planned_start": "2026-12-01T08:00:00+08:00",
                     "planned_end": "2026-12-01T09:00:00+08:00",
                     "linked_classroom_ids": [world["point_room"], world["hub_room"]],
                     "teacher_id": world["teacher"]}),
        ("schools", {"name": "Self-led", "kind": "hub", "county": "K",
                     "hub_school_id": world["a_hub"]}),  # a hub is not led by a hub
    ]
    for plural, body in attempts:
        reply = await admin.post(plural, body)
        assert reply.status == 422, (plural, reply.body)
    assert [await count_rows(db, t) for t in tables] == before


# Ids and paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["0", "00", "2147483648", "99999999999999999999999",
                                 "9" * 5000, "abc", "-1", "1.5", "%D9%A3"])
async def test_ids_that_name_nothing_are_not_found(admin: Api, world: World, raw: str) -> None:
    calls = [("GET", "schools"), ("PATCH", "schools"), ("DELETE", "schools"), ("GET", "tokens"),
             ("DELETE", "tokens"), ("DELETE", "terminals")]
    for method, plural in calls:
        body = {"body": {"name": "x"}} if method == "PATCH" else {}
        reply = await admin.call(method, f"/api/v1/{plural}/{raw}", **body)
        assert reply.status == 404 and reply.code == "not_found", (method, plural, raw)
    assert (await admin.post(f"/api/v1/terminals/{raw}/token")).status == 404


async def test_leading_zeros_name_the_record(admin: Api, world: World) -> None:
    reply = await admin.get(f"schools/000{world['a_hub']}")
    assert reply.status == 200 and reply.body["id"] == world["a_hub"]


async def test_unknown_paths_and_methods_answer_json(admin: Api) -> None:
    missing = await admin.get("nothing-here")
    assert missing.status == 404 and missing.code == "not_found"
    wrong = await admin.call("PUT", "/api/v1/schools", {})
    assert wrong.status == 405 and wrong.code == "method_not_allowed"
    assert set(wrong.headers["Allow"].split(",")) == {"GET", "POST"}


# Credentials -----------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [
    None, "Bearer", "Bearer ", "Bearer garbage", "Bearer ka_garbage", "Bearer kt_garbage",
    "Basic YWRtaW46YWRtaW4=", "Token ka_x",
])
async def test_bad_credentials_are_unauthenticated(api: Api, world: World,
                                                   authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, path in (("GET", "me"), ("GET", "schools"), ("POST", "schools"),
                         ("DELETE", f"schools/{world['a_hub']}")):
        reply = await api.call(method, f"/api/v1/{path}", headers=headers)
        assert reply.status == 401 and reply.code == "unauthenticated", (method, path)
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await api.get("schools")).status == 401


async def test_expired_and_revoked_tokens_are_refused(api: Api, world: World,
                                                      db: AsyncSession) -> None:
    admin = await db.get(User, world["admin"])
    assert admin is not None
    expired = await add_api_token(db, admin, expires_at=utcnow() - timedelta(seconds=1))
    revoked = await add_api_token(db, admin, revoked=True)
    fresh = await add_api_token(db, admin, expires_at=utcnow() + timedelta(hours=1))
    await db.commit()
    assert (await api.as_(expired).get("me")).status == 401
    assert (await api.as_(revoked).get("me")).status == 401
    assert (await api.as_(fresh).get("me")).status == 200
    assert (await api.as_(fresh + "x").get("me")).status == 401

    admin.active = False
    await db.commit()
    assert (await api.as_(fresh).get("me")).status == 401  # an inactive user's tokens stop


async def test_terminal_token_stops_working_when_revoked(api: Api, admin: Api, world: World,
                                                         db: AsyncSession) -> None:
    terminal = api.as_(world.tokens["terminal"])
    assert (await terminal.get("me")).body["terminal_id"] == world["terminal"]
    assert (await admin.delete(f"terminals/{world['terminal']}/token")).status == 204
    reply = await terminal.get("me")
    assert reply.status == 401 and reply.code == "unauthenticated"
    await fresh(db)
    row = await db.scalar(select(Terminal).where(Terminal.id == world["terminal"]))
    assert row is not None and row.token_hash is None and row.token_revoked_at is not None
    assert await count_rows(db, ApiToken) == 6  # API tokens untouched


# Values both backends must refuse alike --------------------------------------------------------


def _lesson(w: World, **changes: Any) -> dict[str, Any]:
    body = {"title": "L", "kind": "dedicated", "host_classroom_id": w["hub_room"],
            "planned_start": "2026-12-01T08:00:00+08:00",
            "planned_end": "2026-12-01T09:00:00+08:00", "teacher_id": w["teacher"]}
    return body | changes


def _entry(w: World, **changes: Any) -> dict[str, Any]:
    body = {"course_id": w["course"], "teacher_id": w["teacher"], "hub_classroom_id": w["hub_room"],
            "kind": "dedicated", "weekday": 1, "start_time": "08:00", "end_time": "08:40",
            "term_start": "2026-09-01", "term_end": "2027-01-15"}
    return body | changes


@pytest.mark.parametrize(("plural", "body", "field"), [
    ("schools", lambda w: {"name": "nul\x00byte", "kind": "hub", "county": "K"}, "name"),
    ("courses", lambda w: {"school_id": w["a_hub"], "name": "N", "subject": "s", "grade": "g" * 51},
     "grade"),
    ("lessons", lambda w: _lesson(w, planned_start="0001-01-01T00:00:00+08:00"), "planned_start"),
    ("lessons", lambda w: _lesson(w, planned_end="9999-12-31T23:00:00-08:00"), "planned_end"),
    ("lessons", lambda w: _lesson(w, description="a\x00b"), "description"),
    ("timetable-entries", lambda w: _entry(w, start_time="08:00:00+08:00"), "start_time"),
    ("timetable-entries", lambda w: _entry(w, end_time="09:00Z"), "end_time"),
])
async def test_values_a_database_cannot_store_are_invalid(admin: Api, world: World, plural: str,
                                                          body: Any, field: str) -> None:
    reply = await admin.post(plural, body(world))
    assert reply.status == 422 and field in reply.fields, reply.body


@pytest.mark.parametrize(("plural", "query", "field"), [
    ("schools", {"county": "a\x00b"}, "county"),
    ("schools", {"q": "a\x00b"}, "q"),
    ("lessons", {"from": "0001-01-01T00:00:00+08:00"}, "from"),
    ("lessons", {"to": "9999-12-31T23:00:00-08:00"}, "to"),
])
async def test_filters_a_database_cannot_compare_are_invalid(admin: Api, plural: str,
                                                             query: dict[str, str],
                                                             field: str) -> None:
    reply = await admin.get(plural, **query)
    assert reply.status == 422 and reply.fields == [field], reply.body


async def test_null_clears_only_what_may_be_empty(admin: Api, world: World) -> None:
    path = f"lessons/{world['lesson']}"
    before = (await admin.get(path)).body
    for field in ("title", "kind", "teacher_id", "host_classroom_id", "planned_start", "status",
                  "description", "linked_classroom_ids", "observer_ids"):
        reply = await admin.patch(path, {field: None})
        assert reply.status == 422 and reply.fields == [field], (field, reply.body)
    assert (await admin.get(path)).body == before
    cleared = await admin.patch(path, {"course_id": None, "record": None})  # record: unchanged
    assert cleared.status == 200 and cleared.body["course_id"] is None
    assert cleared.body["record"] == before["record"]
    point = await admin.patch(f"schools/{world['a_point']}", {"hub_school_id": None})
    assert point.status == 200 and point.body["hub_school_id"] is None
    entry = await admin.post("timetable-entries", _entry(world))
    assert entry.status == 201, entry.body
    reply = await admin.patch(f"timetable-entries/{entry.body['id']}", {"linked_classroom_ids": None})
    assert reply.status == 422 and reply.fields == ["linked_classroom_ids"]
