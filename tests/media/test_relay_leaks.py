"""Participants that come and go leave nothing behind: tasks, sockets and threads return."""

from __future__ import annotations

import asyncio
import gc
import os
import threading

from aiortc import RTCPeerConnection

from media.interface import CloseReason, MediaEvent
from media.relay.room import RelayRoom, RelayService
from tests.helpers import eventually
from tests.media.test_relay_forwarding import _publish, _subscribe

CYCLES = 15


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _threads() -> int:
    # The loop's default executor (threads "asyncio_N") grows on demand up to a fixed bound and
    # keeps its threads; it is a pool, not a leak.
    return len([t for t in threading.enumerate() if not t.name.startswith("asyncio_")])


def _tasks() -> int:
    return len([t for t in asyncio.all_tasks() if not t.done()])


async def _cycle(room: RelayRoom, name: str, polite: bool) -> RTCPeerConnection:
    """A subscriber joins, receives, and leaves; returns the relay's side of its Transport."""
    subscriber, got = await _subscribe(room, name)
    relay_side = room._subscribers[name].pc
    await eventually(lambda: sum(len(v) for v in got.values()) > 5, timeout=10)
    if polite:
        await subscriber.close()
        await room.remove_participant(name, CloseReason.participant_left)
    else:
        await room.remove_participant(name, CloseReason.transport_failed)
        await subscriber.close()
    return relay_side


async def test_publishers_and_subscribers_coming_and_going_leak_nothing() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("leaks-1", events.append)
    publisher, _ = await _publish(room, events)
    try:
        # One cycle first: lazily made, long-lived things (the loop's executor threads, caches)
        # belong to the baseline, not to the leak count.
        await _cycle(room, "warm-up", polite=True)
        await asyncio.sleep(0.5)
        gc.collect()
        tasks, fds, threads = _tasks(), _open_fds(), _threads()
        relay_side: list[RTCPeerConnection] = []
        for i in range(CYCLES):
            # Half leave politely, half vanish (the relay notices only on removal).
            relay_side.append(await _cycle(room, f"point-{i}", polite=bool(i % 2)))
        assert room._subscribers == {}
        # The relay closed every Transport it made (a forgotten one would linger until ICE
        # consent expired, tens of seconds later).
        assert [pc.connectionState for pc in relay_side] == ["closed"] * CYCLES

        def settled() -> bool:
            gc.collect()
            # At most the baseline: threads and tasks left by earlier tests may end meanwhile.
            now = _tasks(), _open_fds(), _threads()
            if now[0] <= tasks and now[1] <= fds and now[2] <= threads:
                return True
            raise AssertionError(
                f"tasks/fds/threads {now} vs baseline {(tasks, fds, threads)}; threads: "
                + ", ".join(sorted(t.name for t in threading.enumerate())))

        await eventually(settled, timeout=15)
    finally:
        await service.close()
        await publisher.close()


async def test_a_room_closed_by_itself_leaves_the_service() -> None:
    service = RelayService()
    first = await service.open_room("leaks-2", lambda event: None)
    await first.close(CloseReason.lesson_ended)  # as the control plane ends a lesson
    assert service.rooms() == [] and service.room("leaks-2") is None
    again = await service.open_room("leaks-2", lambda event: None)
    assert again is not first and service.rooms() == [again]
    await service.close()
    assert service.rooms() == [] and again.closed
