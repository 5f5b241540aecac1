"""A Producer: the relay's receiving end of one Publication. It fans packets out to Consumers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from ..interface import PublicationInfo, SourceLabel, TrackStats
from ..rtp.header import RtpError, RtpHeader, iter_extensions, map_extensions
from ..rtp.keyframes import keyframe_test, needs_keyframe
from ..rtp.numbers import SEQ_MOD, TS_MOD, Unwrapper
from .speaker import AUDIO_LEVEL_URI

if TYPE_CHECKING:
    from .consumer import Consumer

KEYFRAME_REQUEST_INTERVAL_S = 0.3  # at most this often a PLI goes upstream
NACK_MAX_MISSING = 256  # upstream losses remembered for NACKs


class Upstream(Protocol):
    """Where a Producer's packets come from: the publisher's Transport, or a transcoder."""

    async def send_pli(self, media_ssrc: int) -> None: ...

    async def send_nack(self, media_ssrc: int, lost: list[int]) -> None: ...

    async def send_remb(self, bitrate: int, ssrcs: list[int]) -> None: ...


_MAPPING_KEYS: dict[tuple[tuple[int, int], ...], int] = {}


def mapping_key(extension_ids: dict[int, int]) -> int:
    """A small number naming an extension id mapping: the same for every Consumer with the
    same mapping (a tuple key would be hashed again at every packet)."""
    return _MAPPING_KEYS.setdefault(tuple(sorted(extension_ids.items())), len(_MAPPING_KEYS))


class Incoming:
    """One packet from the publisher as every Consumer sees it. The extension-mapped copy is
    made once per distinct mapping (in practice once), not once per Consumer."""

    __slots__ = ("data", "header", "seq", "timestamp", "keyframe", "arrived", "_mapped")

    def __init__(self, data: bytes | bytearray, header: RtpHeader, seq: int, timestamp: int,
                 keyframe: bool, arrived: float = 0.0):
        self.data = data
        self.header = header
        self.seq = seq  # extended
        self.timestamp = timestamp  # extended
        self.keyframe = keyframe
        self.arrived = arrived  # time.monotonic(), read once for every Consumer
        self._mapped: dict[int, bytearray] = {}

    def mapped(self, key: int, extension_ids: dict[int, int]) -> bytearray:
        """The packet with `extension_ids` applied; `key` is their `mapping_key`."""
        found = self._mapped.get(key)
        if found is None:
            found = self._mapped[key] = map_extensions(self.data, self.header, extension_ids)
        return found


class Sink(Protocol):
    """Anything a Producer forwards to: a Consumer, or a transcoder's input."""

    waiting_for_keyframe: bool

    def forward(self, packet: Incoming) -> None: ...


@dataclass
class RtpCodec:
    mime_type: str
    payload_type: int
    clock_rate: int
    rtx_payload_type: int | None


class Producer:
    def __init__(self, info: PublicationInfo, codec: RtpCodec, ssrc: int | None,
                 rtx_ssrc: int | None, extension_uris: dict[int, str],
                 receiver: Upstream, clock: Callable[[], float] = time.monotonic,
                 on_audio_level: Callable[[str, int], None] | None = None):
        self.info = info
        self.codec = codec
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.extension_uris = extension_uris  # the publisher's extension id -> uri
        self.receiver = receiver
        self.consumers: set[Consumer] = set()
        self.taps: set[Sink] = set()  # shared transcoders fed from this Producer
        self.needs_keyframe = needs_keyframe(codec.mime_type)
        self.muted = info.muted
        self.closed = False
        self._is_keyframe = keyframe_test(codec.mime_type)
        self._seq = Unwrapper(SEQ_MOD)
        self._ts = Unwrapper(TS_MOD)
        self._missing: set[int] = set()
        self._highest: int | None = None
        self._clock = clock
        self._last_keyframe_request = -1e9
        self._tasks: set[asyncio.Task[None]] = set()
        self.packets = 0
        self.bytes = 0
        self.keyframes_requested = 0
        self.nacks_sent = 0
        self.asked_bps: int | None = None  # the last bitrate asked of the publisher (REMB)
        self._on_audio_level: Callable[[str, int], None] | None = None
        self._level_id: int | None = None
        self._listen_levels(on_audio_level)

    @property
    def publication_id(self) -> str:
        return self.info.publication_id

    def on_rtp(self, data: bytes | bytearray, header: RtpHeader) -> None:
        """One decrypted packet from the publisher: count it, note losses, fan it out."""
        seq = self._seq.extend(header.sequence_number)
        self._note_sequence(seq)
        timestamp = self._ts.extend(header.timestamp)
        self.packets += 1
        self.bytes += len(data)
        if self._level_id is not None and header.has_extensions and not self.muted:
            self._read_level(data, header)
        if self.muted or not (self.consumers or self.taps):
            return
        keyframe = False
        sinks: list[Sink] = [*self.consumers, *self.taps]
        if self.needs_keyframe and any(s.waiting_for_keyframe for s in sinks):
            keyframe = self._is_keyframe(memoryview(data)[header.payload_at:])
        packet = Incoming(data, header, seq, timestamp, keyframe, time.monotonic())
        for sink in sinks:
            sink.forward(packet)

    def _read_level(self, data: bytes | bytearray, header: RtpHeader) -> None:
        try:
            for ext_id, at, _ in iter_extensions(data, header):
                if ext_id == self._level_id and self._on_audio_level is not None:
                    self._on_audio_level(self.info.participant_id, data[at] & 0x7F)
                    return
        except RtpError:
            return

    def _note_sequence(self, seq: int) -> None:
        """Remember gaps in the publisher's numbering and NACK them upstream."""
        if self._highest is None or seq <= self._highest:
            self._missing.discard(seq)  # recovered, late or retransmitted
            if self._highest is None:
                self._highest = seq
            return
        if seq > self._highest + 1:
            self._missing.update(range(max(self._highest + 1, seq - NACK_MAX_MISSING), seq))
            while len(self._missing) > NACK_MAX_MISSING:
                self._missing.discard(min(self._missing))
            self._spawn(self._send_nack())
        self._highest = seq

    async def _send_nack(self) -> None:
        if self.ssrc is None or not self._missing:
            return
        self.nacks_sent += 1
        await self.receiver.send_nack(self.ssrc, [s & 0xFFFF for s in sorted(self._missing)])

    def ask_bitrate(self, target_bps: int) -> bool:
        """Whether to send the publisher a new target: only when it moved by 10 % or more."""
        last = self.asked_bps
        if last is not None and abs(target_bps - last) < last * 0.1:
            return False
        self.asked_bps = target_bps
        return True

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per interval."""
        if not self.needs_keyframe or self.ssrc is None or self.closed:
            return
        now = self._clock()
        if now - self._last_keyframe_request < KEYFRAME_REQUEST_INTERVAL_S:
            return
        self._last_keyframe_request = now
        self.keyframes_requested += 1
        self._spawn(self.receiver.send_pli(self.ssrc))

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stats(self) -> TrackStats:
        return TrackStats(packets=self.packets, bytes=self.bytes,
                          packets_lost=len(self._missing),
                          keyframes_requested=self.keyframes_requested, nacks=self.nacks_sent)

    def release(self) -> list[Consumer]:
        """Let go of every Consumer (returned) and keep receiving: the Producer moves to
        another Room with its Transport."""
        consumers = list(self.consumers)
        self.consumers.clear()
        return consumers

    def moved(self, participant_id: str, source: SourceLabel,
              on_audio_level: Callable[[str, int], None] | None) -> None:
        """Now in another Room, under the participant id it has there."""
        self.info = replace(self.info, participant_id=participant_id, source=source, muted=False)
        self.muted = False
        self._listen_levels(on_audio_level)

    def _listen_levels(self, on_audio_level: Callable[[str, int], None] | None) -> None:
        # The audio-level extension's id, when the publisher sends levels and someone listens.
        self._on_audio_level = on_audio_level
        self._level_id = next((i for i, uri in self.extension_uris.items()
                               if uri == AUDIO_LEVEL_URI), None) \
            if on_audio_level is not None else None

    def close(self) -> list[Consumer]:
        """Close the Producer; returns its Consumers, which close with it."""
        self.closed = True
        for task in self._tasks:
            task.cancel()
        return self.release()
