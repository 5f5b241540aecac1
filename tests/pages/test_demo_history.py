"""The demo's past weeks on the pages: the oversight table, its workbook and a held lesson's
report render real figures on a fresh demo database."""

from __future__ import annotations

import io

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from server.keys import SESSIONS
from server.models import Attendance, Lesson, LessonStatus, TimetableEntry

from .conftest import SQLITE_ONLY, sign_in, text_of


@SQLITE_ONLY
async def test_oversight_and_reports_show_the_history(app_client: TestClient) -> None:
    from openpyxl import load_workbook

    async with app_client.app[SESSIONS]() as db:
        term_start = await db.scalar(select(func.min(TimetableEntry.term_start)))
        held = await db.scalar(select(func.count()).select_from(Lesson)
                               .where(Lesson.status == LessonStatus.ended)) or 0
        reconnected = await db.scalar(
            select(Attendance.lesson_id).group_by(Attendance.lesson_id, Attendance.classroom_id)
            .having(func.count() > 1))
    assert held > 50 and reconnected is not None

    await sign_in(app_client, "inspector")
    page = await app_client.get(f"/oversight?from={term_start}")
    assert page.status == 200
    text = text_of(await page.text())
    assert "石角镇教学点" in text and "龙塘镇教学点" in text

    sheet = await app_client.get(f"/oversight.xlsx?from={term_start}")
    assert sheet.status == 200
    rows = list(load_workbook(io.BytesIO(await sheet.read())).worksheets[0].iter_rows(
        values_only=True))
    total = rows[1]
    assert total[1] == "全部学校" and total[4] == held and 0 < total[7] < 1  # some points absent

    await sign_in(app_client, "teacher")
    report = await app_client.get(f"/lessons/{reconnected}/report")
    assert report.status == 200, await report.text()
