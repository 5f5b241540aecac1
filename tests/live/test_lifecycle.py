"""Starting and ending lessons: the API, the dashboard buttons, the Room opening and closing.
On SQLite and PostgreSQL (the status moves with conditional UPDATEs)."""

from __future__ import annotations

import asyncio
import re

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.resolve import SESSION_COOKIE, start_session
from server.http import CSRF_COOKIE
from server.keys import LIVE
from server.models import AuditEvent, Lesson, LessonStatus, User

from .conftest import SQLITE_ONLY
from .world import World


async def _post(client: TestClient, path: str, token: str) -> tuple[int, dict[str, object]]:
    async with client.post(f"/api/v1/{path}", headers={"Authorization": f"Bearer {token}"}
                           ) as resp:
        return resp.status, await resp.json()


async def _lesson(db: AsyncSession, lesson_id: int) -> Lesson:
    await db.rollback()
    db.expire_all()
    lesson = await db.get(Lesson, lesson_id)
    assert lesson is not None
    return lesson


async def test_the_teacher_starts_and_ends_a_lesson_through_the_api(
        live_app: TestClient, world: World, db: AsyncSession) -> None:
    lesson_id = world["dedicated"]
    path = f"lessons/{lesson_id}"
    live = live_app.app[LIVE]

    for who, status in (("teacher2", 403), ("observer", 403), ("pa_tv", 403),
                        ("outsider", 404), ("inspector", 403)):
        assert (await _post(live_app, f"{path}/start", world.tokens[who]))[0] == status, who
    assert live.get(lesson_id) is None
    assert (await _post(live_app, f"{path}/end", world.tokens["teacher"]))[0] == 409

    status, body = await _post(live_app, f"{path}/start", world.tokens["teacher"])
    assert status == 200 and body["status"] == "live" and body["actual_start"]
    room = live.get(lesson_id)
    assert room is not None and room.lesson.room_id == f"lesson-{lesson_id}"
    assert live.media.room(f"lesson-{lesson_id}") is room.media
    status, body = await _post(live_app, f"{path}/start", world.tokens["teacher"])
    assert status == 409 and body["error"]["code"] == "conflict"

    assert (await _post(live_app, f"{path}/end", world.tokens["teacher2"]))[0] == 403
    status, body = await _post(live_app, f"{path}/end", world.tokens["admin"])
    assert status == 200 and body["status"] == "ended" and body["actual_end"]
    assert live.get(lesson_id) is None and room.closed
    assert live.media.room(f"lesson-{lesson_id}") is None
    assert (await _post(live_app, f"{path}/end", world.tokens["teacher"]))[0] == 409
    assert (await _post(live_app, f"{path}/start", world.tokens["teacher"]))[0] == 409
    assert (await _post(live_app, "lessons/999999/start", world.tokens["admin"]))[0] == 404

    lesson = await _lesson(db, lesson_id)
    assert lesson.status is LessonStatus.ended
    assert lesson.actual_start is not None and lesson.actual_end is not None
    assert lesson.actual_start <= lesson.actual_end
    rows = (await db.execute(select(AuditEvent.tag, AuditEvent.actor).where(
        AuditEvent.target == f"lesson:{lesson_id}").order_by(AuditEvent.id))).all()
    assert [tuple(r) for r in rows] == [("lesson.started", f"user:{world['teacher']}"),
                                        ("lesson.ended", f"user:{world['admin']}")]


async def test_a_cancelled_lesson_does_not_start_and_two_starts_start_once(
        live_app: TestClient, world: World, db: AsyncSession) -> None:
    await db.execute(update(Lesson).where(Lesson.id == world["later"])
                     .values(status=LessonStatus.cancelled))
    await db.commit()
    assert (await _post(live_app, f"lessons/{world['later']}/start",
                        world.tokens["teacher"]))[0] == 409

    path = f"lessons/{world['master']}/start"
    results = await asyncio.gather(*(_post(live_app, path, world.tokens["teacher"])
                                     for _ in range(4)))
    assert sorted(status for status, _ in results) == [200, 409, 409, 409]
    assert (await _lesson(db, world["master"])).status is LessonStatus.live
    started = await db.scalars(select(AuditEvent).where(
        AuditEvent.tag == "lesson.started", AuditEvent.target == f"lesson:{world['master']}"))
    assert len(list(started)) == 1


async def _signed_in(client: TestClient, db: AsyncSession, user_id: int) -> str:
    user = await db.get(User, user_id)
    assert user is not None
    cookie = await start_session(db, user, hours=1)
    await db.commit()
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie, CSRF_COOKIE: "csrf-token"})
    return "csrf-token"


@SQLITE_ONLY
async def test_the_dashboard_has_start_and_end_buttons_for_the_teacher(
        live_app: TestClient, world: World, db: AsyncSession) -> None:
    lesson_id = world["famous"]
    csrf = await _signed_in(live_app, db, world["teacher"])
    html = await (await live_app.get("/")).text()
    action = f'action="/lessons/{lesson_id}/start"'
    assert action in html and "开始上课" in html

    refused = await live_app.post(f"/lessons/{lesson_id}/start", allow_redirects=False)
    assert refused.status == 403  # no CSRF field
    response = await live_app.post(f"/lessons/{lesson_id}/start", data={"_csrf": csrf},
                                   allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/?notice=lesson_started"
    assert live_app.app[LIVE].get(lesson_id) is not None
    html = await (await live_app.get("/?notice=lesson_started")).text()
    assert f'action="/lessons/{lesson_id}/end"' in html and "结束课堂" in html
    assert "课堂已开始" in html

    again = await live_app.post(f"/lessons/{lesson_id}/start", data={"_csrf": csrf},
                                allow_redirects=False)
    assert again.status == 409 and "只有未开始的课堂才能开始" in await again.text()

    response = await live_app.post(f"/lessons/{lesson_id}/end", data={"_csrf": csrf},
                                   allow_redirects=False)
    assert response.status == 303 and (await _lesson(db, lesson_id)).status is LessonStatus.ended
    html = await (await live_app.get("/")).text()
    assert not re.search(rf'action="/lessons/{lesson_id}/(start|end)"', html)

    # Another teacher sees the lesson (same school) but gets no buttons and may not press them.
    csrf = await _signed_in(live_app, db, world["teacher2"])
    html = await (await live_app.get("/")).text()
    assert f"/lessons/{world['dedicated']}/start" not in html
    refused = await live_app.post(f"/lessons/{world['dedicated']}/start", data={"_csrf": csrf},
                                  allow_redirects=False)
    assert refused.status == 403
    assert (await _lesson(db, world["dedicated"])).status is LessonStatus.scheduled
