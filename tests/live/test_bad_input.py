"""Bad input on /ws: each gets a clear error (the socket stays open) or a close with a reason,
and harms no one else in the room."""

from __future__ import annotations

import json
import socket

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from server.signalling.connection import SOCKETS
from server.signalling.limits import Limits

from .conftest import SQLITE_ONLY, TEST_LIMITS, Starter
from .world import World
from .wsclient import SignalClient, connect, join


async def _raw_reply(client: SignalClient, frame: str | bytes) -> dict[str, object]:
    start = len(client.received)
    if isinstance(frame, bytes):
        await client.ws.send_bytes(frame)
    else:
        await client.ws.send_str(frame)
    return await client.wait(lambda m: m["type"] == "error", what="error", start=start)


@SQLITE_ONLY
async def test_malformed_unknown_and_invalid_messages_get_errors_and_the_socket_stays_open(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    client, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    cases: list[tuple[str | bytes, str, object]] = [
        ("{not json", "bad_json", None),
        ("[" * 40_000, "bad_json", None),  # nesting deeper than the parser goes
        ("[1, 2]", "bad_request", None),
        (b"\x00\x01", "bad_request", None),
        ('{"v": 1, "id": 5}', "bad_request", 5),
        ('{"v": 2, "type": "ping", "id": "x"}', "unsupported_version", "x"),
        ('{"type": "ping", "id": 6}', "unsupported_version", 6),
        ('{"v": 1, "type": "teleport", "id": 7}', "unknown_type", 7),
        ('{"v": 1, "type": "chat.send", "id": 8}', "invalid", 8),
        ('{"v": 1, "type": "chat.send", "id": 9, "text": "   "}', "invalid", 9),
        (json.dumps({"v": 1, "type": "chat.send", "id": 10, "text": "长" * 501}), "invalid", 10),
        ('{"v": 1, "type": "ping", "id": 11, "admin": true}', "invalid", 11),
        ('{"v": 1, "type": "join", "id": 12, "lesson_id": "1; DROP TABLE lesson"}', "invalid", 12),
        ('{"v": 1, "type": "ping", "id": 1.5}', "invalid", None),
        ('{"v": 1, "type": "mute", "id": 13, "publication_id": "pub-x", "muted": true}',
         "not_found", 13),
        ('{"v": 1, "type": "answer", "id": 14, "sdp": "v=0"}', "unexpected_answer", 14),
        ('{"v": 1, "type": "join", "id": 15, "lesson_id": 1}', "already_joined", 15),
        ('{"v": 1, "type": "publish", "id": 16, "sdp": "garbage", "sources": {}}', "bad_sdp", 16),
        ('{"v": 1, "type": "publish", "id": 17, "sdp": "v=0", "sources": {"0": "screen"}}',
         "forbidden", 17),
    ]
    for frame, code, rid in cases:
        error = await _raw_reply(client, frame)
        assert (error["code"], error.get("id")) == (code, rid), frame[:60]
        assert isinstance(error["message"], str) and error["message"]
    assert (await client.request("ping"))["type"] == "ok"  # still open, still in the room
    await client.close()


@SQLITE_ONLY
async def test_an_oversized_message_closes_the_socket_with_1009_and_the_room_carries_on(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    point, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    await point.ws.send_str(json.dumps({"v": 1, "type": "chat.send", "text": "x" * 70_000}))
    assert await point.closed() == 1009
    assert (await teacher.event("participant.left"))["reason"] == "disconnected"
    assert (await teacher.request("ping"))["type"] == "ok"
    await teacher.close()


@SQLITE_ONLY
async def test_a_flood_gets_an_error_then_a_close_with_4429(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    flooder, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    for _ in range(1000):  # burst 100, then 50 per second
        if flooder.ws.closed:
            break
        await flooder.ws.send_str('{"v": 1, "type": "ping"}')
    assert await flooder.closed() == 4429
    errors = [m for m in flooder.received if m["type"] == "error"]
    assert [e["code"] for e in errors] == ["throttled"]
    assert 100 <= sum(m["type"] == "ok" for m in flooder.received) < 1000
    assert (await teacher.event("participant.left"))["reason"] == "flood"
    await teacher.close()


def _small_receive_buffer(addr_info: tuple) -> socket.socket:  # type: ignore[type-arg]
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


@SQLITE_ONLY
@pytest.mark.parametrize("limits", [Limits(outbox_size=32, close_timeout_s=2.0)])
async def test_a_client_that_does_not_read_is_closed_with_4408_not_buffered(
        live_app: TestClient, world: World, start: Starter, limits: Limits) -> None:
    lesson_id = await start("dedicated")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    senders = [teacher]
    for who in ("pb_tv", "hub_tv", "observer"):
        senders.append((await join(live_app, world.tokens[who], lesson_id, who))[0])
    connector = aiohttp.TCPConnector(socket_factory=_small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as session:
        ws = await session.ws_connect(live_app.make_url("/ws"))
        await ws.send_json({"v": 1, "type": "auth", "token": world.tokens["pa_tv"]})
        await ws.receive_json()
        await ws.send_json({"v": 1, "type": "join", "lesson_id": lesson_id})
        await ws.receive_json()
        ws._conn.transport.pause_reading()  # type: ignore[union-attr]  # stops reading
        # A rural link, as small kernel buffers: the server's outbox fills after ~100 messages
        # instead of after megabytes (the server's logic is the same either way).
        slow = next(c for c in live_app.app[SOCKETS].open
                    if c.participant is not None and c.participant.name == "pa-tv")
        assert slow.transport is not None
        slow.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

        text = "课" * 500  # 280 messages of 1.6 kB, under every sender's rate limit; aiohttp and
        for _ in range(70):  # the kernel hold ~260 kB of them, the outbox 32 more
            for sender in senders:
                await sender.send("chat.send", text=text)
        left = await teacher.event("participant.left", timeout=10)
        assert left["reason"] == "slow_client"

        ws._conn.transport.resume_reading()  # type: ignore[union-attr]
        codes = []
        async for frame in ws:
            codes.append(frame.type)
        assert ws.close_code == 4408
        assert WSMsgType.TEXT in codes
    assert (await teacher.request("ping"))["type"] == "ok"
    for sender in senders:
        await sender.close()


@SQLITE_ONLY
@pytest.mark.parametrize("limits", [Limits(heartbeat_s=0.4, close_timeout_s=0.5)])
async def test_a_client_that_misses_heartbeats_is_removed_from_the_room(
        live_app: TestClient, world: World, start: Starter, limits: Limits) -> None:
    lesson_id = await start("dedicated")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    ws = await live_app.ws_connect("/ws", autoping=False)

    async def reply() -> None:  # answers pings by hand while it still cares
        while (frame := await ws.receive()).type is WSMsgType.PING:
            await ws.pong(frame.data)
        assert json.loads(frame.data)["type"] == "ok"

    await ws.send_json({"v": 1, "type": "auth", "token": world.tokens["pa_tv"]})
    await reply()
    await ws.send_json({"v": 1, "type": "join", "lesson_id": lesson_id})
    await reply()
    # It never reads again, so it never answers the server's pings.
    left = await teacher.event("participant.left", timeout=5)
    assert left["reason"] == "disconnected"
    await ws.close()
    await teacher.close()


@SQLITE_ONLY
async def test_server_shutdown_closes_sockets_with_going_away(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    lonely = await connect(live_app, world.tokens["pa_tv"], "not joined")
    await live_app.server.close()
    assert await teacher.closed() == 1001
    assert await lonely.closed() == 1001


@SQLITE_ONLY
@pytest.mark.parametrize("limits", [TEST_LIMITS])
async def test_messages_before_authentication_are_refused(
        live_app: TestClient, world: World, limits: Limits) -> None:
    client = await connect(live_app)
    reply = await client.request("join", lesson_id=1)
    assert reply["code"] == "unauthenticated"
    assert await client.closed() == 4401
