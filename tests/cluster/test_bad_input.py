"""What the nodes refuse of each other and of anyone pretending to be one: a cascade pull without
the nodes' secret or for a lesson the node does not hold, a forged "routed here" socket, and
malformed commands on a node's channel. One real app with Redis, in process."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.app import create_app
from server.cluster.commands import Command, NodeCommands, Op, channel
from server.config import load_settings
from server.keys import PLACEMENT
from server.signalling.connection import SOCKETS
from server.signalling.forward import SECRET_HEADER, SERVE_HEADER
from tests.helpers import eventually

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
async def node(aiohttp_client, redis_url: str, tmp_path, db_url: str  # type: ignore[no-untyped-def]
               ) -> TestClient:
    settings = load_settings(env={}, overrides={
        "data_dir": str(tmp_path), "database_url": db_url, "scheduler": False, "rtmp_port": 0,
        "redis_url": redis_url, "port": random.randrange(20000, 60000),
        "redis_prefix": f"kelian-test-{secrets.token_hex(6)}:"})
    return await aiohttp_client(create_app(settings))


async def test_a_pull_needs_the_nodes_secret_and_a_lesson_held_here(node: TestClient) -> None:
    path = "/cluster/lessons/1/edge"
    offer = "v=0\r\n"
    for headers in ({}, {"Authorization": "Bearer guessed"},
                    {"Authorization": "Basic x"}):
        async with node.post(path, data=offer, headers={**headers,
                                                        "Content-Type": "application/sdp"}) as r:
            assert r.status == 401, await r.text()
            assert "only the nodes" in await r.text()
    secret = await node.app[PLACEMENT].secret()
    async with node.post(path, data=offer, headers={
            "Authorization": f"Bearer {secret}", "Content-Type": "application/sdp"}) as r:
        assert r.status == 404 and "does not hold" in await r.text()
    async with node.post("/cluster/lessons/x/edge", data=offer, headers={
            "Authorization": f"Bearer {secret}", "Content-Type": "application/sdp"}) as r:
        assert r.status == 404


async def test_question_paths_need_the_secret_a_room_and_a_question(node: TestClient) -> None:
    secret = await node.app[PLACEMENT].secret()
    nodes = {"Authorization": f"Bearer {secret}"}
    for path in ("/cluster/lessons/1/questions", "/cluster/lessons/1/mirror"):
        async with node.post(path, json={"text": "x"}) as r:
            assert r.status == 401
        async with node.post(path, json={"text": "x"}, headers={
                "Authorization": "Bearer guessed"}) as r:
            assert r.status == 401
        async with node.post(path, json={"text": "x"}, headers=nodes) as r:
            assert r.status == 404  # no such lesson held here (nor edged)
        async with node.post(path, data=b"x" * 20_000, headers=nodes) as r:
            assert r.status in (404, 413)


async def test_a_socket_claiming_to_be_routed_needs_the_nodes_secret(node: TestClient) -> None:
    """Only a node may say "serve this socket here as the lesson's edge" (or origin): a forged
    header leaves the socket to the routing, as any other."""
    secret = await node.app[PLACEMENT].secret()
    for shown, expected in (("guessed", None), ("", None), (secret, "edge")):
        ws = await node.ws_connect("/ws", headers={SERVE_HEADER: "edge", SECRET_HEADER: shown})
        try:
            [connection] = await eventually(lambda: list(node.app[SOCKETS].open))
            assert connection.routed == expected
        finally:
            await ws.close()
        await eventually(lambda: not node.app[SOCKETS].open)


async def test_malformed_commands_are_ignored_and_good_ones_still_obeyed(
        node: TestClient, redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    placement = node.app[PLACEMENT]
    redis = Redis.from_url(redis_url)
    done: list[Command] = []
    other = NodeCommands(redis_url, "other:1", lambda c: _note(done, c),
                         prefix=placement.registry.prefix)
    await other.start()
    try:
        with caplog.at_level(logging.WARNING, logger="kelian.cluster.commands"):
            target = channel("other:1", placement.registry.prefix)
            for garbage in (b"not json", b"[1, 2]", b'{"op": "explode", "lesson_id": 1}',
                            b'{"op": "end"}', b"x" * 10_000):
                assert await redis.publish(target, garbage) == 1
            assert await placement.commands.send("other:1", Command(Op.end, 7))
            await eventually(lambda: done == [Command(Op.end, 7)])
        assert sum("malformed command" in r.getMessage() for r in caplog.records) == 5
    finally:
        await other.close()
        await redis.aclose()


async def _note(done: list[Command], command: Command) -> None:
    done.append(command)
    await asyncio.sleep(0)


async def test_question_events_reach_an_edge_that_failed_for_a_moment_in_order(
        node: TestClient, aiohttp_server) -> None:  # type: ignore[no-untyped-def]
    """The origin's sender to one edge: the questions asked before the edge came go first; an
    edge answering 503 or unreachable gets the same event again, later ones wait their turn;
    one it refuses for good (4xx) is not sent again; the Session's end stops the sender."""
    from aiohttp import web

    from server.cluster.cascade import _QuestionRelay
    from server.signalling import schema as wire

    got: list[str] = []
    answers = iter([503, 503, 204, 400, 204])

    async def mirror(request: web.Request) -> web.Response:
        got.append((await request.json())["question"]["text"])
        return web.Response(status=next(answers))

    edge = web.Application()
    edge.router.add_post("/cluster/lessons/7/mirror", mirror)
    server = await aiohttp_server(edge)

    def question(text: str) -> wire.QuestionOut:
        return wire.QuestionOut(question_id=f"q-{text}", participant_id="p-1", name="一班",
                                classroom="一班", text=text, at=datetime.now(UTC),
                                answer=None, highlighted=False)

    relay = _QuestionRelay(node.app[PLACEMENT], str(server.make_url("")).rstrip("/"), 7,
                           [question("earlier")])
    sender = asyncio.create_task(relay.run())
    relay(wire.QuestionAsked(question=question("refused")))
    relay(wire.QuestionAsked(question=question("last")))
    relay(wire.ChatMessage(message=wire.ChatMessageOut(  # not a question: not sent
        message_id="m-1", participant_id="p-1", name="x", text="no", at=datetime.now(UTC))))
    await eventually(lambda: len(got) == 5, timeout=10)
    assert got == ["earlier", "earlier", "earlier", "refused", "last"]
    await relay.end(None, None)  # type: ignore[arg-type]
    await asyncio.wait_for(sender, 2)
