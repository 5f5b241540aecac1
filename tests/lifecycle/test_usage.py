"""The oversight page's figures on SQLite and PostgreSQL: per school and county for a week,
last week and a term to date; inspectors scoped to their county; the CSV; the page.

The week of Monday 2030-03-04 (Shanghai). County A (清城区): Hub School teaches Point A and
Point B four lessons: "Music" held 07:58-08:41 (43 min; A came with a mostly poor link, B did
not; two recordings viewed 7 + 5 times, and a failed one that does not count), "Reading
research" cancelled, "Famous physics" held 10:00-10:30 (A and B came), "Not yet" never held.
Point C, a teaching point of the hub, has no lesson at all. County B (清新区): Far School holds
one lesson on its own, 40 minutes, with one recording viewed 3 times. The Sunday before, at
23:30, a lesson for Point A alone falls in the previous week.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from server.lifecycle.usage import Period, UsageReport, usage_report
from server.models import (
    Attendance,
    Classroom,
    Course,
    Lesson,
    LessonKind,
    LessonStatus,
    LinkSample,
    Resource,
    ResourceState,
    School,
    SchoolKind,
    TimetableEntry,
)
from tests.lifecycle.conftest import SHANGHAI, Clock
from tests.live.world import COUNTY_A, COUNTY_B, World

WEEK = Period(date(2030, 3, 4), date(2030, 3, 10))
LAST_WEEK = Period(date(2030, 2, 25), date(2030, 3, 3))


def local(day: int, hh: int, mm: int, month: int = 3) -> datetime:
    return datetime(2030, month, day, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


async def _usage_world(db: AsyncSession, world: World) -> None:
    async def plan(name: str, status: LessonStatus, start: datetime, minutes: int,
             actual: tuple[datetime, datetime] | None = None) -> None:
        values: dict[str, object] = {"status": status, "planned_start": start,
                                     "planned_end": start + timedelta(minutes=minutes)}
        if actual:
            values.update(actual_start=actual[0], actual_end=actual[1])
        await db.execute(update(Lesson).where(Lesson.id == world[name]).values(**values))

    await plan("dedicated", LessonStatus.ended, local(4, 8, 0), 40, (local(4, 7, 58), local(4, 8, 41)))
    await plan("master", LessonStatus.cancelled, local(5, 8, 0), 40)
    await plan("famous", LessonStatus.ended, local(6, 10, 0), 45, (local(6, 10, 0), local(6, 10, 30)))
    await plan("later", LessonStatus.scheduled, local(7, 8, 0), 40)

    point_c = School(name="Point C", kind=SchoolKind.teaching_point, county=COUNTY_A,
                     hub_school_id=(await db.get(Classroom, world["hub"])).school_id)
    db.add(Classroom(name="pc", school=point_c))
    far = Lesson(title="Far maths", kind=LessonKind.famous_school, teacher_id=world["teacher2"],
                 host_classroom_id=world["far"], planned_start=local(4, 9, 0),
                 planned_end=local(4, 9, 40), status=LessonStatus.ended,
                 actual_start=local(4, 9, 0), actual_end=local(4, 9, 40), record=True)
    pa = await db.get(Classroom, world["pa"])
    prev = Lesson(title="Late", kind=LessonKind.dedicated, teacher_id=world["teacher"],
                  host_classroom_id=world["hub"], linked_classrooms=[pa],
                  planned_start=local(3, 23, 30), planned_end=local(4, 0, 10),
                  status=LessonStatus.ended, actual_start=local(3, 23, 30),
                  actual_end=local(4, 0, 10))
    db.add_all([far, prev])
    await db.flush()

    def came(lesson: int, pid: str, room: str, at: datetime) -> Attendance:
        return Attendance(lesson_id=lesson, participant_id=pid, identity=f"terminal:{pid}",
                          role="receiving_classroom", classroom_id=world[room], name=pid,
                          joined_at=at, left_at=at + timedelta(minutes=30))

    music, physics = world["dedicated"], world["famous"]
    db.add_all([
        came(music, "m-hub", "hub", local(4, 7, 58)), came(music, "m-pa", "pa", local(4, 8, 0)),
        came(music, "m-pa2", "pa", local(4, 8, 20)),  # a reconnect: still one classroom
        came(physics, "f-pa", "pa", local(6, 10, 0)), came(physics, "f-pb", "pb", local(6, 10, 0)),
        came(far.id, "far", "far", local(4, 9, 0)), came(prev.id, "late-pa", "pa", local(3, 23, 30)),
    ])
    # Point A in Music: 2 poor minutes of 5 (40% > 20%); Point B in Physics: all good.
    for i, loss in enumerate((0.5, 12.0, 0.2, 15.0, 0.1)):
        db.add(LinkSample(lesson_id=music, participant_id="m-pa", minute=local(4, 8, i),
                          samples=12, rtt_ms=40.0, loss_pct=loss, jitter_ms=5.0))
    for i in range(5):
        db.add(LinkSample(lesson_id=physics, participant_id="f-pb", minute=local(6, 10, i),
                          samples=12, rtt_ms=40.0, loss_pct=0.1, jitter_ms=5.0))

    def recording(lesson: int, views: int, state: ResourceState = ResourceState.ready
                  ) -> Resource:
        return Resource(title="rec", directory=f"r{lesson}-{views}", lesson_id=lesson,
                        views=views, state=state)

    db.add_all([recording(music, 7), recording(music, 5),
                recording(music, 100, ResourceState.failed), recording(far.id, 3)])
    await db.commit()


def _figures(report: UsageReport) -> dict[str, tuple[object, ...]]:
    """(planned, held, cancelled, minutes, expected, joined, recordings, views, poor) by name."""
    out: dict[str, tuple[object, ...]] = {}
    rows = [(c.county, c.usage) for c in report.counties]
    rows += [(s.name, s.usage) for c in report.counties for s in c.schools]
    rows.append(("total", report.total))
    for name, u in rows:
        out[name] = (u.planned, u.held, u.cancelled, round(u.minutes), u.expected, u.joined,
                     u.recordings, u.views, u.poor_link)
    return out


async def test_figures_per_school_and_county(live_app: TestClient, world: World,
                                             db: AsyncSession) -> None:
    await _usage_world(db, world)
    now = local(6, 12, 0)

    report = await usage_report(db, WEEK, None, SHANGHAI, now)
    assert _figures(report) == {
        COUNTY_A: (4, 2, 1, 73, 4, 3, 2, 12, 1),
        "Hub School": (4, 2, 1, 73, 0, 0, 2, 12, 0),
        "Point A": (4, 2, 1, 73, 2, 2, 2, 12, 1),
        "Point B": (4, 2, 1, 73, 2, 1, 2, 12, 0),
        "Point C": (0, 0, 0, 0, 0, 0, 0, 0, 0),
        COUNTY_B: (1, 1, 0, 40, 0, 0, 1, 3, 0),
        "Far School": (1, 1, 0, 40, 0, 0, 1, 3, 0),
        "total": (5, 3, 1, 113, 4, 3, 3, 15, 1),
    }
    assert report.counties[0].usage.attendance == 0.75
    assert [s.name for s in report.counties[0].uncovered] == ["Point C"]
    assert [(w.monday, w.planned, w.held) for w in report.weeks] == [(WEEK.first, 5, 3)]

    # The Sunday-night lesson belongs to the week before, by Shanghai's date.
    last = await usage_report(db, LAST_WEEK, COUNTY_A, SHANGHAI, now)
    assert _figures(last)["Point A"] == (1, 1, 0, 40, 1, 1, 0, 0, 0)
    assert [s.name for s in last.counties[0].uncovered] == ["Point B", "Point C"]

    term = await usage_report(db, Period(LAST_WEEK.first, WEEK.last), COUNTY_B, SHANGHAI, now)
    assert [c.county for c in term.counties] == [COUNTY_B]
    assert [(w.planned, w.held) for w in term.weeks] == [(0, 0), (1, 1)]


async def _get(client: TestClient, path: str, token: str) -> tuple[int, str, bytes]:
    async with client.get(path, headers={"Authorization": f"Bearer {token}"}) as resp:
        body = await resp.read()
        return resp.status, resp.headers.get("Content-Type", ""), body


async def test_page_csv_and_scoping(live_app: TestClient, world: World, db: AsyncSession,
                                    clock: Clock) -> None:
    await _usage_world(db, world)
    clock.at(date(2030, 3, 6), 12, 0)  # this week is WEEK

    hub_school = (await db.get(Classroom, world["hub"])).school_id
    course = Course(school_id=hub_school, name="Music 3", subject="music", grade="3")
    db.add(TimetableEntry(course=course, teacher_id=world["teacher"], hub_classroom_id=world["hub"],
                          kind=LessonKind.dedicated, weekday=1, start_time=time(8),
                          end_time=time(8, 40), term_start=date(2030, 2, 18),
                          term_end=date(2030, 7, 10)))
    await db.commit()

    status, _, body = await _get(live_app, "/oversight", world.tokens["admin"])
    html = body.decode()
    assert status == 200, html
    assert 'href="/oversight?from=2030-02-18&amp;to=2030-03-06">本学期至今' in html
    for label in ("应用统计", "计划课时", "已上课时", "出勤率", "未开课", "Point C", "Far School",
                  '<svg class="chart"', "2030-03-04"):
        assert label in html, label
    assert 'href="/oversight"' in html  # the navigation link

    # An inspector sees their county only, and may not ask for another.
    status, _, body = await _get(live_app, "/oversight", world.tokens["inspector"])
    assert status == 200 and "Point A" in body.decode() and "Far School" not in body.decode()
    status, _, body = await _get(live_app, "/oversight", world.tokens["inspector_b"])
    assert status == 200 and "Far School" in body.decode() and "Point A" not in body.decode()
    for who, path in (("inspector", f"/oversight?county={COUNTY_B}"),
                      ("inspector", f"/oversight.csv?county={COUNTY_B}"),
                      ("teacher", "/oversight"), ("observer", "/oversight.csv")):
        status, _, _ = await _get(live_app, path, world.tokens[who])
        assert status == 403, (who, path)
    status, _, body = await _get(live_app, "/", world.tokens["teacher"])
    assert status == 200 and 'href="/oversight"' not in body.decode()

    # The CSV: a byte-order mark for Excel, then the table as on the page.
    status, ctype, body = await _get(live_app, f"/oversight.csv?county={COUNTY_A}",
                                     world.tokens["admin"])
    assert status == 200 and ctype.startswith("text/csv")
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:5] == ["区县", "学校", "类型", "计划课时", "已上课时"]
    assert rows[1:] == [
        [COUNTY_A, "全部学校", "", "4", "2", "1", "1.2", "75%", "2", "12", "1", ""],
        [COUNTY_A, "Hub School", "中心校", "4", "2", "1", "1.2", "—", "2", "12", "0", ""],
        [COUNTY_A, "Point A", "教学点", "4", "2", "1", "1.2", "100%", "2", "12", "1", ""],
        [COUNTY_A, "Point B", "教学点", "4", "2", "1", "1.2", "50%", "2", "12", "0", ""],
        [COUNTY_A, "Point C ← Hub School", "教学点", "0", "0", "0", "0.0", "—", "0", "0", "0",
         "是"],
    ]
    # Last week, as a period in the query.
    status, _, body = await _get(live_app, "/oversight.csv?from=2030-02-25&to=2030-03-03",
                                 world.tokens["inspector"])
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert status == 200 and rows[3][:8] == [COUNTY_A, "Point A", "教学点", "1", "1", "0", "0.7",
                                              "100%"]
    status, _, _ = await _get(live_app, "/oversight?from=2030-03-10&to=2030-03-01",
                              world.tokens["admin"])
    assert status == 400


async def test_excel_workbook(live_app: TestClient, world: World, db: AsyncSession,
                              clock: Clock) -> None:
    from openpyxl import load_workbook

    await _usage_world(db, world)
    clock.at(date(2030, 3, 6), 12, 0)
    page = (await _get(live_app, "/oversight", world.tokens["admin"]))[2].decode()
    assert 'href="/oversight.xlsx?from=2030-03-04&amp;to=2030-03-10"' in page and "下载 Excel" in page

    status, ctype, body = await _get(
        live_app, f"/oversight.xlsx?from=2030-02-25&to=2030-03-10&county={COUNTY_A}",
        world.tokens["admin"])
    assert status == 200 and ctype.startswith("application/vnd.openxmlformats"), body[:200]
    book = load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["各校应用统计", "每周课时"]
    rows = [list(r) for r in book["各校应用统计"].iter_rows(values_only=True)]
    assert rows[0][:5] == ["区县", "学校", "类型", "计划课时", "已上课时"]
    assert rows[0][-1] == "未开课"
    total, point_a, point_c = rows[1], rows[3], rows[5]
    # Two weeks: last week's lesson for Point A adds to this week's four.
    assert total[:3] == [COUNTY_A, "全部学校", None]
    assert point_a[:7] == [COUNTY_A, "Point A", "教学点", 5, 3, 1, 1.9]
    assert point_a[7] == 1.0 and point_a[8:11] == [2, 12, 1] and point_a[11] is None
    assert isinstance(point_a[3], int) and isinstance(point_a[6], float)
    assert book["各校应用统计"].cell(4, 8).number_format == "0%"
    assert point_c[1] == "Point C ← Hub School" and point_c[7] is None and point_c[11] == "是"

    weeks = [list(r) for r in book["每周课时"].iter_rows(values_only=True)]
    assert weeks[0] == ["周起始日", "计划课时", "已上课时"]
    assert [(w[0].date(), w[1], w[2]) for w in weeks[1:]] == [
        (date(2030, 2, 25), 1, 1), (date(2030, 3, 4), 4, 2)]

    status, _, _ = await _get(live_app, "/oversight.xlsx", world.tokens["teacher"])
    assert status == 403
