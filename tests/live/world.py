"""Records for live-lesson tests: a hub, two teaching points, one far school, every role.

County A: "Hub School" (classroom hub, terminal hub-tv), teaching points "Point A" (pa, pa-tv)
and "Point B" (pb, pb-tv). County B: "Far School" (far, far-tv). Users: admin, teacher,
teacher2, observer (invited to every lesson), outsider (an observer invited nowhere),
inspector (county A), inspector_b (county B). One lesson per kind, all taught by `teacher` from
the hub to both points, plus one that stays scheduled. Every user and terminal has a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.resolve import API_TOKEN_PREFIX, TERMINAL_TOKEN_PREFIX
from server.auth.secrets import new_token, token_hash
from server.models import (
    ApiToken,
    Classroom,
    Lesson,
    LessonKind,
    Role,
    School,
    SchoolKind,
    Terminal,
    User,
    utcnow,
)

COUNTY_A = "清城区"
COUNTY_B = "清新区"
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the schools' default time zone


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> int:
        return self.ids[name]


async def build_world(db: AsyncSession) -> World:
    w = World()
    hub = School(name="Hub School", kind=SchoolKind.hub, county=COUNTY_A)
    point_a = School(name="Point A", kind=SchoolKind.teaching_point, county=COUNTY_A)
    point_b = School(name="Point B", kind=SchoolKind.teaching_point, county=COUNTY_A)
    far = School(name="Far School", kind=SchoolKind.school, county=COUNTY_B)
    rooms = {"hub": Classroom(name="hub", school=hub), "pa": Classroom(name="pa", school=point_a),
             "pb": Classroom(name="pb", school=point_b), "far": Classroom(name="far", school=far)}
    terminals = {f"{name}_tv": Terminal(name=f"{name}-tv", classroom=room)
                 for name, room in rooms.items()}

    def user(name: str, role: Role, school: School | None = hub, county: str | None = None
             ) -> User:
        return User(username=name, display_name=name.title(), role=role, password_hash="!",
                    school=school, county=county)

    users = {"admin": user("admin", Role.admin), "teacher": user("teacher", Role.teacher),
             "teacher2": user("teacher2", Role.teacher),
             "observer": user("observer", Role.observer),
             "outsider": user("outsider", Role.observer),
             "inspector": user("inspector", Role.inspector, None, COUNTY_A),
             "inspector_b": user("inspector_b", Role.inspector, None, COUNTY_B)}
    db.add_all([hub, point_a, point_b, far, *rooms.values(), *terminals.values(),
                *users.values()])
    await db.flush()

    # Now, so the lessons are on today's dashboard (in the hub's zone, even just after midnight).
    midnight = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(utcnow() - timedelta(minutes=1), midnight + timedelta(minutes=1))

    def lesson(title: str, kind: LessonKind) -> Lesson:
        return Lesson(title=title, kind=kind, teacher=users["teacher"], host_classroom=rooms["hub"],
                      linked_classrooms=[rooms["pa"], rooms["pb"]], observers=[users["observer"]],
                      planned_start=start, planned_end=start + timedelta(minutes=40),
                      record=False)

    lessons = {"dedicated": lesson("Music", LessonKind.dedicated),
               "master": lesson("Reading research", LessonKind.master_teacher),
               "famous": lesson("Famous physics", LessonKind.famous_school),
               "later": lesson("Not yet", LessonKind.dedicated)}
    db.add_all(lessons.values())
    await db.flush()

    for name, u in users.items():
        secret = new_token(API_TOKEN_PREFIX)
        db.add(ApiToken(user=u, name="tests", token_hash=token_hash(secret)))
        w.tokens[name] = secret
    for name, terminal in terminals.items():
        secret = new_token(TERMINAL_TOKEN_PREFIX)
        terminal.token_hash, terminal.token_issued_at = token_hash(secret), utcnow()
        w.tokens[name] = secret
    await db.commit()
    named: dict[str, object] = {**rooms, **terminals, **users, **lessons}
    w.ids = {name: obj.id for name, obj in named.items()}  # type: ignore[attr-defined]
    return w
