"""The records each live scenario needs, made through the API (loadtest/api.py) and started.

- `seed_crowd`: one lesson (famous_school or master_teacher) taught by a teacher from a hub
  classroom to many linked classrooms, with one terminal (and token) per participant.
- `seed_classrooms`: K dedicated lessons, each a teacher in its own hub classroom and three
  teaching points with one terminal each.

A lesson links at most 200 classrooms (the API's `IdList`, server/schemas.py), so a crowd of
more than 200 terminals puts several terminals in each linked classroom: every terminal is its
own participant all the same (its own identity, socket and seat).
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from .api import Api, bounded, lesson_times, sign_in
from .kelian import ADMIN, Target

MAX_LINKED = 200  # classrooms per lesson, the API's limit
CLASSROOMS_PER_SCHOOL = 50
COUNTY = "清城区"


@dataclass(frozen=True)
class Seat:
    name: str  # for error messages: "terminal 17", "teacher"
    token: str  # a terminal token (kt_…) or the teacher's API token (ka_…)


@dataclass(frozen=True)
class SeededLesson:
    lesson_id: int
    host: Seat
    terminals: list[Seat]


async def admin_token(target: Target) -> str:
    if target.admin_token:
        return target.admin_token
    assert target.admin_password is not None, "a given server needs --admin-token"
    return await sign_in(target.url, ADMIN, target.admin_password)


async def _teacher(api: Api, tag: str, school_id: int) -> tuple[int, str, str]:
    username, password = f"{tag}-teacher", secrets.token_urlsafe(12)
    user_id = await api.create("users", username=username, display_name=f"老师 {tag}",
                               role="teacher", password=password, school_id=school_id)
    return user_id, username, password


async def _terminals(api: Api, classroom_ids: list[int], count: int) -> list[Seat]:
    """`count` terminals spread round-robin over the classrooms, each with its token."""
    terminal_ids = await bounded(
        api.create("terminals", classroom_id=classroom_ids[i % len(classroom_ids)],
                   name=f"终端 {i}") for i in range(count))
    tokens = await bounded(api.terminal_token(t) for t in terminal_ids)
    return [Seat(f"terminal {t}", token) for t, token in zip(terminal_ids, tokens, strict=True)]


async def seed_crowd(target: Target, participants: int, kind: str, tag: str,
                     record: bool = False) -> SeededLesson:
    """One live `kind` lesson with `participants` terminals in up to 200 linked classrooms."""
    async with Api(target.url, await admin_token(target)) as api:
        hub = await api.create("schools", name=f"{tag} 名校", kind="hub", county=COUNTY)
        host_room = await api.create("classrooms", school_id=hub, name="直播教室")
        teacher_id, username, password = await _teacher(api, tag, hub)
        rooms = min(MAX_LINKED, max(1, participants))
        schools = await bounded(
            api.create("schools", name=f"{tag} 学校 {s}", kind="school", county=COUNTY)
            for s in range(math.ceil(rooms / CLASSROOMS_PER_SCHOOL)))
        classroom_ids = await bounded(
            api.create("classrooms", school_id=schools[r // CLASSROOMS_PER_SCHOOL],
                       name=f"教室 {r}") for r in range(rooms))
        terminals = await _terminals(api, classroom_ids, participants)
        lesson_id = await api.create(
            "lessons", title=f"负载测试 {tag}", kind=kind, host_classroom_id=host_room,
            teacher_id=teacher_id, linked_classroom_ids=classroom_ids, record=record,
            **lesson_times())
    teacher_token = await sign_in(target.url, username, password)
    async with Api(target.url, teacher_token) as api:
        await api.start_lesson(lesson_id)
    return SeededLesson(lesson_id, Seat("teacher", teacher_token), terminals)


async def seed_classrooms(target: Target, lessons: int, points: int, tag: str,
                          record: bool = False) -> list[SeededLesson]:
    """`lessons` live dedicated lessons: a teacher in a hub classroom, `points` teaching points."""
    seeded: list[tuple[int, str, str, list[Seat]]] = []
    async with Api(target.url, await admin_token(target)) as api:
        hub = await api.create("schools", name=f"{tag} 中心校", kind="hub", county=COUNTY)
        for k in range(lessons):
            host_room = await api.create("classrooms", school_id=hub, name=f"录播教室 {k}")
            teacher_id, username, password = await _teacher(api, f"{tag}-{k}", hub)
            rooms = []
            for p in range(points):
                school = await api.create("schools", name=f"{tag} 教学点 {k}-{p}",
                                          kind="teaching_point", county=COUNTY, hub_school_id=hub)
                rooms.append(await api.create("classrooms", school_id=school, name="一年级教室"))
            terminals = await _terminals(api, rooms, points)
            lesson_id = await api.create(
                "lessons", title=f"专递课堂 {tag}-{k}", kind="dedicated",
                host_classroom_id=host_room, teacher_id=teacher_id, linked_classroom_ids=rooms,
                record=record, **lesson_times())
            seeded.append((lesson_id, username, password, terminals))
    out = []
    for lesson_id, username, password, terminals in seeded:
        token = await sign_in(target.url, username, password)
        async with Api(target.url, token) as api:
            await api.start_lesson(lesson_id)
        out.append(SeededLesson(lesson_id, Seat("teacher", token), terminals))
    return out


async def end_lesson(target: Target, host: Seat, lesson_id: int) -> None:
    """End a lesson as its teacher (a given server keeps no live test lesson behind)."""
    async with Api(target.url, host.token) as api:
        await api.end_lesson(lesson_id)
