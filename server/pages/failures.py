"""Classrooms that failed to join their lesson (the scheduler's join alarm, `JoinFailure`).

- On the home page: the last seven days' failed joins of what the reader oversees (their
  school's classrooms and the lessons they teach; an inspector's county; everything for
  admins), each in the missed classroom's school's time.
- `/oversight/failures?day=YYYY-MM-DD`: one day's failed joins grouped by school, for admins and
  inspectors (their county), yesterday by default in the reader's time zone.
- `summary_text`: the same summary as plain text, for `kelian failures` in a cron mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.principal import Principal
from ..errors import ErrorCode, KelianError
from ..keys import CLOCK, SESSIONS, SETTINGS
from ..lifecycle.failure_list import (
    RECENT,
    FailedJoin,
    SchoolFailures,
    by_school,
    failed_joins,
    scope,
)
from ..models import Role, School, utcnow
from .common import N_, Translate, signed_in_user, translator, zone
from .layout import page
from .oversight import may_oversee

TITLE = N_("Classrooms that failed to join")


@dataclass(frozen=True)
class Row:
    """One failed join, formatted."""

    when: str  # the lesson's planned start in the missed classroom's school's time
    title: str
    classroom: str  # "School · Classroom"
    teacher: str
    outcome: str  # did not join / joined N min late
    late: bool


def _outcome(tr: Translate, f: FailedJoin) -> str:
    late = f.minutes_late
    if late is None:
        return tr(N_("Did not join"))
    return tr(N_("Joined %(minutes)s min late")) % {"minutes": late}


def row(tr: Translate, f: FailedJoin, fallback_zone: str) -> Row:
    tz = zone(f.time_zone, fallback_zone)
    return Row(f"{f.planned_start.astimezone(tz):%Y-%m-%d %H:%M}", f.title,
               f"{f.school} · {f.classroom}", f.teacher, _outcome(tr, f), f.joined_at is not None)


def sees_failures(who: Principal) -> bool:
    return who.has_role(Role.admin, Role.inspector, Role.teacher)


async def recent_rows(request: web.Request, db: AsyncSession, who: Principal) -> list[Row] | None:
    """The dashboard panel's rows; None for readers who oversee no classroom (observers)."""
    if not sees_failures(who):
        return None
    now = request.app.get(CLOCK, utcnow)()
    found = await failed_joins(db, scope(who), now - RECENT, now + timedelta(minutes=1),
                               limit=50)
    tr = translator(request)
    return [row(tr, f, request.app[SETTINGS].time_zone) for f in found]


# The daily summary ------------------------------------------------------------------------------


@dataclass
class DaySummary:
    day: date
    schools: list[SchoolFailures]

    @property
    def total(self) -> int:
        return sum(len(s.items) for s in self.schools)

    @property
    def joined_late(self) -> int:
        return sum(s.joined_late for s in self.schools)


async def day_summary(db: AsyncSession, where: ColumnElement[bool], day: date,
                      tz: ZoneInfo) -> DaySummary:
    """The failed joins detected on `day` (a local date in `tz`), grouped by school."""
    since = datetime.combine(day, time(0), tzinfo=tz)
    until = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return DaySummary(day, by_school(await failed_joins(db, where, since, until, limit=5000)))


def summary_text(tr: Translate, summary: DaySummary, fallback_zone: str) -> str:
    """The summary as plain text (a cron mail): a heading, then each school's failed joins."""
    lines = [tr(N_("Failed joins of %(day)s")) % {"day": summary.day.isoformat()}]
    if not summary.schools:
        lines.append(tr(N_("No classroom failed to join a lesson on this day.")))
        return "\n".join(lines) + "\n"
    lines.append(tr(N_("Failed joins: %(count)s, of which joined late: %(late)s"))
                 % {"count": summary.total, "late": summary.joined_late})
    for school in summary.schools:
        lines.append("")
        lines.append(f"{school.county} · {school.school} ({len(school.items)})")
        for f in school.items:
            r = row(tr, f, fallback_zone)
            lines.append(f"  {r.when}  {r.title}  {r.classroom}  {r.teacher}  {r.outcome}")
    return "\n".join(lines) + "\n"


def _day(text: str | None, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise KelianError(ErrorCode.bad_request, N_("Dates are written like 2026-09-01")) from None


async def _reader_zone(request: web.Request, db: AsyncSession, who: Principal) -> ZoneInfo:
    name = None
    if who.school_id is not None:
        name = await db.scalar(select(School.time_zone).where(School.id == who.school_id))
    return zone(name, request.app[SETTINGS].time_zone)


async def failures_page(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    if not may_oversee(who):
        raise KelianError(ErrorCode.forbidden, N_(
            "Only administrators and inspectors see the usage overview"))
    tr = translator(request)
    async with request.app[SESSIONS]() as db:
        tz = await _reader_zone(request, db, who)
        yesterday = request.app.get(CLOCK, utcnow)().astimezone(tz).date() - timedelta(days=1)
        day = _day(request.query.get("day"), yesterday)
        summary = await day_summary(db, scope(who), day, tz)
    fallback = request.app[SETTINGS].time_zone
    ctx: dict[str, Any] = {
        "day": day,
        "summary": summary,
        "schools": [(s, [row(tr, f, fallback) for f in s.items]) for s in summary.schools],
        "previous_url": f"/oversight/failures?day={day - timedelta(days=1)}",
        "next_url": f"/oversight/failures?day={day + timedelta(days=1)}",
        "county": None if who.is_admin else who.county,
    }
    return page(request, "failures.html", ctx, title=tr(TITLE))


def setup(app: web.Application) -> None:
    app.router.add_get("/oversight/failures", failures_page)
