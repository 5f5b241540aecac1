"""Joining a live lesson over /ws: credentials, who gets which seat, room state, refusals."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.resolve import SESSION_COOKIE, start_session
from server.models import AuditEvent, User

from .conftest import SQLITE_ONLY, Starter
from .world import World
from .wsclient import connect, join


@SQLITE_ONLY
async def test_a_terminal_authenticates_with_its_token_and_joins(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    teacher, state = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    assert state["you"]["role"] == "host" and state["you"]["name"] == "Teacher"
    assert state["kind"] == "dedicated" and state["participants"] == []
    assert state["floor"] is None and state["hands"] == [] and state["publications"] == []

    point, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    assert state["you"]["role"] == "receiving_classroom"
    assert state["you"]["classroom"] == "Point A · pa"
    assert [p["role"] for p in state["participants"]] == ["host"]
    joined = await teacher.event("participant.joined")
    assert joined["participant"] == state["you"]

    hub, state = await join(live_app, world.tokens["hub_tv"], lesson_id, "hub")
    assert state["you"]["role"] == "host_classroom"
    assert {p["name"] for p in state["participants"]} == {"Teacher", "pa-tv"}

    await point.ok("leave")
    assert await point.closed() == 1000
    left = await teacher.event("participant.left")
    assert left["reason"] == "left"
    for c in (teacher, hub):
        await c.close()


@SQLITE_ONLY
async def test_a_browser_session_joins_from_the_same_origin_only(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession) -> None:
    lesson_id = await start("dedicated")
    user = await db.get(User, world["teacher"])
    assert user is not None
    cookie = await start_session(db, user, hours=1)
    await db.commit()
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    origin = f"http://{live_app.host}:{live_app.port}"

    browser = await connect(live_app, headers={**headers, "Origin": origin})
    reply = await browser.ok("join", lesson_id=lesson_id)
    assert reply["room"]["you"]["role"] == "host"
    await browser.close()

    async with live_app.get("/ws", headers={**headers, "Origin": "http://evil.example",
                                            "Connection": "Upgrade", "Upgrade": "websocket",
                                            "Sec-WebSocket-Version": "13",
                                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
                            ) as resp:
        assert resp.status == 403  # cross-site: refused before the upgrade

    # Without Origin the cookie is not enough: a client that is not a browser sends a token.
    no_origin = await connect(live_app, headers=headers)
    reply = await no_origin.request("join", lesson_id=lesson_id)
    assert reply["code"] == "unauthenticated"
    assert await no_origin.closed() == 4401


@SQLITE_ONLY
async def test_authentication_is_required_in_time_and_must_be_valid(
        live_app: TestClient, world: World) -> None:
    silent = await connect(live_app)
    assert await silent.closed(timeout=5) == 4401  # TEST_LIMITS: 1 s to authenticate
    assert silent.received[-1]["code"] == "unauthenticated"

    wrong = await connect(live_app)
    reply = await wrong.request("auth", token="kt_not-a-real-token")
    assert reply["code"] == "unauthenticated" and reply["id"] == 1
    assert await wrong.closed() == 4401

    good = await connect(live_app, world.tokens["pa_tv"])
    assert (await good.request("auth", token=world.tokens["pa_tv"]))["code"] == \
        "already_authenticated"
    await good.close()


async def test_who_may_not_join(live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    cases = {
        "outsider": "not_found",  # an observer not invited does not see the lesson
        "teacher2": "forbidden",  # sees it (same school) but has no seat in it
        "far_tv": "not_found",  # a terminal of a classroom not in the lesson
        "inspector_b": "not_found",  # an inspector of another county
    }
    for who, code in cases.items():
        client = await connect(live_app, world.tokens[who], who)
        reply = await client.error("join", lesson_id=lesson_id)
        assert reply["code"] == code, (who, reply)
        await client.close()

    client = await connect(live_app, world.tokens["pa_tv"])
    reply = await client.error("join", lesson_id=world["later"])
    assert reply["code"] == "lesson_not_live" and "scheduled" in reply["message"]
    assert (await client.error("join", lesson_id=999_999))["code"] == "not_found"
    assert (await client.error("chat.send", text="hi"))["code"] == "not_joined"
    await client.close()


async def test_an_inspector_watches_unseen_and_is_audited(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession) -> None:
    lesson_id = await start("dedicated")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    inspector, state = await join(live_app, world.tokens["inspector"], lesson_id, "inspector")
    assert state["you"]["role"] == "inspector"
    assert [p["role"] for p in state["participants"]] == ["host"]
    point, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    assert [p["role"] for p in state["participants"]] == ["host"]  # no inspector listed
    await inspector.event("participant.joined")  # the inspector sees the point arrive
    assert (await inspector.error("chat.send", text="hello"))["code"] == "forbidden"
    assert (await inspector.error("hand.raise"))["code"] == "forbidden"
    await inspector.close()
    await teacher.ok("chat.send", text="after the inspection")
    await point.event("chat.message")
    assert all(m["type"] != "event.participant.joined" or m["participant"]["role"] != "inspector"
               for m in teacher.received + point.received)
    assert not teacher.events("participant.left")

    async def audited() -> list[str]:
        await db.rollback()
        rows = await db.scalars(select(AuditEvent).where(AuditEvent.actor ==
                                                          f"user:{world['inspector']}"))
        return [r.tag for r in rows]

    for _ in range(50):
        if len(await audited()) == 2:
            break
        await asyncio.sleep(0.05)
    assert await audited() == ["lesson.inspected", "lesson.inspection_ended"]
    for c in (teacher, point):
        await c.close()


@SQLITE_ONLY
async def test_joining_again_replaces_the_earlier_socket(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    first, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa-1")
    second, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa-2")
    assert await first.closed() == 4409
    left = await teacher.event("participant.left")
    assert left["reason"] == "replaced"
    assert [p["role"] for p in state["participants"]] == ["host"]
    for c in (teacher, second):
        await c.close()


@SQLITE_ONLY
async def test_a_plain_get_on_the_socket_path_is_a_bad_request(live_app: TestClient) -> None:
    async with live_app.get("/ws") as resp:
        assert resp.status == 400


@SQLITE_ONLY
async def test_revoked_credentials_close_open_sockets_at_once(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    point, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}

    # An admin revokes the point's terminal token: its socket closes now, not at its next join.
    async with live_app.delete(f"/api/v1/terminals/{world['pa_tv']}/token",
                               headers=admin) as resp:
        assert resp.status == 204
    assert await point.closed() == 4401
    left = await teacher.event("participant.left")
    assert left["reason"] == "revoked"
    refused = await connect(live_app)
    reply = await refused.request("auth", token=world.tokens["pa_tv"])
    assert reply["code"] == "unauthenticated"

    # Disabling an account closes that user's sockets too; other participants stay.
    other, _ = await join(live_app, world.tokens["pb_tv"], lesson_id, "pb")
    async with live_app.patch(f"/api/v1/users/{world['teacher']}", json={"active": False},
                              headers=admin) as resp:
        assert resp.status == 200
    assert await teacher.closed() == 4401
    assert (await other.ok("chat.send", text="still here"))["message_id"]
    await other.close()


@SQLITE_ONLY
async def test_in_a_broadcast_receiving_classrooms_know_only_the_hub(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("famous")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    pa, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    assert [p["role"] for p in state["participants"]] == ["host"]
    pb, state = await join(live_app, world.tokens["pb_tv"], lesson_id, "pb")
    assert [p["role"] for p in state["participants"]] == ["host"]  # not point A
    hub, state = await join(live_app, world.tokens["hub_tv"], lesson_id, "hub")
    assert len(state["participants"]) == 3  # the hub side sees every classroom
    await teacher.event("participant.joined", participant={**state["you"]})
    assert len(teacher.events("participant.joined")) == 3
    await pb.close()
    await teacher.event("participant.left")
    await hub.event("participant.left")
    # Point A was told of the hub classroom joining, never of point B coming or going.
    assert [m["participant"]["role"] for m in pa.events("participant.joined")] == [
        "host_classroom"]
    assert pa.events("participant.left") == []
    for client in (teacher, pa, hub):
        await client.close()
