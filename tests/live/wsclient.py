"""A small signalling client for tests: numbered requests, a reader task, waiting for events."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

Message = dict[str, Any]


class SignalClient:
    def __init__(self, ws: ClientWebSocketResponse, name: str = "client"):
        self.ws = ws
        self.name = name
        self.received: list[Message] = []
        self.close_code: int | None = None
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type is WSMsgType.TEXT:
                self.received.append(json.loads(frame.data))
                self._arrived.set()
        self.close_code = self.ws.close_code
        self._arrived.set()

    async def send(self, type_: str, **fields: Any) -> int:
        rid = next(self._ids)
        await self.ws.send_str(json.dumps({"v": 1, "type": type_, "id": rid, **fields}))
        return rid

    async def request(self, type_: str, timeout: float = 10, **fields: Any) -> Message:
        """Send a request and return its reply (`ok` or `error`)."""
        rid = await self.send(type_, **fields)
        return await self.wait(lambda m: m.get("id") == rid and m["type"] in ("ok", "error"),
                               timeout, f"reply to {type_}")

    async def ok(self, type_: str, **fields: Any) -> Message:
        reply = await self.request(type_, **fields)
        assert reply["type"] == "ok", f"{self.name}: {type_} failed: {reply}"
        return reply

    async def error(self, type_: str, **fields: Any) -> Message:
        reply = await self.request(type_, **fields)
        assert reply["type"] == "error", f"{self.name}: {type_} did not fail: {reply}"
        return reply

    async def wait(self, predicate: Callable[[Message], bool], timeout: float = 10,
                   what: str = "message", start: int = 0) -> Message:
        """The first received message (from index `start`) matching `predicate`."""
        async def find() -> Message:
            seen = start
            while True:
                for message in self.received[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.received)
                if self._reader.done():
                    raise AssertionError(f"{self.name}: socket closed ({self.close_code}) "
                                         f"before {what}; got {self.received[-5:]}")
                self._arrived.clear()
                await self._arrived.wait()
        try:
            return await asyncio.wait_for(find(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.name}: no {what} within {timeout}s; "
                                 f"last: {self.received[-5:]}") from None

    async def event(self, name: str, timeout: float = 10, start: int = 0, **match: Any
                    ) -> Message:
        return await self.wait(
            lambda m: m["type"] == f"event.{name}" and all(m.get(k) == v for k, v in match.items()),
            timeout, f"event.{name} {match or ''}", start)

    def events(self, name: str) -> list[Message]:
        return [m for m in self.received if m["type"] == f"event.{name}"]

    async def closed(self, timeout: float = 10) -> int | None:
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)


async def connect(client: TestClient, token: str | None = None, name: str = "client",
                  **kwargs: Any) -> SignalClient:
    """A socket on /ws, authenticated with `token` (a terminal or API token) when given."""
    ws = await client.ws_connect("/ws", **kwargs)
    signal = SignalClient(ws, name)
    if token is not None:
        await signal.ok("auth", token=token)
    return signal


async def join(client: TestClient, token: str, lesson_id: int, name: str = "client"
               ) -> tuple[SignalClient, Message]:
    """Authenticate and join; returns the client and the room state of the `join` reply."""
    signal = await connect(client, token, name)
    reply = await signal.ok("join", lesson_id=lesson_id)
    return signal, reply["room"]
