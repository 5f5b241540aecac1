"""`wait_for_event`: a cancellation that arrives as the event is set still cancels the task
(asyncio.wait_for on Python 3.11 swallows it, and a stopping node hung on that)."""

from __future__ import annotations

import asyncio

import pytest

from server.waits import wait_for_event


async def test_times_out_or_sees_the_event() -> None:
    event = asyncio.Event()
    assert await wait_for_event(event, 0.01) is False
    event.set()
    assert await wait_for_event(event, 5) is True


async def test_a_cancellation_arriving_with_the_event_is_not_lost() -> None:
    event = asyncio.Event()
    rounds = 0

    async def loop() -> None:  # as the RTSP supervisor and the job runner wait between looks
        nonlocal rounds
        while True:
            rounds += 1
            await wait_for_event(event, 30)
            event.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    event.set()  # what a Room moving away does to the supervisor, as the node stops
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert rounds == 1
