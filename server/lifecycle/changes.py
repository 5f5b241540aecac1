"""What the lesson scheduler must hear of when records change through the API or the admin
pages: a new or edited timetable entry or holiday generates (or cancels) lessons on the next
tick, not only at the ten-minute regeneration."""

from __future__ import annotations

from aiohttp import web

from ..auth.policy import Kind
from ..keys import SCHEDULER

TIMETABLE_KINDS = frozenset({Kind.timetable_entry, Kind.holiday})


def record_changed(app: web.Application, kind: Kind) -> None:
    scheduler = app.get(SCHEDULER)
    if scheduler is not None and kind in TIMETABLE_KINDS:
        scheduler.regenerate()
