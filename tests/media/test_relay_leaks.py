"""Participants that come and go leave nothing behind: tasks, sockets and threads return."""

from __future__ import annotations

import asyncio
import gc
import os
import threading

from aiortc import RTCPeerConnection

from media.interface import CloseReason, MediaEvent
from media.relay.room import RelayService
from tests.helpers import eventually
from tests.media.test_relay_forwarding import _publish, _subscribe

CYCLES = 15


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _tasks() -> int:
    return len([t for t in asyncio.all_tasks() if not t.done()])


async def test_publishers_and_subscribers_coming_and_going_leak_nothing() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("leaks-1", events.append)
    publisher, _ = await _publish(room, events)
    try:
        await asyncio.sleep(0.5)
        gc.collect()
        tasks, fds, threads = _tasks(), _open_fds(), threading.active_count()
        relay_side: list[RTCPeerConnection] = []
        for i in range(CYCLES):
            subscriber: RTCPeerConnection
            subscriber, got = await _subscribe(room, f"point-{i}")
            relay_side.append(room._subscribers[f"point-{i}"].pc)
            await eventually(lambda got=got: sum(len(v) for v in got.values()) > 5, timeout=10)
            # Half leave politely, half vanish (the relay notices only on removal).
            if i % 2:
                await subscriber.close()
                await room.remove_participant(f"point-{i}", CloseReason.participant_left)
            else:
                await room.remove_participant(f"point-{i}", CloseReason.transport_failed)
                await subscriber.close()
        assert room._subscribers == {}
        # The relay closed every Transport it made (a forgotten one would linger until ICE
        # consent expired, tens of seconds later).
        assert [pc.connectionState for pc in relay_side] == ["closed"] * CYCLES

        def settled() -> bool:
            gc.collect()
            # At most the baseline: threads and tasks left by earlier tests may end meanwhile.
            return (_tasks() <= tasks and _open_fds() <= fds
                    and threading.active_count() <= threads)

        await eventually(settled, timeout=15)
    finally:
        await service.close()
        await publisher.close()
