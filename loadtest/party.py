"""Classroom workers for the `classrooms` scenario: each process runs the parties of some
lessons. A party (the hub teacher or a teaching point's terminal) opens /ws, authenticates,
joins its lesson, answers every `event.offer` on its receive connection and publishes its
camera and microphone (`publish`) on its send connection (loadtest/media_peer.py).

Messages from the coordinator: the worker says ("ready", [missing streams]) once every party
receives what the rules send it (or after `ready_timeout`); ("mark",) starts the steady window;
("report", t0, t1) is answered with ("result", PartiesResult) and ends the worker.
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector

from .clip import Clip, load_clip
from .loopback import use_loopback_only
from .media_peer import Receiver, Sender, Stream, widen_receive_buffers
from .seed import Seat
from .wsclient import SignalSocket

STAMP_MARGIN_S = 10.0  # send stamps kept from before the window (for packets arriving in it)


@dataclass(frozen=True)
class PartySpec:
    lesson_id: int
    seat: Seat
    hub: bool
    expects_video: int  # streams the rules send it: the hub gets every point's camera,
    expects_audio: int  # a point the hub teacher's camera and microphone
    publishes: bool = True  # a broadcast's receiving classroom sends nothing


@dataclass
class PartyFigures:
    lesson_id: int
    name: str
    hub: bool
    participant_id: str | None
    join_started: float  # CLOCK_MONOTONIC, before the socket opened
    join_ms: float | None  # socket open -> room state
    publish_started: float | None
    streams: list[Stream]  # in the window only
    stamps: dict[int, list[float]]  # video payload CRC -> send times
    packets_sent: int  # in the window
    keyframe_requests: list[float]
    notices: list[str]
    unknown_packets: int


@dataclass
class PartiesResult:
    parties: list[PartyFigures]
    cpu_s: float  # this worker over the window
    errors: list[str] = field(default_factory=list)


class Party:
    def __init__(self, spec: PartySpec, clip: Clip, errors: list[str]):
        self.spec = spec
        self.errors = errors
        self.receiver = Receiver()
        self.sender = Sender(clip)
        self.signal: SignalSocket | None = None
        self.participant_id: str | None = None
        self.join_started = 0.0
        self.join_ms: float | None = None
        self.publish_started: float | None = None
        self.sent_mark = 0
        self._answering: asyncio.Task[None] | None = None

    async def start(self, http: ClientSession, url: str) -> None:
        self.join_started = time.monotonic()
        self.signal = await SignalSocket.open(http, url, self.spec.seat.token)
        reply = await self.signal.request("join", lesson_id=self.spec.lesson_id)
        self.join_ms = (time.monotonic() - self.join_started) * 1000
        self.participant_id = reply["room"]["you"]["participant_id"]
        self._answering = asyncio.create_task(self._answer_offers())
        if not self.spec.publishes:
            return
        sdp, sources = await self.sender.offer()
        self.publish_started = time.monotonic()
        reply = await self.signal.request("publish", sdp=sdp, sources=sources)
        await self.sender.accept(reply["sdp"])

    async def _answer_offers(self) -> None:
        assert self.signal is not None
        while True:
            offer = await self.signal.offers.get()
            try:
                answer = await self.receiver.answer(offer)
                await self.signal.request("answer", sdp=answer)
            except Exception as exc:
                self.errors.append(f"{self.spec.seat.name}: answering an offer: {exc!r}"[:300])

    def missing(self) -> list[str]:
        """What the rules send this party that has not arrived (a video's first keyframe)."""
        streams = self.receiver.streams.values()
        video = sum(1 for s in streams if s.kind == "video" and s.keyframe_at is not None)
        audio = sum(1 for s in streams if s.kind == "audio" and len(s.times) > 0)
        out = []
        if video < self.spec.expects_video:
            out.append(f"{self.spec.seat.name}: {video}/{self.spec.expects_video} videos")
        if audio < self.spec.expects_audio:
            out.append(f"{self.spec.seat.name}: {audio}/{self.spec.expects_audio} audios")
        return out

    def figures(self, t0: float, t1: float) -> PartyFigures:
        stamps = {crc: kept for crc, times in self.sender.stamps.items()
                  if (kept := [t for t in times if t0 - STAMP_MARGIN_S <= t < t1])}
        closed = self.signal.close_code if self.signal else None
        if closed is not None:
            self.errors.append(f"{self.spec.seat.name}: socket closed ({closed})")
        return PartyFigures(
            lesson_id=self.spec.lesson_id, name=self.spec.seat.name, hub=self.spec.hub,
            participant_id=self.participant_id, join_started=self.join_started,
            join_ms=self.join_ms, publish_started=self.publish_started,
            streams=[s.window(t0, t1) for s in self.receiver.streams.values()],
            stamps=stamps, packets_sent=self.sender.packets_sent - self.sent_mark,
            keyframe_requests=self.sender.keyframe_requests,
            notices=list(self.signal.notices) if self.signal else [],
            unknown_packets=self.receiver.unknown_packets)

    async def close(self) -> None:
        if self._answering is not None:
            self._answering.cancel()
            await asyncio.gather(self._answering, return_exceptions=True)
        if self.signal is not None:
            await self.signal.close()
        await asyncio.gather(self.sender.pc.close(), self.receiver.pc.close(),
                             return_exceptions=True)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _work(url: str, specs: list[PartySpec], clip: Clip, ready_timeout: float,
                conn: Connection) -> None:
    errors: list[str] = []
    parties = [Party(spec, clip, errors) for spec in specs]
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: inbox.put_nowait(conn.recv()))
    async with ClientSession(connector=TCPConnector(limit=0),
                             timeout=ClientTimeout(total=None)) as http:
        try:
            outcomes = await asyncio.gather(*(p.start(http, url) for p in parties),
                                            return_exceptions=True)
            errors.extend(f"{p.spec.seat.name}: {o!r}"[:300] for p, o in
                          zip(parties, outcomes, strict=True) if isinstance(o, BaseException))
            deadline = time.monotonic() + ready_timeout
            while (missing := [m for p in parties for m in p.missing()]) and \
                    time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            conn.send(("ready", missing))
            cpu = 0.0
            while True:
                command = await inbox.get()
                if command[0] == "mark":
                    cpu = _cpu()
                    for party in parties:
                        party.sent_mark = party.sender.packets_sent
                elif command[0] == "report":
                    _, t0, t1 = command
                    used = _cpu() - cpu
                    figures = [p.figures(t0, t1) for p in parties]
                    conn.send(("result", PartiesResult(figures, used, errors[:50])))
                    break
        finally:
            loop.remove_reader(conn.fileno())
            await asyncio.gather(*(p.close() for p in parties), return_exceptions=True)


def run_parties(url: str, specs: list[PartySpec], cache_dir: str, clip_seconds: int,
                ready_timeout: float, conn: Connection) -> None:
    """Process entry point."""
    use_loopback_only()
    widen_receive_buffers()
    try:
        clip = load_clip(Path(cache_dir), clip_seconds)
        asyncio.run(_work(url, specs, clip, ready_timeout, conn))
    except Exception as exc:  # reported to the coordinator, which fails the run
        conn.send(("result", PartiesResult([], 0.0, [f"classroom worker failed: {exc!r}"])))
