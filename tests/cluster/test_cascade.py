"""The cascade with two real nodes on loopback (shared PostgreSQL and Redis): a famous-school
broadcast whose origin serves two receivers (`room_max_receivers`); the next receivers are
served by the other node, which pulls the teacher's camera and microphone from the origin once
and forwards them. Every receiver gets the teacher's media; questions asked on either node
reach the teacher and every receiver, and so do the answers; ending the lesson ends it on both
nodes (4410)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import ClientSession
from redis.asyncio import Redis

from loadtest.kelian import KelianServer, Target
from loadtest.seed import end_lesson, seed_crowd

from .nodes import Member, node_cluster, node_id, placed, print_state, stop_members
from .test_nodes import _until

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]

LIMIT = 2


@pytest.fixture
async def two_nodes(db_url: str, redis_url: str, tmp_path: Path
                    ) -> AsyncIterator[tuple[list[KelianServer], str, str]]:
    async with node_cluster(2, db_url, redis_url, tmp_path,
                            KELIAN_ROOM_MAX_RECEIVERS=str(LIMIT)) as cluster:
        yield cluster


async def test_a_broadcast_beyond_one_nodes_share_cascades_to_another_node(
        two_nodes: tuple[list[KelianServer], str, str], loopback_peers: None) -> None:
    nodes, url, prefix = two_nodes
    redis = Redis.from_url(url)
    by_id = {node_id(server): server for server in nodes}
    lesson = await seed_crowd(Target(nodes[0].target.url, nodes[0].target.admin_password),
                              participants=2 * LIMIT, kind="famous_school", tag="cascade")
    origin = await placed(redis, prefix, lesson.lesson_id)
    assert origin in by_id
    [edge] = [i for i in by_id if i != origin]
    urls = {i: [by_id[i].target.url] for i in by_id}

    async with ClientSession() as http:
        teacher = Member(http, urls[origin], lesson.host.token, lesson.lesson_id,
                         ["camera", "microphone"], "teacher")
        # Receivers reach either node; the routing decides who serves them.
        receivers = [Member(http, urls[origin if i % 2 else edge], seat.token, lesson.lesson_id,
                            [], f"receiver {i}") for i, seat in enumerate(lesson.terminals)]
        everyone = [teacher, *receivers]
        try:
            teacher.start()
            await _until(lambda: teacher.joins, 20, "the teacher in")
            for i, receiver in enumerate(receivers):  # one by one: the routing counts them
                if i == LIMIT:  # a question on the origin before there is an edge
                    assert receivers[0].signal is not None
                    await receivers[0].signal.ok("question.ask", text="Before the edge?")
                receiver.start()
                await _until(lambda r=receiver: r.joins, 20, f"{receiver.name} in")
            # The edge's receivers see it too: the edge was told of the questions asked before
            # it opened (in their room state, or as an event if they were quicker).
            await _until(lambda: all(_questions_seen(r) == ["Before the edge?"]
                                     for r in receivers), 10, "the edge told the earlier question")

            async def all_receive() -> bool:
                for r in receivers:
                    if not await r.receiving(["audio", "video"]):
                        return False
                return True

            await _until(all_receive, 40, "every receiver getting the teacher")

            # The teacher's console lists every classroom as in the lesson, those the edge
            # serves too, whichever node answers its poll.
            async def console_states(node: KelianServer) -> list[str]:
                async with http.get(
                        f"{node.target.url}/lessons/{lesson.lesson_id}/classrooms.json",
                        headers={"Authorization": f"Bearer {lesson.host.token}"}) as response:
                    assert response.status == 200, await response.text()
                    return [c["state"] for c in (await response.json())["classrooms"]]

            async def console_sees_all() -> bool:
                return [await console_states(node) for node in nodes] == [
                    ["in_lesson"] * 2 * LIMIT] * len(nodes)

            await _until(console_sees_all, 10, "the console seeing every classroom in")
            async def counted() -> dict[str, int]:
                raw = await redis.hgetall(f"{prefix}room:{lesson.lesson_id}:receivers")
                return {k.decode(): int(v) for k, v in raw.items()}

            # Counted where the routing sent them (and uncounted there when they leave).
            assert await counted() == {origin: LIMIT, edge: LIMIT}, await counted()
            edges = {m.decode() for m in await redis.smembers(
                f"{prefix}room:{lesson.lesson_id}:edges")}
            assert edges == {edge}
            # The edge pulled the programme from the origin once, for both its receivers.
            pulls = by_id[origin].log_tail(200_000).count("pulls the programme")
            assert pulls == 1, by_id[origin].log_tail(5000)
            assert "as an edge" in by_id[edge].log_tail(200_000)

            # Questions keep one list, the origin's: each receiver asks one, wherever it is
            # served; the teacher sees all four, every receiver sees all four, and answers.
            for r in receivers:
                assert r.signal is not None
                reply = await r.signal.ok("question.ask", text=f"Why, says {r.name}?")
                assert reply["question_id"]
            assert teacher.signal is not None
            asked_by = sorted(["Before the edge?"] + [f"Why, says {r.name}?" for r in receivers])
            await _until(lambda: len(teacher.signal.events("question.asked")) == len(asked_by),
                         10, "the teacher seeing every question")
            asked = [e["question"] for e in teacher.signal.events("question.asked")]
            assert sorted(q["text"] for q in asked) == asked_by
            await _until(lambda: all(_questions_seen(r) == asked_by for r in receivers), 10,
                         "every receiver seeing every question")
            for question in asked:
                await teacher.signal.ok("question.answer", question_id=question["question_id"],
                                        text="Because.")
            await _until(lambda: all(len(r.signal.events("question.answered")) == len(asked)
                                     for r in receivers if r.signal), 10,
                         "every receiver seeing the answers")

            # What a node sends another is checked as any request: clear refusals, no harm.
            secret = (await redis.get(f"{prefix}cluster-secret")).decode()
            auth = {"Authorization": f"Bearer {secret}"}
            lesson_path = f"/cluster/lessons/{lesson.lesson_id}"
            for url, path, body in (
                    (by_id[origin].target.url, "questions", {"name": "x", "text": ""}),
                    (by_id[origin].target.url, "questions", ["not", "an", "object"]),
                    (by_id[edge].target.url, "mirror", {"type": "event.question.asked"}),
                    (by_id[edge].target.url, "mirror", {"type": "event.chat.message"})):
                async with http.post(f"{url}{lesson_path}/{path}", json=body,
                                     headers=auth) as response:
                    assert response.status == 400, (path, body, await response.text())
            async with http.post(f"{by_id[edge].target.url}{lesson_path}/mirror",
                                 data="{not json", headers=auth) as response:
                assert response.status == 400 and "not JSON" in await response.text()
            async with http.post(f"{by_id[origin].target.url}{lesson_path}/mirror", json={},
                                 headers=auth) as response:
                assert response.status == 404  # the origin is no edge of its own lesson
            assert len(teacher.signal.events("question.asked")) == len(asked)

            # Ending the lesson ends it everywhere: every receiver is told 4410 and stays away.
            await end_lesson(Target(nodes[0].target.url), lesson.host, lesson.lesson_id)
            await _until(lambda: all(r.closes and r.closes[-1][1] == 4410 for r in receivers),
                         20, "every receiver told the lesson ended")
            await _until(lambda: _all_gone(counted), 10, "the receivers uncounted")
        except BaseException:
            await print_state(everyone, nodes)
            raise
        finally:
            await stop_members(everyone, redis)


async def _all_gone(counted: Callable[[], Awaitable[dict[str, int]]]) -> bool:
    return not any((await counted()).values())


def _questions_seen(receiver: Member) -> list[str]:
    """The questions a receiver knows: in its room state at its join, and asked since."""
    events = receiver.signal.events("question.asked") if receiver.signal else []
    return sorted([q["text"] for q in receiver.state.get("questions", [])]
                  + [e["question"]["text"] for e in events])
