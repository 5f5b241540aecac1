"""The lesson report, `/lessons/{id}/report`: who attended and how good their links were.

For the lesson's teacher, administrators and the inspectors of its county (others who see the
lesson get "not allowed"). One row per classroom (the host's and every linked one, whether it
came or not) and per person who came; each with first join, last leave, minutes connected,
reconnects and a strip of its link's grade minute by minute. Two charts show the lesson's
packet loss and round trip over time: the median attendee and the worst one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from markupsafe import Markup

from ..auth.policy import can_read_report
from ..auth.principal import Principal
from ..errors import ErrorCode, KelianError
from ..keys import CLOCK, SESSIONS, SETTINGS
from ..lifecycle.quality import FPS, JITTER_MS, LOSS_PCT, RTT_MS, Grade
from ..lifecycle.report import AttendeeKey, AttendeeReport, MinuteQuality, attendance_report
from ..models import Lesson, LessonStatus, utcnow
from ..services.records import get_record
from ..services.specs import LESSON
from .charts import Band, Cell, Mark, Series, grade_strip, line_chart
from .common import N_, Translate, signed_in_user, translator, zone
from .labels import LESSON_KINDS, LESSON_STATUSES
from .layout import page
from .lookups import Names

ROLE_LABELS = {
    "host": N_("Teacher"),
    "host_classroom": N_("Host classroom"),
    "receiving_classroom": N_("Linked classroom"),
    "observer": N_("Observing teacher"),
    "inspector": N_("Inspector"),
}
GRADE_LABELS = {
    Grade.good: N_("Good link"),
    Grade.fair: N_("Fair link"),
    Grade.poor: N_("Poor link"),
}
# Rows in this order: the hub side, the classrooms, then the people.
ROLE_ORDER = ("host_classroom", "receiving_classroom", "host", "observer", "inspector")


def report_url(who: Principal, lesson: Lesson) -> str | None:
    """Where the lesson's report is, for links: once it went live, for those who may read it."""
    if lesson.status in (LessonStatus.live, LessonStatus.ended) and can_read_report(who, lesson):
        return f"/lessons/{lesson.id}/report"
    return None


@dataclass
class Row:
    name: str
    role: str
    joined: str
    left: str
    minutes: int
    reconnects: int
    freezes: int | None  # None: it sent no reports of its own (only terminals do)
    grade: str | None
    grade_label: str
    strip: Markup | None
    came: bool


def _clock(when: datetime | None, tz: ZoneInfo) -> str:
    return f"{when.astimezone(tz):%H:%M}" if when is not None else ""


def _figures(tr: Translate, minute: MinuteQuality, tz: ZoneInfo) -> str:
    parts = [_clock(minute.minute, tz)]
    if minute.loss_pct is not None:
        parts.append(tr(N_("loss %(value)s")) % {"value": f"{minute.loss_pct:.1f}%"})
    if minute.rtt_ms is not None:
        parts.append(tr(N_("round trip %(value)s")) % {"value": f"{minute.rtt_ms:.0f} ms"})
    if minute.jitter_ms is not None:
        parts.append(tr(N_("jitter %(value)s")) % {"value": f"{minute.jitter_ms:.0f} ms"})
    if minute.fps is not None:
        parts.append(tr(N_("%(value)s frames/s shown")) % {"value": f"{minute.fps:.0f}"})
    if minute.freezes:
        parts.append(tr(N_("%(n)s freezes")) % {"n": minute.freezes})
    parts.append(tr(N_("%(down)s kbit/s received, %(up)s sent"))
                 % {"down": f"{minute.down_kbps:.0f}", "up": f"{minute.up_kbps:.0f}"})
    return " · ".join(parts)


def _row(tr: Translate, name: str, report: AttendeeReport | None, role: str, start: datetime,
         span_min: float, tz: ZoneInfo) -> Row:
    if report is None:
        return Row(name, tr(ROLE_LABELS[role]), "", "", 0, 0, None, None, "", None, came=False)
    overall = report.grade
    strip = grade_strip(
        [Cell((m.minute - start).total_seconds() / 60, m.grade, _figures(tr, m, tz))
         for m in report.minutes],
        span_min, title=tr(N_("Link quality of %(name)s, minute by minute")) % {"name": name},
    ) if report.minutes else None
    return Row(
        name=name, role=tr(ROLE_LABELS.get(report.role, report.role)),
        joined=_clock(report.first_joined, tz),
        left=_clock(report.last_left, tz) if report.last_left else tr(N_("still connected")),
        minutes=round(report.connected_s / 60), reconnects=report.reconnects,
        freezes=report.freezes if any(m.fps is not None for m in report.minutes) else None,
        grade=overall.value if overall else None,
        grade_label=tr(GRADE_LABELS[overall]) if overall else tr(N_("no figures")),
        strip=strip, came=True,
    )


def _nice(value: float) -> float:
    """The next round axis maximum: 1, 2, 2.5 or 5 times a power of ten."""
    scale = 10 ** math.floor(math.log10(value)) if value > 0 else 1.0
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= value)


def _charts(tr: Translate, reports: list[AttendeeReport], start: datetime, span_min: float,
            marks: list[Mark], ticks: list[Mark]) -> list[tuple[str, Markup]]:
    """Loss and round trip per minute: the median attendee and the worst one."""
    by_minute: dict[datetime, list[MinuteQuality]] = {}
    for report in reports:
        for minute in report.minutes:
            by_minute.setdefault(minute.minute, []).append(minute)
    if not by_minute:
        return []
    charts = []
    for field, limits, unit, title, cap in (
            ("loss_pct", LOSS_PCT, "%", N_("Packet loss"), 30.0),
            ("rtt_ms", RTT_MS, "ms", N_("Round trip"), 2000.0),
            ("jitter_ms", JITTER_MS, "ms", N_("Jitter"), 500.0),
            ("fps", FPS, "fps", N_("Frame rate shown"), 60.0)):
        higher_is_better = field == "fps"
        worst = min if higher_is_better else max
        median_line: list[tuple[float, float | None]] = []
        worst_line: list[tuple[float, float | None]] = []
        for minute in sorted(by_minute):
            x = (minute - start).total_seconds() / 60 + 0.5
            values = [v for m in by_minute[minute] if (v := getattr(m, field)) is not None]
            median_line.append((x, median(values) if values else None))
            worst_line.append((x, worst(values) if values else None))
        known = [v for _, v in median_line + worst_line if v is not None]
        if not known:
            continue  # e.g. no terminal reported a frame rate
        if higher_is_better:
            y_max = _nice(min(cap, max(limits[1] * 1.2, max(known) * 1.1)))
            bands = [Band(0, limits[0], "poor"), Band(limits[0], limits[1], "fair"),
                     Band(limits[1], y_max, "good")]
        else:
            y_max = _nice(min(cap, max(limits[1] * 1.5, max(known) * 1.1)))
            bands = [Band(0, limits[0], "good"), Band(limits[0], limits[1], "fair"),
                     Band(limits[1], y_max, "poor")]
        charts.append((tr(title), line_chart(
            [Series(tr(N_("Median")), median_line), Series(tr(N_("Worst")), worst_line, True)],
            span_min, y_max, title=tr(title), unit=unit, bands=bands,
            marks=marks, ticks=ticks)))
    return charts


def _ticks(start: datetime, span_min: float, tz: ZoneInfo) -> list[Mark]:
    step = 5 if span_min <= 60 else 10 if span_min <= 120 else 30
    first = (start.astimezone(tz).minute // step + 1) * step - start.astimezone(tz).minute
    return [Mark(m, _clock(start + timedelta(minutes=m), tz))
            for m in range(first, int(span_min) + 1, step)]


async def lesson_report(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    tr = translator(request)
    try:
        lesson_id = int(request.match_info["id"])
    except ValueError:
        raise KelianError(ErrorCode.not_found, "No such page") from None
    now = request.app.get(CLOCK, utcnow)()
    default_zone = request.app[SETTINGS].time_zone
    async with request.app[SESSIONS]() as db:
        lesson: Lesson = await get_record(db, who, LESSON, lesson_id)
        if not can_read_report(who, lesson):
            raise KelianError(ErrorCode.forbidden, N_(
                "Only the lesson's teacher, administrators and inspectors see its report"))
        live = lesson.status is LessonStatus.live
        until = lesson.actual_end or now
        reports = await attendance_report(db, lesson.id, until, live)
        extra = SimpleNamespace(
            linked_classroom_ids=[k[1] for k in reports if k[0] == "classroom"],
            observer_ids=[k[1] for k in reports if k[0] == "user"],
            host_classroom_id=lesson.host_classroom_id, teacher_id=lesson.teacher_id,
            course_id=lesson.course_id)
        names = await Names.load(db, [lesson, extra], default_zone)
    tz = zone(names.zone_of(lesson.host_classroom_id), default_zone)

    # The time axis: from the earliest of plan, start and first join to the latest end.
    starts = [lesson.planned_start, *(r.first_joined for r in reports.values() if r.first_joined)]
    if lesson.actual_start:
        starts.append(lesson.actual_start)
    start = min(starts).replace(second=0, microsecond=0)
    end = max(lesson.planned_end, lesson.actual_end or (now if live else lesson.planned_end))
    span_min = max(1.0, (end - start).total_seconds() / 60)
    marks = [Mark((lesson.planned_start - start).total_seconds() / 60, tr(N_("planned start"))),
             Mark((lesson.planned_end - start).total_seconds() / 60, tr(N_("planned end")))]

    def name_of(key: AttendeeKey, report: AttendeeReport | None) -> str:
        kind, ident = key
        if kind == "classroom" and isinstance(ident, int) and ident in names.classrooms:
            return names.classroom(ident)
        if kind == "user" and isinstance(ident, int) and ident in names.users:
            return names.user(ident)
        return report.name if report else str(ident)

    # The linked classrooms are expected (as in the bureau's figures); the host classroom is a
    # row only when a device of its own (a terminal, an encoder) came: the teacher's console
    # is the teacher's row.
    host: AttendeeKey = ("classroom", lesson.host_classroom_id)
    expected: list[AttendeeKey] = [("classroom", i) for i in lesson.linked_classroom_ids]
    rows: list[Row] = []
    for key in expected:
        report = reports.get(key)
        rows.append(_row(tr, name_of(key, report), report, "receiving_classroom", start, span_min,
                         tz))
    classrooms = list(rows)
    if host in reports:
        rows.insert(0, _row(tr, name_of(host, reports[host]), reports[host], "host_classroom",
                            start, span_min, tz))
    expected_keys = {*expected, host}
    others = sorted((r for k, r in reports.items() if k not in expected_keys),
                    key=lambda r: (ROLE_ORDER.index(r.role) if r.role in ROLE_ORDER else 9,
                                   r.first_joined or now))
    for report in others:
        rows.append(_row(tr, name_of(report.key, report), report, report.role, start, span_min,
                         tz))

    ctx: dict[str, Any] = {
        "lesson": {
            "id": lesson.id,
            "title": lesson.title,
            "kind": lesson.kind.value,
            "kind_label": tr(LESSON_KINDS[lesson.kind]),
            "status": lesson.status.value,
            "status_label": tr(LESSON_STATUSES[lesson.status]),
            "date": f"{lesson.planned_start.astimezone(tz):%Y-%m-%d}",
            "planned": f"{_clock(lesson.planned_start, tz)}–{_clock(lesson.planned_end, tz)}",
            "actual": (f"{_clock(lesson.actual_start, tz)}–{_clock(lesson.actual_end, tz)}"
                       if lesson.actual_start else ""),
            "host": names.classroom(lesson.host_classroom_id),
            "teacher": names.user(lesson.teacher_id),
        },
        "rows": rows,
        "came": sum(row.came for row in classrooms),
        "expected": len(classrooms),
        "charts": _charts(tr, list(reports.values()), start, span_min, marks,
                          _ticks(start, span_min, tz)),
        "live": live,
    }
    return page(request, "report.html", ctx, title=tr(N_("Lesson report")) + " · " + lesson.title)


def setup(app: web.Application) -> None:
    app.router.add_get(r"/lessons/{id:[0-9]{1,9}}/report", lesson_report)
