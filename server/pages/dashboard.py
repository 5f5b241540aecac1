"""The home page: today's lessons and the coming week's, and a teacher's quick ad-hoc lesson."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.policy import can_change
from ..auth.principal import Principal
from ..errors import ErrorCode, KelianError
from ..http import principal
from ..keys import LIVE, SESSIONS, SETTINGS
from ..models import Lesson, Role, School
from ..services.lessons import end_lesson, start_lesson
from ..services.records import create_record, list_records
from ..services.specs import LESSON
from .common import N_, format_day, redirect, see_other, signed_in_user, translator, zone
from .failures import recent_rows
from .forms import FormContext, FormState, bind, default_values, place_errors, read
from .kinds import ADHOC_LESSON_FIELDS
from .labels import LESSON_KINDS, LESSON_STATUSES
from .layout import page
from .lookups import Names, classroom_zone
from .report import report_url

UPCOMING_DAYS = 7
ADHOC_MINUTES = 40


@dataclass
class LessonCard:
    id: int
    title: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    starts: str  # local HH:MM in the host school's zone
    ends: str
    host: str
    linked: list[str]
    teacher: str
    url: str
    mine: bool
    report: str | None = None  # its report's address, for whoever may read it


@dataclass
class Day:
    label: str
    lessons: list[LessonCard] = field(default_factory=list)


async def _home_zone(request: web.Request, db: AsyncSession, who: Principal) -> ZoneInfo:
    """The zone whose calendar day is "today": the user's school's, else the default."""
    tz_name = None
    if who.school_id is not None:
        tz_name = await db.scalar(select(School.time_zone).where(School.id == who.school_id))
    return zone(tz_name, request.app[SETTINGS].time_zone)


def _card(request: web.Request, lesson: Lesson, names: Names, who: Principal,
          home: ZoneInfo) -> tuple[LessonCard, datetime]:
    tr = translator(request)
    tz = zone(names.zone_of(lesson.host_classroom_id), str(home))
    start = lesson.planned_start.astimezone(tz)
    card = LessonCard(
        id=lesson.id,
        title=lesson.title,
        kind=lesson.kind.value,
        kind_label=tr(LESSON_KINDS[lesson.kind]),
        status=lesson.status.value,
        status_label=tr(LESSON_STATUSES[lesson.status]),
        starts=f"{start:%H:%M}",
        ends=f"{lesson.planned_end.astimezone(tz):%H:%M}",
        host=names.classroom(lesson.host_classroom_id),
        linked=[names.classroom(i) for i in lesson.linked_classroom_ids],
        teacher=names.user(lesson.teacher_id),
        url=f"/admin/lessons/{lesson.id}",
        mine=can_change(who, LESSON.kind, lesson),
        report=report_url(who, lesson),
    )
    return card, start


def _adhoc_defaults(ctx: FormContext, home: ZoneInfo) -> dict[str, Any]:
    values = default_values(ADHOC_LESSON_FIELDS, ctx)
    start = (datetime.now(home) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    values["planned_start"] = f"{start:%Y-%m-%dT%H:%M}"
    values["planned_end"] = f"{start + timedelta(minutes=ADHOC_MINUTES):%Y-%m-%dT%H:%M}"
    return values


def _may_add_lessons(who: Principal) -> bool:
    return who.has_role(Role.teacher)


async def _context(request: web.Request, db: AsyncSession, who: Principal,
                   form: FormState | None = None) -> dict[str, Any]:
    home = await _home_zone(request, db, who)
    today = datetime.now(home).date()
    day0 = datetime.combine(today, time(0), tzinfo=home)
    tomorrow = datetime.combine(today + timedelta(days=1), time(0), tzinfo=home)
    week_end = datetime.combine(today + timedelta(days=UPCOMING_DAYS + 1), time(0), tzinfo=home)
    lessons, _, _, _ = await list_records(db, who, LESSON, {
        "from": day0.isoformat(), "to": week_end.isoformat(), "limit": "200",
    })
    names = await Names.load(db, lessons, request.app[SETTINGS].time_zone)
    todays: list[LessonCard] = []
    upcoming: dict[str, Day] = {}
    for lesson in lessons:
        card, start = _card(request, lesson, names, who, home)
        if lesson.planned_start < tomorrow:
            todays.append(card)
        else:
            upcoming.setdefault(str(start.date()), Day(format_day(request, start))).lessons.append(card)

    ctx: dict[str, Any] = {
        "today_label": format_day(request, day0),
        "today": todays,
        "upcoming": [upcoming[key] for key in sorted(upcoming)],
        "adhoc": None,
        "adhoc_open": False,
        "adhoc_errors": [],
        "failures": await recent_rows(request, db, who),
    }
    if _may_add_lessons(who):
        fctx = FormContext(request, db, who)
        state = form or FormState(values=_adhoc_defaults(fctx, home))
        ctx["adhoc"] = await bind(ADHOC_LESSON_FIELDS, state, fctx, "create")
        ctx["adhoc_open"] = form is not None
        ctx["adhoc_errors"] = state.general
    return ctx


async def dashboard(request: web.Request) -> web.StreamResponse:
    if not principal(request).is_authenticated:
        return redirect("/login")
    who = signed_in_user(request)
    async with request.app[SESSIONS]() as db:
        ctx = await _context(request, db, who)
    return page(request, "dashboard.html", ctx, title=translator(request)(N_("Today's lessons")))


async def create_adhoc_lesson(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    if not _may_add_lessons(who):
        raise KelianError(ErrorCode.forbidden, "You may not create this lesson")
    post = await request.post()
    async with request.app[SESSIONS]() as db:
        fctx = FormContext(request, db, who)
        payload, state = await read(ADHOC_LESSON_FIELDS, post, fctx, "create", LESSON.create,
                                    zone_of=classroom_zone)
        status = 422
        if state.ok:
            try:
                await create_record(db, who, LESSON, payload)
            except KelianError as err:
                if err.code not in (ErrorCode.invalid, ErrorCode.conflict):
                    raise
                await db.rollback()
                place_errors(ADHOC_LESSON_FIELDS, state, err, fctx.tr)
                status = err.status
            else:
                return see_other("/?notice=lesson_created")
        ctx = await _context(request, db, who, state)
    return page(request, "dashboard.html", ctx, status=status,
                title=translator(request)(N_("Today's lessons")))


async def start_or_end_lesson(request: web.Request) -> web.StreamResponse:
    """The Start and End buttons of a teacher's lesson card (POST forms with CSRF)."""
    who = signed_in_user(request)
    lesson_id = int(request.match_info["id"])
    async with request.app[SESSIONS]() as db:
        if request.match_info["action"] == "start":
            await start_lesson(db, who, lesson_id, request.app[LIVE])
            return see_other("/?notice=lesson_started")
        await end_lesson(db, who, lesson_id, request.app[LIVE])
        return see_other("/?notice=lesson_ended")


def setup(app: web.Application) -> None:
    app.router.add_get("/", dashboard)
    app.router.add_post("/lessons", create_adhoc_lesson)
    app.router.add_post(r"/lessons/{id:[0-9]{1,9}}/{action:start|end}", start_or_end_lesson)
