"""The bureau's oversight page, `/oversight`, and its table as CSV, `/oversight.csv`, or as an
Excel workbook, `/oversight.xlsx` (the table, then the weekly series).

For administrators (every county, or one chosen with ?county=) and inspectors (their own county
only). The period is ?from=&to= in local dates (the default time zone's), this week by default;
?from= alone runs to today, e.g. a term to date. Teaching points that held no lesson in the
period are flagged: the plan's goal is every point covered.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import func, select

from ..auth.principal import Principal
from ..errors import ErrorCode, KelianError
from ..keys import CLOCK, SESSIONS
from ..lifecycle.usage import POOR_SHARE, Period, SchoolUsage, Usage, UsageReport, usage_report
from ..models import Role, School, TimetableEntry, utcnow
from .charts import Bar, bar_chart
from .common import N_, Translate, default_zone, signed_in_user, translator
from .labels import SCHOOL_KINDS
from .layout import page

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_DAYS = 400  # a school year and a little: keeps one request's work bounded

COLUMNS = (N_("County"), N_("School"), N_("Kind"), N_("Lessons planned"), N_("Lessons held"),
           N_("Cancelled"), N_("Hours taught"), N_("Attendance rate"), N_("Recordings"),
           N_("Library views"), N_("Poor-link lessons"), N_("No lesson held"))


def may_oversee(who: Principal) -> bool:
    return who.has_role(Role.admin, Role.inspector)


@dataclass(frozen=True)
class Line:
    """One row of the table, already formatted."""

    county: str
    school: str
    kind: str
    cells: list[str]
    uncovered: bool
    total: bool  # a county's (or everything's) sum
    usage: Usage  # the figures unformatted, for the workbook


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _cells(usage: Usage) -> list[str]:
    return [str(usage.planned), str(usage.held), str(usage.cancelled), f"{usage.hours:.1f}",
            _percent(usage.attendance), str(usage.recordings), str(usage.views),
            str(usage.poor_link)]


def _lines(tr: Translate, report: UsageReport) -> list[Line]:
    lines = []
    for county in report.counties:
        lines.append(Line(county.county, tr(N_("All schools")), "", _cells(county.usage),
                          False, True, county.usage))
        for school in county.schools:
            lines.append(_school_line(tr, school))
    return lines


def _school_line(tr: Translate, school: SchoolUsage) -> Line:
    name = school.name if not school.hub_name else f"{school.name} ← {school.hub_name}"
    return Line(school.county, name, tr(SCHOOL_KINDS[school.kind]), _cells(school.usage),
                school.uncovered, False, school.usage)


def _parse_day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise KelianError(ErrorCode.bad_request, N_("Dates are written like 2026-09-01")) from None


def _period(request: web.Request, today: date) -> Period:
    first = _parse_day(request.query.get("from"))
    last = _parse_day(request.query.get("to"))
    if first is None:
        first = today - timedelta(days=today.weekday())  # this week's Monday
        last = last or first + timedelta(days=6)
    last = last or today
    if last < first:
        raise KelianError(ErrorCode.bad_request, N_("The period ends before it begins"))
    if (last - first).days >= MAX_DAYS:
        raise KelianError(ErrorCode.bad_request, N_("Choose a period of at most 400 days"))
    return Period(first, last)


@dataclass
class Loaded:
    who: Principal
    report: UsageReport
    counties: list[str]  # those the reader may choose
    chosen: str | None
    term_start: date | None  # the current term's first day, as the timetable has it


async def _load(request: web.Request) -> Loaded:
    """The reader's report for the period and county the query asks for, if they may."""
    who = signed_in_user(request)
    if not may_oversee(who):
        raise KelianError(ErrorCode.forbidden, N_(
            "Only administrators and inspectors see the usage overview"))
    tz: ZoneInfo = default_zone(request)
    now = request.app.get(CLOCK, utcnow)()
    period = _period(request, now.astimezone(tz).date())
    chosen = request.query.get("county") or None
    async with request.app[SESSIONS]() as db:
        if who.is_admin:
            counties = list(await db.scalars(select(School.county).distinct()
                                             .order_by(School.county)))
        else:
            counties = [who.county] if who.county else []
            if chosen is not None and chosen != who.county:
                raise KelianError(ErrorCode.forbidden, N_(
                    "Inspectors see only their own county"))
            chosen = who.county
            if chosen is None:  # an inspector without a county sees nothing rather than all
                raise KelianError(ErrorCode.forbidden, N_(
                    "Inspectors see only their own county"))
        report = await usage_report(db, period, chosen, tz, now)
        today = now.astimezone(tz).date()
        term_start = await db.scalar(select(func.max(TimetableEntry.term_start)).where(
            TimetableEntry.term_start <= today, TimetableEntry.term_end >= today))
    return Loaded(who, report, counties, chosen, term_start)


def _query(period: Period, county: str | None) -> str:
    params = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    if county:
        params["county"] = county
    return urlencode(params)


async def oversight(request: web.Request) -> web.StreamResponse:
    loaded = await _load(request)
    report, chosen = loaded.report, loaded.chosen
    tr = translator(request)
    today = request.app.get(CLOCK, utcnow)().astimezone(default_zone(request)).date()
    monday = today - timedelta(days=today.weekday())
    presets = [
        (tr(N_("This week")), Period(monday, monday + timedelta(days=6))),
        (tr(N_("Last week")), Period(monday - timedelta(days=7), monday - timedelta(days=1))),
    ]
    if loaded.term_start is not None:
        presets.append((tr(N_("This term to date")), Period(loaded.term_start, today)))
    chart = None
    if report.weeks and report.total.planned:
        chart = bar_chart(
            [Bar(f"{w.monday:%m-%d}", [w.planned, w.held]) for w in report.weeks],
            [tr(N_("Lessons planned")), tr(N_("Lessons held"))], title=tr(N_("Lessons per week")))
    uncovered = [s for c in report.counties for s in c.uncovered]
    ctx: dict[str, Any] = {
        "period": report.period,
        "total": report.total,
        "total_hours": f"{report.total.hours:.1f}",
        "total_attendance": _percent(report.total.attendance),
        "counties": loaded.counties,
        "chosen": chosen or "",
        "can_choose": loaded.who.is_admin,
        "presets": [(label, f"/oversight?{_query(p, chosen)}", p == report.period)
                    for label, p in presets],
        "chart": chart,
        "columns": [tr(c) for c in COLUMNS[:-1]],
        "lines": _lines(tr, report),
        "uncovered": uncovered,
        "csv_url": f"/oversight.csv?{_query(report.period, chosen)}",
        "xlsx_url": f"/oversight.xlsx?{_query(report.period, chosen)}",
        "poor_percent": f"{POOR_SHARE * 100:.0f}%",
    }
    return page(request, "oversight.html", ctx, title=tr(N_("Usage overview")))


async def oversight_csv(request: web.Request) -> web.StreamResponse:
    report = (await _load(request)).report
    tr = translator(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([tr(c) for c in COLUMNS])
    yes = tr(N_("yes"))
    for line in _lines(tr, report):
        writer.writerow([line.county, line.school, line.kind, *line.cells,
                         yes if line.uncovered else ""])
    # The byte-order mark lets Excel recognise UTF-8 (else it shows the Chinese as mojibake).
    body = ("\ufeff" + out.getvalue()).encode("utf-8")
    name = f"usage-{report.period.first}-{report.period.last}"
    return web.Response(body=body, headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}.csv"',
        "Cache-Control": "no-store",
    })


def _workbook(tr: Translate, report: UsageReport) -> bytes:
    """The table with its figures as numbers (hours to one decimal, attendance as a percentage
    format over the fraction), then the lessons per week."""
    book = Workbook()
    table = book.active
    assert table is not None
    table.title = tr(N_("Usage by school"))
    table.append([tr(c) for c in COLUMNS])
    yes = tr(N_("yes"))
    for line in _lines(tr, report):
        u = line.usage
        table.append([line.county, line.school, line.kind, u.planned, u.held, u.cancelled,
                      round(u.hours, 1), u.attendance, u.recordings, u.views, u.poor_link,
                      yes if line.uncovered else ""])
        row = table.max_row
        table.cell(row, 7).number_format = "0.0"
        table.cell(row, 8).number_format = "0%"
        if line.total:
            for cell in table[row]:
                cell.font = Font(bold=True)
    for cell in table[1]:
        cell.font = Font(bold=True)
    table.freeze_panes = "A2"
    for letter, width in (("A", 12), ("B", 36), ("C", 10)):
        table.column_dimensions[letter].width = width

    weeks = book.create_sheet(tr(N_("Lessons per week")))
    weeks.append([tr(N_("Week starting")), tr(N_("Lessons planned")), tr(N_("Lessons held"))])
    for week in report.weeks:
        weeks.append([week.monday, week.planned, week.held])
        weeks.cell(weeks.max_row, 1).number_format = "yyyy-mm-dd"
    for cell in weeks[1]:
        cell.font = Font(bold=True)
    weeks.column_dimensions["A"].width = 14
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def oversight_xlsx(request: web.Request) -> web.StreamResponse:
    report = (await _load(request)).report
    name = f"usage-{report.period.first}-{report.period.last}"
    return web.Response(body=_workbook(translator(request), report), headers={
        "Content-Type": XLSX_TYPE,
        "Content-Disposition": f'attachment; filename="{name}.xlsx"',
        "Cache-Control": "no-store",
    })


def setup(app: web.Application) -> None:
    app.router.add_get("/oversight", oversight)
    app.router.add_get("/oversight.csv", oversight_csv)
    app.router.add_get("/oversight.xlsx", oversight_xlsx)
