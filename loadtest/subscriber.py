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

from .loopback import use_loopback_only
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
    def __init__(self, name: str):
        self.name = name
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.capture: Capture | None = None
        self.joined_at = 0.0

    async def join(self, http: ClientSession, url: str) -> None:
        self.joined_at = time.monotonic()
        async with http.post(f"{url}/subscribe", json={"participant": self.name}) as response:
            response.raise_for_status()
            offer = (await response.json())["sdp"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        self.capture = Capture(_video_payload_types(offer))
        dtls = self.pc.getTransceivers()[0].receiver.transport
        dtls._handle_rtp_data = self.capture.on_rtp  # type: ignore[method-assign]
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        async with http.post(f"{url}/answer", json={
                "participant": self.name, "sdp": self.pc.localDescription.sdp}) as response:
            response.raise_for_status()


async def _work(url: str, names: list[str], conn: Connection) -> None:
    subscribers = [Subscriber(name) for name in names]
    errors: list[str] = []
    async with ClientSession() as http:
        for at in range(0, len(subscribers), JOIN_BATCH):
            batch = subscribers[at : at + JOIN_BATCH]
            outcomes = await asyncio.gather(*(s.join(http, url) for s in batch),
                                            return_exceptions=True)
            errors.extend(f"{s.name}: {o!r}" for s, o in zip(batch, outcomes, strict=True)
                          if isinstance(o, BaseException))
    conn.send(("joined", errors))

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
            break
        elif message[0] == "stop":
            loop.remove_reader(conn.fileno())
            break
    await asyncio.gather(*(s.pc.close() for s in subscribers), return_exceptions=True)


def run_worker(url: str, names: list[str], conn: Connection) -> None:
    """Process entry point."""
    use_loopback_only()
    try:
        asyncio.run(_work(url, names, conn))
    except Exception as exc:
        conn.send(("result", WorkerResult([], 0.0, [repr(exc)])))
