"""Crowd workers for the `signalling` scenario: each process holds many /ws participants.

A participant authenticates with its token (`auth`), joins the lesson (`join`, whose reply
carries the room state), sends texts when told, and leaves (`leave`, the server closes with
1000). One reader task per socket matches replies to requests and timestamps every text that
carries the load test's mark. The flood of `event.participant.*` events (every join and leave
is told to everyone) is only counted, not parsed, so the generator stays cheap.

Commands from the coordinator, each answered when done:
("join", rate, in_flight) -> ("joined", PhaseResult); ("chat", rate, until, grace) ->
("chatted", PhaseResult); ("leave", rate, in_flight) -> ("left", PhaseResult);
("result",) -> ("result", CrowdResult).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import resource
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, WSMsgType

from .seed import Seat

# The text each kind lets a receiving classroom send, and the event that carries it to everyone.
TEXTS: dict[str, tuple[str, str, str]] = {
    "famous_school": ("question.ask", "event.question.asked", "question"),
    "master_teacher": ("chat.send", "event.chat.message", "message"),
}
MARK = "lt"
REQUEST_TIMEOUT_S = 60.0
_PARTICIPANT_EVENT = '{"v":1,"type":"event.participant.'  # server/signalling/schema.py to_wire
_MAX_ERRORS = 50


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class PhaseResult:
    ok: int  # participants that completed the phase's step
    cpu_s: float  # this worker's CPU over the phase
    sent: int = 0  # texts sent (chat)


@dataclass
class CrowdResult:
    join_ms: array  # socket open -> room state, per participant that joined
    join_reply_bytes: int  # the largest room state received
    leave_ms: array  # `leave` sent -> socket closed
    text_delay_ms: array  # text sent -> received, by every other participant
    texts_sent: int
    deliveries: int
    messages: int  # every server message received, all phases
    errors: list[str] = field(default_factory=list)


class Stats:
    def __init__(self) -> None:
        self.join_ms = array("f")
        self.leave_ms = array("f")
        self.delays = array("f")
        self.reply_bytes = 0
        self.sent = 0
        self.deliveries = 0
        self.messages = 0
        self.errors: list[str] = []

    def error(self, text: str) -> None:
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(text)


class Member:
    """One participant: its socket, its reader, its pending requests."""

    def __init__(self, seat: Seat, may_text: bool, stats: Stats, text_event: str, text_key: str):
        self.seat = seat
        self.may_text = may_text
        self.stats = stats
        self.text_event = text_event
        self.text_key = text_key
        self.participant_id: str | None = None
        self.leaving = False
        self._ws: Any = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def join(self, http: ClientSession, url: str, lesson_id: int) -> None:
        started = time.monotonic()
        self._ws = await http.ws_connect(f"{url}/ws", max_msg_size=16 * 2**20)
        self._reader = asyncio.create_task(self._read())
        await self.request({"type": "auth", "token": self.seat.token})
        reply = await self.request({"type": "join", "lesson_id": lesson_id})
        self.stats.join_ms.append((time.monotonic() - started) * 1000)
        self.participant_id = reply["room"]["you"]["participant_id"]

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        rid = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        await self._ws.send_str(json.dumps({"v": 1, "id": rid, **body}))
        reply = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        if reply["type"] != "ok":
            raise RuntimeError(f"{body['type']}: {reply.get('code')} {reply.get('message')}")
        return reply

    async def send_text(self, kind: str) -> None:
        """Fire a marked text; its reply is checked by the reader, not awaited."""
        rid = next(self._ids)
        text = f"{MARK} {time.monotonic_ns()}"
        await self._ws.send_str(json.dumps({"v": 1, "id": rid, "type": kind, "text": text}))
        self.stats.sent += 1

    async def leave(self) -> None:
        self.leaving = True
        started = time.monotonic()
        await self._ws.send_str(json.dumps({"v": 1, "id": next(self._ids), "type": "leave"}))
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), REQUEST_TIMEOUT_S)
        if self._ws.close_code != 1000:
            raise RuntimeError(f"leave closed the socket with {self._ws.close_code}")
        self.stats.leave_ms.append((time.monotonic() - started) * 1000)

    async def _read(self) -> None:
        stats = self.stats
        async for frame in self._ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            stats.messages += 1
            data: str = frame.data
            if data.startswith(_PARTICIPANT_EVENT):
                continue
            message = json.loads(data)
            kind = message["type"]
            if kind == self.text_event:
                self._on_text(message[self.text_key])
            elif kind in ("ok", "error"):
                future = self._pending.pop(message.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(message)
                    if "room" in message:
                        stats.reply_bytes = max(stats.reply_bytes, len(data))
                elif kind == "error":  # a text's reply: nobody waits for it
                    stats.error(f"{self.seat.name}: {message.get('code')} {message.get('message')}")
        if not self.leaving:
            stats.error(f"{self.seat.name}: socket closed ({self._ws.close_code})")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"closed ({self._ws.close_code})"))

    def _on_text(self, line: dict[str, Any]) -> None:
        now = time.monotonic_ns()
        text: str = line["text"]
        if line["participant_id"] == self.participant_id or not text.startswith(MARK):
            return
        self.stats.deliveries += 1
        self.stats.delays.append((now - int(text.split()[1])) / 1e6)

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            self.leaving = True
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


async def _paced(members: list[Member], rate: float, in_flight: int, step: str,
                 action: Callable[[Member], Awaitable[None]], stats: Stats) -> int:
    """Start `action(member)` at `rate` per second (open loop), at most `in_flight` at once."""
    gate = asyncio.Semaphore(max(1, in_flight))
    done = 0
    start = time.monotonic() + random.random() / max(rate, 1e-3)  # workers do not align

    async def one(i: int, member: Member) -> None:
        nonlocal done
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        async with gate:
            try:
                await action(member)
                done += 1
            except Exception as exc:
                stats.error(f"{member.seat.name}: {step}: {exc!r}"[:300])

    await asyncio.gather(*(one(i, m) for i, m in enumerate(members)))
    return done


async def _chat(members: list[Member], kind: str, rate: float, until: float) -> None:
    senders = [m for m in members if m.may_text and m.participant_id is not None]
    if not senders or rate <= 0:
        return
    next_at = time.monotonic() + random.random() / rate
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        try:
            await random.choice(senders).send_text(kind)
        except Exception as exc:
            senders[0].stats.error(f"sending a text: {exc!r}")
        next_at += 1 / rate


async def _work(url: str, lesson_id: int, seats: list[Seat], texts: list[bool], kind: str,
                conn: Connection) -> None:
    stats = Stats()
    text_type, text_event, text_key = TEXTS[kind]
    members = [Member(seat, may, stats, text_event, text_key)
               for seat, may in zip(seats, texts, strict=True)]
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: inbox.put_nowait(conn.recv()))
    connector = TCPConnector(limit=0, force_close=True)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=None)) as http:
        try:
            while True:
                command = await inbox.get()
                cpu = _cpu()
                if command[0] == "join":
                    _, rate, in_flight = command
                    ok = await _paced(members, rate, in_flight, "join",
                                      lambda m: m.join(http, url, lesson_id), stats)
                    conn.send(("joined", PhaseResult(ok, _cpu() - cpu)))
                elif command[0] == "chat":
                    _, rate, until, grace = command
                    sent = stats.sent
                    await _chat(members, text_type, rate, until)
                    await asyncio.sleep(max(0.0, until + grace - time.monotonic()))
                    conn.send(("chatted", PhaseResult(len(members), _cpu() - cpu,
                                                      stats.sent - sent)))
                elif command[0] == "leave":
                    _, rate, in_flight = command
                    present = [m for m in members if m.participant_id is not None]
                    ok = await _paced(present, rate, in_flight, "leave", Member.leave, stats)
                    conn.send(("left", PhaseResult(ok, _cpu() - cpu)))
                elif command[0] == "result":
                    break
        finally:
            loop.remove_reader(conn.fileno())
            await asyncio.gather(*(m.close() for m in members), return_exceptions=True)
    conn.send(("result", CrowdResult(stats.join_ms, stats.reply_bytes, stats.leave_ms,
                                     stats.delays, stats.sent, stats.deliveries, stats.messages,
                                     stats.errors)))


def run_crowd(url: str, lesson_id: int, seats: list[Seat], texts: list[bool], kind: str,
              conn: Connection) -> None:
    """Process entry point: `seats` join `lesson_id`; those with `texts[i]` may send texts."""
    try:
        asyncio.run(_work(url, lesson_id, seats, texts, kind, conn))
    except Exception as exc:  # reported to the coordinator, which fails the run
        conn.send(("result", CrowdResult(array("f"), 0, array("f"), array("f"), 0, 0, 0,
                                         [f"crowd worker failed: {exc!r}"])))
