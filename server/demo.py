"""Demo data: one hub school with two teaching points, four users, a timetable, a week of lessons
ahead and the term's past weeks as lessons held, with who attended, so the oversight page has
figures. No library recordings: a resource without its media files would not play.

`load_demo` runs only against a database without users, and either loads everything or nothing.
The sign-ins are fixed and public; `print_demo_sign_ins` says so when it prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .auth.secrets import hash_password
from .config import Settings
from .models import (
    Attendance,
    Classroom,
    Course,
    Holiday,
    JoinFailure,
    Lesson,
    LessonKind,
    LessonStatus,
    Role,
    School,
    SchoolKind,
    Source,
    SourceKind,
    SourceRole,
    Terminal,
    TimetableEntry,
    User,
)
from .signalling.codes import LeaveReason

COUNTY = "清城区"
HUB_NAME = "清远市第一中心小学"
POINT_NAMES = ("石角镇教学点", "龙塘镇教学点")
GRADE = "三年级"
# How far the generated lessons reach from today, in days (today included).
LESSON_DAYS = 7
# The term began a little over eight weeks ago; its past days hold lessons already taught.
TERM_BEFORE = timedelta(weeks=8, days=3)
TERM_AFTER = timedelta(days=120)


@dataclass(frozen=True)
class DemoSignIn:
    username: str
    password: str
    role: Role
    display_name: str


DEMO_SIGN_INS: list[DemoSignIn] = [
    DemoSignIn("admin", "kelian-admin", Role.admin, "系统管理员"),
    DemoSignIn("teacher", "kelian-teacher", Role.teacher, "王老师"),
    DemoSignIn("observer", "kelian-observer", Role.observer, "李老师"),
    DemoSignIn("inspector", "kelian-inspector", Role.inspector, "赵督导"),
]


@dataclass(frozen=True)
class _Slot:
    """One weekly timetable slot: course subject, ISO weekdays, local start, length."""

    subject: str
    weekdays: tuple[int, ...]
    start: time
    minutes: int = 40


EVERY_DAY = (1, 2, 3, 4, 5, 6, 7)
# Music in the morning and English in the afternoon on every day of the week, so that "today"
# always has an earlier and a later lesson; art three times a week.
TIMETABLE: tuple[_Slot, ...] = (
    _Slot("音乐", EVERY_DAY, time(8, 30)),
    _Slot("美术", (1, 3, 5), time(10, 10)),
    _Slot("英语", EVERY_DAY, time(15, 0)),
)


def print_demo_sign_ins() -> None:
    """Print the demo accounts for whoever started the service."""
    lines = ["", "Demo sign-ins (演示账号):"]
    width = max(len(s.username) for s in DEMO_SIGN_INS)
    for s in DEMO_SIGN_INS:
        lines.append(f"  {s.username:<{width}}  password: {s.password:<18} "
                     f"role: {s.role.value:<9} ({s.display_name})")
    lines.append("WARNING: these passwords are public. Change them, or do not use --demo, "
                 "on any server others can reach.")
    lines.append("警告：演示密码是公开的，请勿在他人可访问的服务器上使用。")
    lines.append("")
    print("\n".join(lines), flush=True)


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time in `zone` as an aware UTC datetime."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


async def load_demo(db: AsyncSession, settings: Settings) -> bool:
    """Create the demo data when there are no users yet. Returns True when it was loaded."""
    if await db.scalar(select(func.count()).select_from(User)):
        return False
    try:
        await _create(db, settings)
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    return True


async def _create(db: AsyncSession, settings: Settings) -> None:
    zone_name = settings.time_zone
    zone = ZoneInfo(zone_name)

    # Schools and their rooms, each room with its terminal (no token until an admin issues one).
    def classroom(name: str) -> Classroom:
        return Classroom(name=name, terminals=[Terminal(name="教室终端")])

    recording_room, music_room = classroom("录播教室"), classroom("音乐教室")
    recording_room.sources = [
        # An example camera, off: nothing answers at this address on a demo machine, and an
        # enabled one would be pulled (and reported unreachable) in every lesson here.
        Source(name="教师机位", kind=SourceKind.rtsp, role=SourceRole.teacher,
               url="rtsp://127.0.0.1:8554/teacher", enabled=False)
    ]
    hub = School(name=HUB_NAME, kind=SchoolKind.hub, county=COUNTY, time_zone=zone_name,
                 classrooms=[recording_room, music_room])
    db.add(hub)
    await db.flush()  # the teaching points need the hub's id

    point_rooms: list[Classroom] = []
    for point_name in POINT_NAMES:
        room = classroom("一年级教室")
        db.add(School(name=point_name, kind=SchoolKind.teaching_point, county=COUNTY,
                      hub_school_id=hub.id, time_zone=zone_name, classrooms=[room]))
        point_rooms.append(room)

    # People.
    users: dict[str, User] = {}
    for s in DEMO_SIGN_INS:
        users[s.username] = User(
            username=s.username,
            display_name=s.display_name,
            role=s.role,
            password_hash=hash_password(s.password),
            school=hub if s.role in (Role.teacher, Role.observer) else None,
            county=COUNTY if s.role is Role.inspector else None,
        )
    db.add_all(users.values())
    teacher, observer = users["teacher"], users["observer"]

    # Courses and the weekly timetable of dedicated lessons (专递课堂).
    courses = {
        subject: Course(school=hub, name=f"{GRADE}{subject}", subject=subject, grade=GRADE)
        for subject in ("音乐", "美术", "英语")
    }
    db.add_all(courses.values())

    today = datetime.now(zone).date()
    term_start, term_end = today - TERM_BEFORE, today + TERM_AFTER
    entries: list[tuple[TimetableEntry, _Slot]] = []
    for slot in TIMETABLE:
        end = (datetime.combine(today, slot.start) + timedelta(minutes=slot.minutes)).time()
        for weekday in slot.weekdays:
            entry = TimetableEntry(
                course=courses[slot.subject], teacher=teacher, hub_classroom=music_room,
                kind=LessonKind.dedicated, weekday=weekday, start_time=slot.start,
                end_time=end, term_start=term_start, term_end=term_end,
                linked_classrooms=list(point_rooms),
            )
            entries.append((entry, slot))
    db.add_all(entry for entry, _ in entries)
    await db.flush()  # lessons refer to their timetable entry by id

    # The lessons the timetable gives for the coming week.
    for offset in range(LESSON_DAYS):
        day = today + timedelta(days=offset)
        for entry, slot in entries:
            if entry.weekday != day.isoweekday():
                continue
            start = _local(day, slot.start, zone)
            db.add(Lesson(
                title=f"{entry.course.name}（专递课堂）", kind=LessonKind.dedicated,
                course=entry.course, timetable_entry_id=entry.id, timetable_slot=start,
                teacher=teacher,
                host_classroom=music_room, planned_start=start,
                planned_end=start + timedelta(minutes=slot.minutes),
                linked_classrooms=list(point_rooms),
            ))

    # A master teacher's demonstration lesson (名师课堂) this afternoon, with an invited observer.
    master_start = _local(today, time(14, 0), zone)
    db.add(Lesson(
        title="名师课堂：三年级音乐《小雨沙沙》示范课", kind=LessonKind.master_teacher,
        course=courses["音乐"], teacher=teacher, host_classroom=recording_room,
        planned_start=master_start, planned_end=master_start + timedelta(minutes=40),
        linked_classrooms=list(point_rooms), observers=[observer],
        description="示范课与教研评课：欢迎观课教师在课后留言评课。",
    ))

    # An ad-hoc famous-school broadcast (名校网络课堂) tomorrow morning.
    famous_start = _local(today + timedelta(days=1), time(9, 30), zone)
    db.add(Lesson(
        title="名校网络课堂：三年级英语 Unit 3 公开课", kind=LessonKind.famous_school,
        course=courses["英语"], teacher=teacher, host_classroom=recording_room,
        planned_start=famous_start, planned_end=famous_start + timedelta(minutes=40),
        linked_classrooms=[music_room, *point_rooms],
        description="面向全区课堂直播，互动以文字提问为主。",
    ))
    # Holidays for the admin page, beyond the days the scheduler generates by default (14), so
    # a fresh start keeps its lessons: the hub's sports day and a county-wide research day.
    db.add_all([Holiday(day=today + timedelta(days=30), name="校运动会", school_id=hub.id),
                Holiday(day=today + timedelta(days=45), name="全区教研活动日", county=COUNTY)])
    await db.flush()
    # After today's lessons, so the lowest ids stay on those (page tests open lesson 1).
    await _history(db, entries, teacher, music_room, point_rooms, zone, term_start, today)


# Every how many past lessons each teaching point missed one (different, so they differ).
ABSENT_EVERY = (11, 7)
JOIN_ALARM_MIN = 3  # the setting's default


async def _history(db: AsyncSession, entries: list[tuple[TimetableEntry, _Slot]], teacher: User,
                   host: Classroom, points: list[Classroom], zone: ZoneInfo, first: date,
                   today: date) -> None:
    """The timetable's lessons from the term's start to yesterday, held a minute late, with the
    classrooms' attendance: each point misses some, and one point reconnects in the last one."""
    held: list[Lesson] = []
    day = first
    while day < today:
        for entry, slot in entries:
            if entry.weekday == day.isoweekday():
                start = _local(day, slot.start, zone)
                held.append(Lesson(
                    title=f"{entry.course.name}（专递课堂）", kind=LessonKind.dedicated,
                    course=entry.course, timetable_entry_id=entry.id, timetable_slot=start,
                    teacher=teacher, host_classroom=host, planned_start=start,
                    planned_end=start + timedelta(minutes=slot.minutes),
                    linked_classrooms=list(points), status=LessonStatus.ended,
                    actual_start=start + timedelta(minutes=1),
                    actual_end=start + timedelta(minutes=slot.minutes + 1), record=False,
                ))
        day += timedelta(days=1)
    db.add_all(held)
    await db.flush()  # attendance refers to the lessons by id

    def stretch(lesson: Lesson, room: Classroom, role: str, part: int, since: datetime,
                until: datetime, reason: LeaveReason) -> Attendance:
        terminal = room.terminals[0]
        return Attendance(lesson_id=lesson.id, participant_id=f"demo-{lesson.id}-{room.id}-{part}",
                          identity=f"terminal:{terminal.id}", role=role, classroom_id=room.id,
                          terminal_id=terminal.id, name=f"{room.name}·{terminal.name}",
                          joined_at=since, left_at=until, leave_reason=reason.value)

    for n, lesson in enumerate(held):
        begin, end = lesson.actual_start, lesson.actual_end
        assert begin is not None and end is not None
        db.add(stretch(lesson, host, "host_classroom", 0, begin, end, LeaveReason.lesson_ended))
        for room, every in zip(points, ABSENT_EVERY, strict=True):
            if lesson is held[-1] and room is points[0]:  # a dropped link, back a minute later
                drop = begin + timedelta(minutes=12)
                db.add(stretch(lesson, room, "receiving_classroom", 0, begin, drop,
                               LeaveReason.disconnected))
                db.add(stretch(lesson, room, "receiving_classroom", 1,
                               drop + timedelta(minutes=1), end, LeaveReason.lesson_ended))
                continue
            if n % every == every - 1:  # this point did not come: the alarm noted it
                db.add(JoinFailure(lesson_id=lesson.id, classroom_id=room.id,
                                   detected_at=begin + timedelta(minutes=JOIN_ALARM_MIN)))
                continue
            db.add(stretch(lesson, room, "receiving_classroom", 0, begin, end,
                           LeaveReason.lesson_ended))
    await db.flush()
