"""Classroom interaction over /ws: chat, hands, floor, stage, questions, muting, ending."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import AuditEvent, Lesson, LessonStatus

from .conftest import SQLITE_ONLY, Starter
from .world import World
from .wsclient import SignalClient, join


async def _close(*clients: SignalClient) -> None:
    for client in clients:
        await client.close()


@SQLITE_ONLY
async def test_chat_hands_and_floor_in_a_dedicated_lesson(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    pa, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pb, state = await join(live_app, world.tokens["pb_tv"], lesson_id, "pb")
    pa_id = next(p["participant_id"] for p in state["participants"] if p["name"] == "pa-tv")

    sent = await pa.ok("chat.send", text="  老师好  ")
    for client in (teacher, pa, pb):
        line = (await client.event("chat.message"))["message"]
        assert line["text"] == "老师好" and line["name"] == "pa-tv"
        assert line["message_id"] == sent["message_id"]

    await pa.ok("hand.raise")
    await teacher.event("hand.raised", participant_id=pa_id)
    assert (await teacher.error("hand.raise"))["code"] == "forbidden"  # the host has no hand

    await teacher.ok("floor.give", participant_id=pa_id)
    for client in (teacher, pa, pb):
        await client.event("floor.changed", participant_id=pa_id)
        await client.event("hand.lowered", participant_id=pa_id)  # the floor lowers the hand
    assert (await pb.error("floor.give", participant_id=pa_id))["code"] == "forbidden"
    assert (await pb.error("floor.take"))["code"] == "forbidden"
    host_id = state["participants"][0]["participant_id"]
    assert (await teacher.error("floor.give", participant_id=host_id))["code"] == "forbidden"
    assert (await teacher.error("floor.give", participant_id="p-nobody"))["code"] == "not_found"
    assert (await pa.error("mute", publication_id="pub-nope", muted=True))["code"] == "not_found"

    await teacher.ok("floor.take")
    await pb.event("floor.changed", participant_id=None)

    await pb.ok("hand.raise")
    await teacher.ok("hand.lower", participant_id=await _id_of(teacher, "pb-tv"))
    await pb.event("hand.lowered")
    assert (await pa.error("hand.lower", participant_id=host_id))["code"] == "forbidden"

    late, state = await join(live_app, world.tokens["observer"], lesson_id, "observer")
    assert [m["text"] for m in state["chat"]] == ["老师好"]
    assert state["floor"] is None and state["hands"] == []
    assert (await late.error("question.ask", text="?"))["code"] == "forbidden"
    await _close(teacher, pa, pb, late)


async def _id_of(client: SignalClient, name: str) -> str:
    joined = [m["participant"] for m in client.events("participant.joined")]
    return next(p["participant_id"] for p in joined if p["name"] == name)


@SQLITE_ONLY
async def test_the_stage_in_a_master_teacher_lesson(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("master")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    observer, state = await join(live_app, world.tokens["observer"], lesson_id, "observer")
    observer_id = state["you"]["participant_id"]
    pa, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")

    await observer.ok("chat.send", text="这节课的导入很好")  # comments
    await pa.event("chat.message")
    await observer.ok("hand.raise")
    await teacher.event("hand.raised", participant_id=observer_id)
    assert (await observer.error("publish", sdp="v=0", sources={"0": "camera"}))["code"] == \
        "forbidden"

    await teacher.ok("stage.invite", participant_id=observer_id)
    for client in (teacher, observer, pa):
        await client.event("stage.changed", participant_ids=[observer_id])
    await observer.event("hand.lowered", participant_id=observer_id)
    assert (await pa.error("stage.invite", participant_id=observer_id))["code"] == "forbidden"
    assert (await teacher.error("floor.give", participant_id=observer_id))["code"] == "forbidden"

    await teacher.ok("stage.remove", participant_id=observer_id)
    await pa.event("stage.changed", participant_ids=[])
    await _close(teacher, observer, pa)


@SQLITE_ONLY
async def test_questions_in_a_famous_school_lesson(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("famous")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    pa, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pb, _ = await join(live_app, world.tokens["pb_tv"], lesson_id, "pb")

    assert (await pa.error("chat.send", text="hi"))["code"] == "forbidden"
    assert (await pa.error("hand.raise"))["code"] == "forbidden"
    asked = await pa.ok("question.ask", text="为什么天空是蓝色的？")
    question_id = asked["question_id"]
    question = (await teacher.event("question.asked"))["question"]
    assert question["classroom"] == "Point A · pa" and question["answer"] is None
    await pb.event("question.asked")

    assert (await pb.error("question.answer", question_id=question_id, text="x"))["code"] == \
        "forbidden"
    await teacher.ok("question.answer", question_id=question_id, text="瑞利散射")
    answered = (await pa.event("question.answered"))["question"]
    assert answered["answer"] == "瑞利散射" and answered["question_id"] == question_id
    await teacher.ok("question.highlight", question_id=question_id)
    await pb.event("question.highlighted", question_id=question_id, highlighted=True)
    assert (await teacher.error("question.highlight", question_id="q-999"))["code"] == "not_found"
    assert (await teacher.error("publish", sdp="v=0", sources={"0": "hologram"}))["code"] == \
        "invalid"
    assert (await pa.error("publish", sdp="v=0", sources={"0": "camera"}))["code"] == "forbidden"

    observer, state = await join(live_app, world.tokens["observer"], lesson_id, "observer")
    assert state["questions"][0]["answer"] == "瑞利散射"
    assert state["questions"][0]["highlighted"] is True
    await _close(teacher, pa, pb, observer)


@SQLITE_ONLY
async def test_ending_the_lesson_tells_everyone_and_closes_their_sockets(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession) -> None:
    lesson_id = await start("dedicated")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    pa, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    inspector, _ = await join(live_app, world.tokens["inspector"], lesson_id, "inspector")
    assert (await pa.error("lesson.end"))["code"] == "forbidden"

    await teacher.ok("lesson.end")
    for client in (teacher, pa, inspector):
        await client.event("lesson.ended", lesson_id=lesson_id)
        assert await client.closed() == 4410

    await db.rollback()
    lesson = await db.get(Lesson, lesson_id)
    assert lesson is not None and lesson.status is LessonStatus.ended
    assert lesson.actual_end is not None
    tags = list(await db.scalars(select(AuditEvent.tag).where(
        AuditEvent.target == f"lesson:{lesson_id}").order_by(AuditEvent.id)))
    assert tags[:3] == ["lesson.started", "lesson.inspected", "lesson.ended"]

    again = await join_error(live_app, world.tokens["pa_tv"], lesson_id)
    assert again["code"] == "lesson_not_live"


async def join_error(client: TestClient, token: str, lesson_id: int) -> dict[str, object]:
    from .wsclient import connect

    signal = await connect(client, token)
    reply = await signal.error("join", lesson_id=lesson_id)
    await signal.close()
    return reply
