"""Where a lesson's classrooms are over several nodes, on a real Redis: each node writes its
Rooms' classrooms, any node reads the others'; a dead node's entry ages out, a Room that left
a node takes its entry with it, and a garbled entry is skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from server.cluster.whereabouts import SharedWhereabouts, Whereabouts

LESSON = 41
TTL_S = 6.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def nodes(redis_url: str, prefix: str
                ) -> AsyncIterator[Callable[[str, Clock], SharedWhereabouts]]:
    made: list[SharedWhereabouts] = []

    def make(node_id: str, clock: Clock) -> SharedWhereabouts:
        made.append(SharedWhereabouts(redis_url, node_id, ttl_s=TTL_S, prefix=prefix,
                                      clock=clock))
        return made[-1]

    yield make
    for node in made:
        await node.close()


def test_the_union_keeps_every_classroom_and_the_latest_drop() -> None:
    early, late = datetime(2026, 11, 29, 9, tzinfo=UTC), datetime(2026, 11, 29, 10, tzinfo=UTC)
    a = Whereabouts(frozenset({"一班"}), {"二班": early, "三班": late})
    b = Whereabouts(frozenset({"四班"}), {"二班": late, "三班": early})
    union = a.merged(b)
    assert union.present == {"一班", "四班"}
    assert union.dropped == {"二班": late, "三班": late}
    at, back = Whereabouts.from_json(union.to_json(12.5))
    assert (at, back) == (12.5, union)


async def test_each_node_reads_the_classrooms_of_the_others(
        nodes: Callable[[str, Clock], SharedWhereabouts], redis_url: str, prefix: str) -> None:
    clock = Clock()
    origin, edge, bystander = nodes("a:1", clock), nodes("b:1", clock), nodes("c:1", clock)
    dropped_at = datetime.now(UTC) - timedelta(seconds=5)
    await origin.publish({LESSON: Whereabouts(frozenset({"一班", "二班"}))})
    await edge.publish({LESSON: Whereabouts(frozenset({"三班"}), {"四班": dropped_at}),
                        LESSON + 1: Whereabouts(frozenset({"别的课"}))})

    seen = await bystander.read(LESSON)  # a node holding nothing of the lesson sees it all
    assert seen.present == {"一班", "二班", "三班"} and seen.dropped == {"四班": dropped_at}
    assert (await origin.read(LESSON)).present == {"三班"}  # its own Room it reads directly
    assert (await edge.read(LESSON + 1)).present == frozenset()

    # The edge's Room of the lesson closes: its next write takes its entry out.
    await edge.publish({LESSON + 1: Whereabouts(frozenset({"别的课"}))})
    assert (await bystander.read(LESSON)).present == {"一班", "二班"}

    # A garbled entry (not ours to write, but Redis is shared) is skipped, not fatal.
    redis = Redis.from_url(redis_url)
    await redis.hset(f"{prefix}room:{LESSON}:classrooms", "x:1", b"{not json")
    await redis.hset(f"{prefix}room:{LESSON}:classrooms", "y:1", b'{"at": 1}')
    await redis.aclose()
    assert (await bystander.read(LESSON)).present == {"一班", "二班"}

    # The origin dies (stops writing): after the heartbeats' time to live it is not believed.
    clock.now += TTL_S + 0.1
    assert (await bystander.read(LESSON)).present == frozenset()
