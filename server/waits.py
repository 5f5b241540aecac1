"""Waiting for an asyncio Event, with a time limit, in a task that may be cancelled.

On Python 3.11, `asyncio.wait_for(event.wait(), timeout)` swallows a cancellation that arrives
as the event is set: the task carries on as if it had not been cancelled, and whoever awaits it
(a stopping node's shutdown) hangs until its next wait ends. `asyncio.timeout` waits on the
event itself and lets the cancellation through.
"""

from __future__ import annotations

import asyncio


async def wait_for_event(event: asyncio.Event, timeout: float) -> bool:
    """True when the event was set within `timeout` seconds, False when the time ran out."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
