"""Wake-ups on enqueue, so an idle worker starts a new job at once instead of at its next poll.

Notifications are hints: a lost one only delays a job until the next poll, which also picks up
retries whose back-off ended and jobs whose worker died. Listeners get the job kind, or ""
meaning "anything may have changed" (sent after Redis comes back, as messages may have gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("kelian.jobs")

Listener = Callable[[str], None]
CHANNEL = "kelian:jobs"


class Notifier(Protocol):
    # How long a listener may go without polling: it hears no enqueues from elsewhere when local.
    poll_s: float

    async def publish(self, kind: str) -> None: ...

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` on each notification until the returned function is called."""
        ...

    async def close(self) -> None: ...


class _Listeners:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    def deliver(self, kind: str) -> None:
        for listener in list(self._listeners):
            listener(kind)


class LocalNotifier(_Listeners):
    """One process: enqueues here wake runners here; workers elsewhere find jobs by polling."""

    poll_s = 1.0

    async def publish(self, kind: str) -> None:
        self.deliver(kind)

    async def close(self) -> None:
        pass


class RedisNotifier(_Listeners):
    """Redis pub/sub on one channel, shared by every node and worker of an installation."""

    poll_s = 5.0  # a safety net only: enqueues anywhere arrive as messages

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        super().__init__()
        self.channel = channel
        self.ready = asyncio.Event()  # subscribed (tests wait for it)
        # Timeouts so a Redis that vanished without closing the connection is noticed, and
        # an enqueue never hangs on it; health checks ping the otherwise silent subscription.
        self._redis = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5,
                                     health_check_interval=30)
        self._task: asyncio.Task[None] | None = None

    def listen(self, listener: Listener) -> Callable[[], None]:
        self.start()  # subscribe only where someone listens (a node without a runner does not)
        return super().listen(listener)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._subscribe(), name="kelian-jobs-redis")

    async def publish(self, kind: str) -> None:
        await self._redis.publish(self.channel, kind)

    async def _subscribe(self) -> None:
        outage = False
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.ready.set()
                    if outage:
                        log.info("job wake-ups: Redis is back")
                        self.deliver("")  # announcements during the outage are lost
                    outage = False
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                           timeout=self.poll_s)
                        if message is not None and message.get("type") == "message":
                            data = message["data"]
                            self.deliver(data.decode() if isinstance(data, bytes) else str(data))
            except (RedisError, OSError) as exc:
                self.ready.clear()
                if not outage:
                    log.warning("job wake-ups: Redis unreachable (%s); polling until it is back", exc)
                outage = True
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()


def open_notifier(redis_url: str) -> Notifier:
    """Redis pub/sub when a Redis is configured, else in-process."""
    return RedisNotifier(redis_url) if redis_url else LocalNotifier()
