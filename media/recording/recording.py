"""A Recording's event-loop side: the taps on recorded Producers, and the writer thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from ..interface import EventSink, MediaEvent, RecordingTrack
from .writer import STOP, Bind, RecordingWriter, Source

if TYPE_CHECKING:
    from ..relay.producer import Incoming, Producer

MAX_BACKLOG = 20_000  # packets queued for the writer (~10 s of 720p video) before taps drop


class RecordingTap:
    """A Sink on a recorded Producer. `forward` runs on the relay's hot path, once per packet:
    it only queues the packet (no parsing, no copy: nobody mutates a packet's bytes once it
    is forwarded) for the writer thread, so a slow disk never stalls the relay."""

    def __init__(self, track: RecordingTrack, producer: Producer, inbox: SimpleQueue[object]):
        self.track = track
        self.producer = producer
        self.mime_type = producer.codec.mime_type
        self.clock_rate = producer.codec.clock_rate
        # While set, the Producer marks key frames and the tap asks the publisher for one.
        self.waiting_for_keyframe = producer.needs_keyframe
        self.attached = False
        self.dropped = 0
        self._inbox = inbox

    def attach(self) -> None:
        self.attached = True
        self.producer.taps.add(self)
        self.producer.request_keyframe()

    def detach(self) -> None:
        self.attached = False
        self.producer.taps.discard(self)

    def forward(self, packet: Incoming) -> None:
        if self.waiting_for_keyframe:
            if packet.keyframe:
                self.waiting_for_keyframe = False
            else:
                self.producer.request_keyframe()  # rate-limited by the Producer
        inbox = self._inbox
        if inbox.qsize() >= MAX_BACKLOG:
            self.dropped += 1  # the writer will see a gap and start again at a key frame
            return
        header = packet.header
        inbox.put((self, packet.seq, packet.timestamp, header.marker, packet.data,
                   header.payload_at, len(packet.data) - header.padding, time.monotonic()))

    def want_keyframe(self) -> None:
        """The writer lost a frame: mark key frames again and ask the publisher for one."""
        if self.attached:
            self.waiting_for_keyframe = self.producer.needs_keyframe
            self.producer.request_keyframe()


class Recording:
    """One Recording of a Room: a tap per recorded track, one writer thread. Driven from the
    event loop (`switch`, `producer_closed`, `stop`); the writer reports back through the
    loop (`event`, `want_keyframe`, `writer_failed`), never touching relay state itself."""

    def __init__(self, recording_id: str, directory: Path, emit: EventSink):
        self.recording_id = recording_id
        self.failed = False
        self._emit = emit
        self._loop = asyncio.get_running_loop()
        self._inbox: SimpleQueue[object] = SimpleQueue()
        self._taps: dict[RecordingTrack, RecordingTap] = {}
        self._stopping = False
        self._done: asyncio.Future[list[Path]] = self._loop.create_future()
        self._writer = RecordingWriter(recording_id, directory, time.monotonic(), self)
        self._thread = threading.Thread(target=self._run, name=f"kelian-recording-{recording_id}",
                                        daemon=True)
        self._thread.start()

    def switch(self, track: RecordingTrack, producer: Producer | None) -> None:
        """Record `track` from `producer` from now on (None: from nothing, for now)."""
        old = self._taps.pop(track, None)
        if old is not None:
            old.detach()
        if self._stopping or self.failed:
            return
        tap = RecordingTap(track, producer, self._inbox) if producer is not None else None
        self._inbox.put(Bind(track, tap))  # ahead of the new tap's first packet
        if tap is not None:
            self._taps[track] = tap
            tap.attach()

    def producer_closed(self, producer: Producer) -> None:
        """The publisher left: its tracks wait, silent, for `switch`."""
        for track, tap in list(self._taps.items()):
            if tap.producer is producer:
                self.switch(track, None)

    async def stop(self) -> list[Path]:
        if not self._stopping:
            self._stopping = True
            self._detach_all()
            self._inbox.put(STOP)
        return await asyncio.shield(self._done)

    def _detach_all(self) -> None:
        for tap in self._taps.values():
            tap.detach()
        self._taps.clear()

    # The writer thread and its Outbox (called from that thread) ---------------------------------

    def _run(self) -> None:
        segments = self._writer.run(self._inbox)
        self._call(self._finished, segments)

    def _finished(self, segments: list[Path]) -> None:
        if not self._done.done():
            self._done.set_result(segments)

    def _on_failed(self) -> None:
        self.failed = True
        self._detach_all()

    def _call(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop is closed: nobody is left to tell

    def event(self, event: MediaEvent) -> None:
        self._call(self._emit, event)

    def want_keyframe(self, source: Source) -> None:
        assert isinstance(source, RecordingTap)
        self._call(source.want_keyframe)

    def writer_failed(self) -> None:
        self._call(self._on_failed)
