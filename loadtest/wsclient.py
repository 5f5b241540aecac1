"""A small /ws client for the classroom parties: requests with ids matched to their replies,
the relay's offers queued for the receive connection, anything else only counted."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType

REQUEST_TIMEOUT_S = 60.0


class SignalError(Exception):
    pass


class SignalSocket:
    def __init__(self, ws: ClientWebSocketResponse):
        self.ws = ws
        self.offers: asyncio.Queue[str] = asyncio.Queue()
        self.notices: list[str] = []  # event.notice codes: transport_failed, video_paused, …
        self.events = 0
        self.closing = False
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, http: ClientSession, url: str, token: str) -> SignalSocket:
        socket = cls(await http.ws_connect(f"{url}/ws", max_msg_size=16 * 2**20))
        await socket.request("auth", token=token)
        return socket

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        rid = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        await self.ws.send_str(json.dumps({"v": 1, "type": kind, "id": rid, **fields}))
        reply = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        if reply["type"] != "ok":
            raise SignalError(f"{kind}: {reply.get('code')}: {reply.get('message')}")
        return reply

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            kind = message["type"]
            if kind in ("ok", "error"):
                future = self._pending.pop(message.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif kind == "event.offer":
                self.offers.put_nowait(message["sdp"])
            else:
                self.events += 1
                if kind == "event.notice":
                    self.notices.append(message["code"])
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SignalError(f"socket closed ({self.ws.close_code})"))

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code if self._reader.done() else None

    async def close(self) -> None:
        self.closing = True
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)
