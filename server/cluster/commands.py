"""What one node asks of another over Redis pub/sub: open a lesson's Room, end it, start its
recording. Each node listens on its own channel, `<prefix>node:<id>:do`.

A command is fire-and-forget: `send` says whether a node was listening. What is lost (the node
died meanwhile) the database still says: a lesson that is live gets its Room on the first join.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from enum import StrEnum

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..waits import wait_for_event
from .registry import PREFIX, connect

log = logging.getLogger("kelian.cluster.commands")

MAX_COMMAND_BYTES = 4096
RETRY_S = 2.0


class Op(StrEnum):
    open = "open"  # open the lesson's Room (it went live)
    end = "end"  # close it (the lesson ended)
    record = "record"  # start its recording (the planned start of a timetabled lesson came)


@dataclass(frozen=True)
class Command:
    op: Op
    lesson_id: int
    title: str = ""
    kind: str = ""
    record: bool = False

    def encode(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, data: str | bytes) -> Command:
        """ValueError, KeyError or TypeError when it is not a command."""
        if len(data) > MAX_COMMAND_BYTES:
            raise ValueError("too long")
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        return cls(op=Op(raw["op"]), lesson_id=int(raw["lesson_id"]),
                   title=str(raw.get("title", "")), kind=str(raw.get("kind", "")),
                   record=bool(raw.get("record", False)))


def channel(node_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}node:{node_id}:do"


Handler = Callable[[Command], Awaitable[None]]


class NodeCommands:
    """This node's channel: commands are handed to `handler` one at a time, in order."""

    def __init__(self, redis_url: str, node_id: str, handler: Handler, prefix: str = PREFIX):
        self.node_id = node_id
        self.prefix = prefix
        self._handler = handler
        self._redis: Redis = connect(redis_url)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="kelian-node-commands")
            # Commands sent before the subscription would be lost: wait for it (briefly).
            await wait_for_event(self._subscribed, 3)

    async def send(self, node_id: str, command: Command) -> bool:
        """Whether a node listened. Raises RedisError or OSError when Redis is down."""
        return bool(await self._redis.publish(channel(node_id, self.prefix), command.encode()))

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(channel(self.node_id, self.prefix))
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._handle(message["data"])
            except (RedisError, OSError) as exc:
                log.warning("node commands: Redis unreachable (%s); retrying", exc)
                await asyncio.sleep(RETRY_S)

    async def _handle(self, data: bytes) -> None:
        try:
            command = Command.decode(data)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("node commands: ignored a malformed command (%s)", exc)
            return
        log.info("node %s: %s lesson %d asked by another node", self.node_id, command.op.value,
                 command.lesson_id, extra={"lesson_id": command.lesson_id})
        try:
            await self._handler(command)
        except Exception:
            log.exception("node commands: %s of lesson %d failed", command.op.value,
                          command.lesson_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._redis.aclose()
