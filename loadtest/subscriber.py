"""Subscriber workers: each process runs several real aiortc peers that never decode.

Each peer's DTLS transport hands decrypted RTP to `Capture.on_rtp` instead of aiortc's
receivers (no jitter buffer, no decoder, no NACK/RTCP feedback from them), which only notes
arrival times, sequence numbers and, for video, the payload's CRC-32.

Messages from the coordinator over the pipe: ("mark",) at the start of the steady window;
("report", t0, t1, sent) at its end, answered with ("result", WorkerResult).
"""

from __future__ import annotations

import asyncio
import resource
import time
import zlib
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from aiohttp import ClientSession
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

from .janus_client import KEEPALIVE_S, JanusSession
from .loopback import use_loopback_only
from .media_peer import widen_receive_buffers
from .rtpview import payload_offset, vp8_keyframe_start

JOIN_BATCH = 5  # peers of one worker negotiating at the same time


@dataclass
class SubscriberFigures:
    name: str
    join_s: float | None  # join request -> first keyframe packet
    first_packet_s: float | None
    packets: int  # RTP packets received in the window (audio + video)
    octets: int  # their size, headers included
    expected: int  # by sequence numbers, per SSRC, within the window
    delays_ms: array = field(default_factory=lambda: array("f"))  # video, matched by payload
    unmatched: int = 0


@dataclass
class WorkerResult:
    subscribers: list[SubscriberFigures]
    cpu_s: float  # this worker's own CPU time over the window
    errors: list[str]


class Capture:
    def __init__(self, video_pts: set[int]):
        self.video_pts = video_pts
        self.keyframe_at: float | None = None
        self.first_at: float | None = None
        self.times = array("d")
        self.ssrcs = array("L")
        self.seqs = array("H")
        self.sizes = array("H")
        self.video: list[tuple[float, int]] = []

    async def on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
        self.times.append(now)
        self.ssrcs.append(int.from_bytes(data[8:12]))
        self.seqs.append((data[2] << 8) | data[3])
        self.sizes.append(len(data))
        if data[1] & 0x7F in self.video_pts:
            payload = memoryview(data)[payload_offset(data):]
            self.video.append((now, zlib.crc32(payload)))
            if self.keyframe_at is None and vp8_keyframe_start(payload):
                self.keyframe_at = now

    def figures(self, name: str, joined_at: float, t0: float, t1: float,
                sent: dict[int, float]) -> SubscriberFigures:
        packets, expected, octets = 0, 0, 0
        streams: dict[int, list[int]] = {}
        for t, ssrc, seq, size in zip(self.times, self.ssrcs, self.seqs, self.sizes, strict=True):
            if t0 <= t < t1:
                streams.setdefault(ssrc, []).append(seq)
                octets += size
        for seqs in streams.values():
            unique = _unwrap(seqs)
            packets += len(unique)
            expected += max(unique) - min(unique) + 1
        delays = array("f")
        unmatched = 0
        for t, crc in self.video:
            if t0 <= t < t1:
                sent_at = sent.get(crc)
                if sent_at is None or sent_at > t:
                    unmatched += 1
                else:
                    delays.append((t - sent_at) * 1000)
        return SubscriberFigures(
            name=name,
            join_s=None if self.keyframe_at is None else self.keyframe_at - joined_at,
            first_packet_s=None if self.first_at is None else self.first_at - joined_at,
            packets=packets, octets=octets, expected=expected, delays_ms=delays, unmatched=unmatched)


def _unwrap(seqs: list[int]) -> set[int]:
    """16-bit sequence numbers (in arrival order) extended to a set of unique integers."""
    out: set[int] = set()
    highest: int | None = None
    for seq in seqs:
        if highest is None:
            ext = seq
        else:
            ext = highest + ((seq - (highest & 0xFFFF) + 32768) % 65536) - 32768
        out.add(ext)
        if highest is None or ext > highest:
            highest = ext
    return out


def _video_payload_types(offer: str) -> set[int]:
    description = SessionDescription.parse(offer)
    return {codec.payloadType for media in description.media if media.kind == "video"
            for codec in media.rtp.codecs if codec.mimeType.lower() == "video/vp8"}


class Subscriber:
    """Joins through a control server (loadtest/control.py): /subscribe, then /answer."""

    def __init__(self, name: str):
        self.name = name
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.capture: Capture | None = None
        self.joined_at = 0.0

    async def _answer(self, offer: str) -> str:
        """Take the server's offer, capture RTP at the DTLS transport; the answer's SDP."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        self.capture = Capture(_video_payload_types(offer))
        dtls = self.pc.getTransceivers()[0].receiver.transport
        dtls._handle_rtp_data = self.capture.on_rtp  # type: ignore[method-assign]
        await self.pc.setLocalDescription(await self.pc.createAnswer())  # gathers fully
        return str(self.pc.localDescription.sdp)

    async def join(self, http: ClientSession, url: str) -> None:
        self.joined_at = time.monotonic()
        async with http.post(f"{url}/subscribe", json={"participant": self.name}) as response:
            response.raise_for_status()
            offer = (await response.json())["sdp"]
        answer = await self._answer(offer)
        async with http.post(f"{url}/answer", json={
                "participant": self.name, "sdp": answer}) as response:
            response.raise_for_status()

    async def keepalive(self) -> None:
        pass


class JanusSubscriber(Subscriber):
    """Joins Janus's streaming mountpoint through its HTTP API (loadtest/janus_client.py).
    The join time starts at `watch`, the request that corresponds to /subscribe; the session
    and handle made before it stand for the signalling connection a viewer already has."""

    def __init__(self, name: str, mountpoint: int):
        super().__init__(name)
        self.mountpoint = mountpoint
        self.janus: JanusSession | None = None

    async def join(self, http: ClientSession, url: str) -> None:
        self.janus = JanusSession(http, url)
        await self.janus.open()
        self.joined_at = time.monotonic()
        await self.janus.message({"request": "watch", "id": self.mountpoint})
        offer = await self.janus.wait_for_jsep()
        answer = await self._answer(offer["sdp"])
        await self.janus.message({"request": "start"}, {"type": "answer", "sdp": answer})

    async def keepalive(self) -> None:
        if self.janus is not None and self.janus.handle_id is not None:
            await self.janus.keepalive()


async def _keepalives(subscribers: list[Subscriber], errors: list[str]) -> None:
    while True:
        await asyncio.sleep(KEEPALIVE_S)
        outcomes = await asyncio.gather(*(s.keepalive() for s in subscribers),
                                        return_exceptions=True)
        errors.extend(f"{s.name} keepalive: {o!r}" for s, o in
                      zip(subscribers, outcomes, strict=True) if isinstance(o, BaseException))


async def _work(url: str, names: list[str], conn: Connection, janus_mountpoint: int | None) -> None:
    subscribers = [Subscriber(name) if janus_mountpoint is None
                   else JanusSubscriber(name, janus_mountpoint) for name in names]
    async with ClientSession() as http:  # open while Janus sessions need keepalives
        errors: list[str] = []
        for at in range(0, len(subscribers), JOIN_BATCH):
            batch = subscribers[at : at + JOIN_BATCH]
            outcomes = await asyncio.gather(*(s.join(http, url) for s in batch),
                                            return_exceptions=True)
            errors.extend(f"{s.name}: {o!r}" for s, o in zip(batch, outcomes, strict=True)
                          if isinstance(o, BaseException))
        conn.send(("joined", errors))
        late_errors: list[str] = []  # reported with the result, not again as join errors
        keepalive = asyncio.create_task(_keepalives(subscribers, late_errors))
        try:
            await _serve(subscribers, conn, late_errors)
        finally:
            keepalive.cancel()
    await asyncio.gather(*(s.pc.close() for s in subscribers), return_exceptions=True)


async def _serve(subscribers: list[Subscriber], conn: Connection, errors: list[str]) -> None:
    """Answer the coordinator's messages until it asks for the report (or says stop)."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: inbox.put_nowait(conn.recv()))
    cpu_mark = 0.0
    while True:
        message = await inbox.get()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        if message[0] == "mark":
            cpu_mark = usage.ru_utime + usage.ru_stime
        elif message[0] == "report":
            _, t0, t1, sent = message
            cpu = usage.ru_utime + usage.ru_stime - cpu_mark
            figures = [s.capture.figures(s.name, s.joined_at, t0, t1, sent)
                       for s in subscribers if s.capture is not None]
            loop.remove_reader(conn.fileno())
            conn.send(("result", WorkerResult(figures, cpu, errors)))
            return
        elif message[0] == "stop":
            loop.remove_reader(conn.fileno())
            return


def run_worker(url: str, names: list[str], conn: Connection,
               janus_mountpoint: int | None = None) -> None:
    """Process entry point. `url` is a control server's, or with `janus_mountpoint` the base
    of Janus's HTTP API."""
    use_loopback_only()
    # 4 MiB, as Kelian's relay asks: a Python receiver drains in bursts, a C server forwards a
    # 320-packet keyframe faster than that, and the overflow would count as the server's loss.
    widen_receive_buffers()
    try:
        asyncio.run(_work(url, names, conn, janus_mountpoint))
    except Exception as exc:
        conn.send(("result", WorkerResult([], 0.0, [repr(exc)])))
