"""A small world of records for API tests: two counties, every role, terminals and lessons.

County A: hub school "A Hub" (rooms hub, hub-2) and its teaching point "A Point" (room point).
County B: hub school "B Hub" (room b). Every user and terminal gets a bearer token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.resolve import API_TOKEN_PREFIX, TERMINAL_TOKEN_PREFIX
from server.auth.secrets import new_token, token_hash
from server.models import (
    ApiToken,
    Classroom,
    Course,
    Lesson,
    LessonKind,
    Role,
    School,
    SchoolKind,
    Terminal,
    User,
    utcnow,
)

BEIJING = timezone(timedelta(hours=8))
COUNTY_A = "清城区"
COUNTY_B = "清新区"


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # who -> bearer token

    def __getitem__(self, name: str) -> int:
        return self.ids[name]


async def add_api_token(db: AsyncSession, user: User, *, expires_at: datetime | None = None,
                        revoked: bool = False, name: str = "tests") -> str:
    secret = new_token(API_TOKEN_PREFIX)
    db.add(ApiToken(user=user, name=name, token_hash=token_hash(secret), expires_at=expires_at,
                    revoked_at=utcnow() if revoked else None))
    await db.flush()
    return secret


def _user(name: str, role: Role, school: School | None = None, county: str | None = None) -> User:
    return User(username=name, display_name=name.title(), role=role, password_hash="!",
                school=school, county=county)


async def build_world(db: AsyncSession) -> World:
    w = World()
    a_hub = School(name="A Hub", kind=SchoolKind.hub, county=COUNTY_A)
    a_point = School(name="A Point", kind=SchoolKind.teaching_point, county=COUNTY_A)
    b_hub = School(name="B Hub", kind=SchoolKind.hub, county=COUNTY_B)
    db.add_all([a_hub, a_point, b_hub])
    await db.flush()
    a_point.hub_school_id = a_hub.id
    hub_room, hub_room2 = Classroom(name="hub", school=a_hub), Classroom(name="hub-2", school=a_hub)
    point_room, b_room = Classroom(name="point", school=a_point), Classroom(name="b", school=b_hub)
    users = {
        "admin": _user("admin", Role.admin, a_hub),
        "teacher": _user("teacher", Role.teacher, a_hub),
        "teacher2": _user("teacher2", Role.teacher, a_hub),
        "teacher_b": _user("teacher_b", Role.teacher, b_hub),
        "observer": _user("observer", Role.observer, a_hub),
        "inspector": _user("inspector", Role.inspector, county=COUNTY_A),
    }
    terminal = Terminal(name="point TV", classroom=point_room)
    terminal_b = Terminal(name="b TV", classroom=b_room)
    course = Course(name="Music 3", subject="music", grade="3", school=a_hub)
    course_b = Course(name="Art 4", subject="art", grade="4", school=b_hub)
    db.add_all([hub_room, hub_room2, point_room, b_room, *users.values(), terminal, terminal_b,
                course, course_b])
    await db.flush()

    start = datetime(2026, 12, 1, 8, 0, tzinfo=BEIJING)

    def lesson(title: str, teacher: User, host: Classroom, linked: list[Classroom],
               observers: list[User], days: int) -> Lesson:
        return Lesson(title=title, kind=LessonKind.dedicated, teacher=teacher, host_classroom=host,
                      linked_classrooms=linked, observers=observers,
                      planned_start=start + timedelta(days=days),
                      planned_end=start + timedelta(days=days, minutes=40), record=False)

    lessons = {
        "lesson": lesson("Music for the point", users["teacher"], hub_room, [point_room],
                         [users["observer"]], 0),
        "lesson2": lesson("Teacher2's art", users["teacher2"], hub_room2, [], [], 1),
        "lesson_b": lesson("B's lesson", users["teacher_b"], b_room, [], [], 2),
    }
    db.add_all(lessons.values())
    await db.flush()

    for who, user in users.items():
        w.tokens[who] = await add_api_token(db, user)
    for who, term in (("terminal", terminal), ("terminal_b", terminal_b)):
        secret = new_token(TERMINAL_TOKEN_PREFIX)
        term.token_hash, term.token_issued_at = token_hash(secret), utcnow()
        w.tokens[who] = secret
    await db.commit()

    named: dict[str, object] = {
        "a_hub": a_hub, "a_point": a_point, "b_hub": b_hub, "hub_room": hub_room,
        "hub_room2": hub_room2, "point_room": point_room, "b_room": b_room,
        "terminal": terminal, "terminal_b": terminal_b, "course": course, "course_b": course_b,
        **users, **lessons,
    }
    w.ids = {name: obj.id for name, obj in named.items()}  # type: ignore[attr-defined]
    return w
