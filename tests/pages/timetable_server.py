"""`kelian serve` on demo data with the lesson lifecycle in accelerated time, for the browser
test of a timetabled lesson: `python -m tests.pages.timetable_server DATA_DIR PORT`.

The lifecycle clock (scheduler, attendance, report) starts at 06:58 on the next Saturday in
Shanghai and runs SPEED times faster than the wall clock; a timetable entry of that Saturday
teaches 07:00–07:10 from the hub's music room to both teaching points. So, in real time: the
Room opens ~6 s after start-up (one minute early), the lesson starts at ~12 s, the teacher is
warned at ~48 s and the lesson ends by itself at ~78 s (planned end plus a minute's grace). The
demo's own lessons are all before that Saturday or at other hours, so none of them opens.

Prints one JSON line (the lesson's id and title, the linked classrooms' ids) and then READY.
Everything else — the Room, the relay, attendance, the kiosks' polling — runs in real time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from server.app import create_app
from server.config import load_settings
from server.keys import CLOCK, SCHEDULER, SESSIONS
from server.models import (
    Classroom,
    Course,
    Lesson,
    LessonKind,
    School,
    SchoolKind,
    TimetableEntry,
    User,
)

SPEED = 10.0  # lifecycle seconds per wall-clock second
ZONE = ZoneInfo("Asia/Shanghai")
START = clock_time(7, 0)
END = clock_time(7, 10)


class Accelerated:
    """A clock that starts at `start` and runs `speed` times faster than the wall clock."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start = start
        self.speed = speed
        self.origin = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.origin) * self.speed)


def next_saturday() -> datetime:
    """06:58 in Shanghai on the first Saturday after tomorrow (UTC)."""
    day = datetime.now(ZONE).date() + timedelta(days=2)
    day += timedelta(days=(6 - day.isoweekday()) % 7)
    return datetime.combine(day, clock_time(6, 58), tzinfo=ZONE).astimezone(UTC)


async def main(data_dir: str, port: int) -> None:
    settings = load_settings(env={}, overrides={
        "data_dir": data_dir, "port": str(port), "demo": "true",
        "scheduler_interval_s": "1", "link_sample_s": "1",
        "lesson_open_early_min": "1", "lesson_warn_min": "2",
        "lesson_grace_min": "1", "lesson_max_overrun_min": "1",
    })
    app = create_app(settings)
    start = next_saturday()
    clock = Accelerated(start, SPEED)
    app[CLOCK] = clock
    runner = web.AppRunner(app)
    await runner.setup()  # the demo data, the relay and the scheduler start here
    async with app[SESSIONS]() as db:
        music = await db.scalar(select(Classroom).where(Classroom.name == "音乐教室"))
        points = (await db.scalars(
            select(Classroom).join(School).where(School.kind == SchoolKind.teaching_point)
            .order_by(Classroom.id))).all()
        teacher = await db.scalar(select(User).where(User.username == "teacher"))
        course = await db.scalar(select(Course).where(Course.subject == "音乐"))
        assert music and teacher and course and len(points) == 2
        day = start.astimezone(ZONE).date()
        entry = TimetableEntry(course=course, teacher=teacher, hub_classroom=music,
                               kind=LessonKind.dedicated, weekday=day.isoweekday(),
                               start_time=START, end_time=END, term_start=day, term_end=day,
                               linked_classrooms=list(points))
        db.add(entry)
        await db.commit()
        facts: dict[str, object] = {"entry": entry.id, "classrooms": [p.id for p in points],
                 "start": datetime.combine(day, START, tzinfo=ZONE).isoformat()}
    # The clock starts now; the entry's lesson is generated at once, not ten minutes later.
    clock.origin = time.monotonic()
    app[SCHEDULER].regenerate()
    await app[SCHEDULER].tick()
    async with app[SESSIONS]() as db:
        facts["lesson"] = await db.scalar(
            select(Lesson.id).where(Lesson.timetable_entry_id == facts["entry"]))
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(json.dumps(facts), flush=True)
    print("READY", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
