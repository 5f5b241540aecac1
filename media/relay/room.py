"""The relay's Room (one lesson's Router) and the node's MediaService.

Close cascade: closing the Room closes every participant's Transports; closing a publisher
Transport closes its Producers; closing a Producer closes its Consumers (their m-lines go
inactive on the subscribers' next negotiation).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from ..interface import (
    ActiveSpeaker,
    CloseReason,
    EventSink,
    MediaError,
    PublicationAdded,
    PublicationInfo,
    PublicationRemoved,
    RecordingTrack,
    Room,
    RoomStats,
    SourceLabel,
    TrackKind,
    TransportClosed,
    VideoPaused,
    VideoResumed,
)
from ..recording import Recording
from .bandwidth import LinkDecision, publisher_target
from .glue import check_version
from .producer import Producer
from .speaker import SpeakerDetector
from .transcode import CLOCK_RATES, CodecCounters, Transcoder
from .transports import (
    PlayerTransport,
    PublisherTransport,
    PullTransport,
    SubscriberTransport,
)

log = logging.getLogger("kelian.relay.room")

SPEAKER_POLL_S = 0.25
RECORDING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # it names the segment files


class RelayRoom:
    def __init__(self, room_id: str, on_event: EventSink,
                 on_closed: Callable[[RelayRoom], None] | None = None):
        self.room_id = room_id
        self._emit = on_event
        self._on_closed = on_closed  # the service forgets a Room however it was closed
        self._publishers: dict[str, PublisherTransport] = {}
        self._subscribers: dict[str, SubscriberTransport] = {}
        self._producers: dict[str, Producer] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._speakers = SpeakerDetector()
        self._receive_codecs: dict[str, list[str]] = {}  # participant -> mime types, lower case
        self._transcoders: dict[tuple[str, str], Transcoder] = {}  # (publication, mime)
        self.codec_counters = CodecCounters()
        self._speaker_task: asyncio.Task[None] | None = None
        self._recordings: dict[str, Recording] = {}
        self.closed = False

    # Publishing --------------------------------------------------------------------------------

    async def publish(self, participant_id: str, offer_sdp: str,
                      sources: dict[str, SourceLabel]) -> str:
        self._check_open()
        transport = self._publishers.get(participant_id)
        if transport is not None and transport.pc.connectionState == "closed":
            await self.unpublish(participant_id, CloseReason.transport_failed)
            transport = None  # closed under us: start afresh
        if transport is None:
            transport = PublisherTransport(self, participant_id)
            self._publishers[participant_id] = transport
            self._watch(transport.pc, participant_id, sending=True)
        try:
            return await transport.negotiate(offer_sdp, sources)
        except MediaError:
            if not transport.producers:
                self._publishers.pop(participant_id, None)
                await transport.close()
            raise

    async def pull(self, participant_id: str, sources: Sequence[SourceLabel]) -> str:
        self._check_open()
        if participant_id in self._publishers:
            raise MediaError("already_publishing", f"{participant_id} publishes already")
        transport = PullTransport(self, participant_id)
        self._publishers[participant_id] = transport
        self._watch(transport.pc, participant_id, sending=True)
        try:
            return await transport.offer(sources)
        except BaseException:
            self._publishers.pop(participant_id, None)
            await transport.close()
            raise

    async def pull_answer(self, participant_id: str, answer_sdp: str) -> None:
        transport = self._publishers.get(participant_id)
        if not isinstance(transport, PullTransport):
            raise MediaError("unexpected_answer", f"{participant_id} offered nothing to pull")
        await transport.accept(answer_sdp)

    def producer_added(self, producer: Producer) -> None:
        self._producers[producer.publication_id] = producer
        log.info("room %s: %s publishes %s (%s)", self.room_id, producer.info.participant_id,
                 producer.publication_id, producer.codec.mime_type)
        self._emit(PublicationAdded(producer.info))

    def audio_level(self, participant_id: str, level_dbov: int) -> None:
        self._speakers.add(participant_id, level_dbov)
        if self._speaker_task is None and not self.closed:
            self._speaker_task = asyncio.ensure_future(self._announce_speakers())

    async def _announce_speakers(self) -> None:
        while not self.closed:
            await asyncio.sleep(SPEAKER_POLL_S)
            changed, speaker, level = self._speakers.poll()
            if changed:
                self._emit(ActiveSpeaker(speaker, level))

    def set_receive_codecs(self, participant_id: str, mime_types: Sequence[str]) -> None:
        """What the participant can decode (e.g. a hardware decoder taking H.264 only). Without
        this, a participant is taken to decode whatever the relay forwards."""
        self._receive_codecs[participant_id] = [m.lower() for m in mime_types]

    def _source_for(self, participant_id: str, producer: Producer) -> Producer:
        """The Producer itself when the participant decodes its codec, else a shared transcode."""
        accepted = self._receive_codecs.get(participant_id)
        mime = producer.codec.mime_type.lower()
        if accepted is None or mime in accepted:
            return producer
        kind = producer.info.kind.value + "/"
        target = next((m for m in accepted if m.startswith(kind) and m in CLOCK_RATES), None)
        if target is None:
            raise MediaError("unsupported_codec",
                             f"{participant_id} decodes none of the codecs the relay can send")
        return self._source_in(producer, target)

    def _source_in(self, producer: Producer, mime_type: str) -> Producer:
        """`producer` itself when it is in `mime_type`, else its shared transcode to it."""
        target = mime_type.lower()
        if producer.codec.mime_type.lower() == target:
            return producer
        if target not in CLOCK_RATES:
            raise MediaError("unsupported_codec", f"the relay cannot transcode to {mime_type}")
        key = (producer.publication_id, target)
        transcoder = self._transcoders.get(key)
        if transcoder is None:
            canonical = {"video/vp8": "video/VP8", "video/h264": "video/H264",
                         "audio/opus": "audio/opus"}[target]
            transcoder = Transcoder(producer, canonical, self.codec_counters)
            self._transcoders[key] = transcoder
            log.info("room %s: shared transcode of %s to %s", self.room_id,
                     producer.publication_id, canonical)
        return transcoder.output

    def _drop_idle_transcoders(self, publication_id: str | None = None) -> None:
        for key, transcoder in list(self._transcoders.items()):
            if key[0] == publication_id or not transcoder.output.consumers:
                del self._transcoders[key]
                for consumer in transcoder.output.close():
                    subscriber = self._subscribers.get(consumer.subscriber_id)
                    if subscriber is not None:
                        subscriber.remove(key[0])
                self.spawn(transcoder.close())

    def producer_closed(self, producer: Producer, reason: CloseReason = CloseReason.producer_closed
                        ) -> None:
        if self._let_go(producer, reason):
            producer.close()

    def _let_go(self, producer: Producer, reason: CloseReason) -> bool:
        """Take the Producer out of this Room (its Consumers, transcodes and recorded tracks end
        here); False if it was not here."""
        if self._producers.pop(producer.publication_id, None) is None:
            return False
        self._drop_idle_transcoders(producer.publication_id)
        for recording in self._recordings.values():
            recording.producer_closed(producer)
        for consumer in producer.release():
            subscriber = self._subscribers.get(consumer.subscriber_id)
            if subscriber is not None:
                subscriber.remove(producer.publication_id)
        self._emit(PublicationRemoved(producer.publication_id, producer.info.participant_id,
                                      reason))
        return True

    def hand_over(self, participant_id: str, to: Room, to_participant_id: str,
                  sources: dict[str, SourceLabel]) -> None:
        self._check_open()
        if not isinstance(to, RelayRoom) or to is self:
            raise MediaError("bad_room", "a Transport moves only to another Room of this node")
        to._check_open()
        transport = self._publishers.get(participant_id)
        if transport is None:
            raise MediaError("unknown_participant", f"{participant_id} publishes nothing here")
        if to_participant_id in to._publishers:
            raise MediaError("already_publishing", f"{to_participant_id} publishes there")
        del self._publishers[participant_id]
        for producer in list(transport.producers.values()):
            self._let_go(producer, CloseReason.moved)
        self._speakers.forget(participant_id)
        transport.moved(to, to_participant_id, sources)
        to._publishers[to_participant_id] = transport
        to._watch(transport.pc, to_participant_id, sending=True)  # this Room's watch goes idle
        for producer in transport.producers.values():
            to.producer_added(producer)
        log.info("room %s: %s moved to room %s as %s", self.room_id, participant_id, to.room_id,
                 to_participant_id)

    # Subscribing -------------------------------------------------------------------------------

    async def subscribe(self, participant_id: str, publication_ids: Sequence[str]) -> str | None:
        self._check_open()
        self._check_known(publication_ids)
        transport = self._subscribers.get(participant_id)
        if isinstance(transport, PlayerTransport):  # its m-lines are fixed: feed them, no offer
            transport.place([self._producers[p] for p in publication_ids], self._source_in)
            self._drop_idle_transcoders()
            return None
        if transport is not None and transport.pc.connectionState == "closed":
            del self._subscribers[participant_id]  # closed under us: start afresh
            await transport.close()
            transport = None
        if transport is None:
            transport = SubscriberTransport(self, participant_id, self.link_estimate)
            self._subscribers[participant_id] = transport
            self._watch(transport.pc, participant_id, sending=False)
        wanted = set(publication_ids)
        current = set(transport.consumers)
        if wanted == current and transport.pc.signalingState != "closed" and current \
                and not transport.stale:
            return None
        sources = {p: self._source_for(participant_id, self._producers[p])
                   for p in publication_ids if p not in current}
        for publication_id in current - wanted:
            transport.remove(publication_id)
        for publication_id, source in sources.items():
            transport.add(source, publication_id)
        self._drop_idle_transcoders()
        return await transport.offer()

    async def subscribe_answer(self, participant_id: str, offer_sdp: str,
                               publication_ids: Sequence[str]) -> str:
        self._check_open()
        self._check_known(publication_ids)
        if participant_id in self._subscribers:
            raise MediaError("already_receiving", f"{participant_id} has a receive transport")
        transport = PlayerTransport(self, participant_id, self.link_estimate)
        producers = [self._producers[p] for p in publication_ids]
        try:
            answer = await transport.answer(offer_sdp, producers)
        except BaseException:
            await transport.close()
            raise
        if self.closed or participant_id in self._subscribers:  # closed or raced meanwhile
            await transport.close()
            self._check_open()
            raise MediaError("already_receiving", f"{participant_id} has a receive transport")
        self._subscribers[participant_id] = transport
        self._watch(transport.pc, participant_id, sending=False)
        # Publications may have ended while the answer was made.
        transport.place([self._producers[p] for p in publication_ids if p in self._producers],
                        self._source_in)
        return answer

    def _check_known(self, publication_ids: Sequence[str]) -> None:
        unknown = [p for p in publication_ids if p not in self._producers]
        if unknown:
            raise MediaError("unknown_publication", f"no publication {unknown[0]} in this room")

    def link_estimate(self, transport: SubscriberTransport) -> None:
        """A subscriber reported its estimate: pause or resume its video, steer publishers."""
        if transport.estimate_bps is None:
            return
        decision = transport.link.update(transport.estimate_bps, time.monotonic())
        video = [c for c in transport.consumers.values() if c.producer.info.kind is TrackKind.video]
        if decision is LinkDecision.pause:
            for consumer in video:
                consumer.pause()
            self._emit(VideoPaused(transport.participant_id, transport.estimate_bps))
        elif decision is LinkDecision.resume:
            for consumer in video:
                consumer.resume()
            self._emit(VideoResumed(transport.participant_id, transport.estimate_bps))
        for consumer in video:
            self._steer(consumer.producer)

    def _steer(self, producer: Producer) -> None:
        estimates = [c.estimate_bps for c in producer.consumers
                     if not c.paused and c.estimate_bps is not None]
        target = publisher_target(estimates)
        if target is not None and producer.ask_bitrate(target):
            self.spawn(producer.receiver.send_remb(target, [producer.ssrc or 0]))

    async def accept_answer(self, participant_id: str, answer_sdp: str) -> None:
        transport = self._subscribers.get(participant_id)
        if transport is None:
            raise MediaError("unexpected_answer", "nothing was offered to this participant")
        await transport.accept(answer_sdp)

    def set_muted(self, publication_id: str, muted: bool) -> None:
        producer = self._producers.get(publication_id)
        if producer is None:
            raise MediaError("unknown_publication", f"no publication {publication_id}")
        if producer.muted and not muted:
            for consumer in producer.consumers:
                consumer.restart()
        producer.muted = muted

    # Recording ---------------------------------------------------------------------------------

    def start_recording(self, recording_id: str, directory: Path, camera: str | None = None,
                        screen: str | None = None, audio: str | None = None) -> None:
        self._check_open()
        if not RECORDING_ID.fullmatch(recording_id):
            raise MediaError("bad_recording_id", f"{recording_id!r} cannot name a file")
        if recording_id in self._recordings:
            raise MediaError("recording_exists", f"recording {recording_id} is running")
        wanted = {RecordingTrack.camera: camera, RecordingTrack.screen: screen,
                  RecordingTrack.audio: audio}
        sources = {track: self._recordable(track, publication_id)
                   for track, publication_id in wanted.items() if publication_id is not None}
        recording = Recording(recording_id, Path(directory), self._emit)
        self._recordings[recording_id] = recording
        for track, producer in sources.items():
            recording.switch(track, producer)
        log.info("room %s: recording %s started", self.room_id, recording_id)

    def switch_recording_source(self, recording_id: str, track: RecordingTrack,
                                publication_id: str | None) -> None:
        recording = self._recording(recording_id)
        track = RecordingTrack(track)
        producer = self._recordable(track, publication_id) if publication_id is not None else None
        recording.switch(track, producer)

    async def stop_recording(self, recording_id: str) -> list[Path]:
        recording = self._recording(recording_id)
        del self._recordings[recording_id]
        segments = await recording.stop()
        log.info("room %s: recording %s stopped, %d segment(s)", self.room_id, recording_id,
                 len(segments))
        return segments

    def _recording(self, recording_id: str) -> Recording:
        recording = self._recordings.get(recording_id)
        if recording is None:
            raise MediaError("unknown_recording", f"no recording {recording_id} in this room")
        return recording

    def _recordable(self, track: RecordingTrack, publication_id: str) -> Producer:
        producer = self._producers.get(publication_id)
        if producer is None:
            raise MediaError("unknown_publication", f"no publication {publication_id}")
        kind = TrackKind.audio if track is RecordingTrack.audio else TrackKind.video
        if producer.info.kind is not kind:
            raise MediaError("wrong_kind", f"the {track} track records {kind}, "
                                           f"{publication_id} is {producer.info.kind}")
        return producer

    # Leaving and closing -----------------------------------------------------------------------

    async def unpublish(self, participant_id: str, reason: CloseReason) -> None:
        publisher = self._publishers.pop(participant_id, None)
        if publisher is not None:
            for producer in list(publisher.producers.values()):
                self.producer_closed(producer, reason)
            await publisher.close()

    async def remove_participant(self, participant_id: str, reason: CloseReason) -> None:
        await self.unpublish(participant_id, reason)
        await self._drop_subscriber(participant_id)
        self._speakers.forget(participant_id)
        self._receive_codecs.pop(participant_id, None)

    async def _drop_subscriber(self, participant_id: str) -> None:
        subscriber = self._subscribers.pop(participant_id, None)
        if subscriber is not None:
            await subscriber.close()
            self._drop_idle_transcoders()

    async def close(self, reason: CloseReason) -> None:
        if self.closed:
            return
        self.closed = True
        for recording_id in list(self._recordings):
            await self.stop_recording(recording_id)
        for participant_id in list(self._publishers) + list(self._subscribers):
            await self.remove_participant(participant_id, reason)
        tasks = list(self._tasks) + ([self._speaker_task] if self._speaker_task else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._on_closed is not None:
            self._on_closed(self)

    def _watch(self, pc: Any, participant_id: str, sending: bool) -> None:
        """A failed Transport is dropped alone: a participant whose send side fails keeps
        receiving, and the other way round. One the participant closed (DTLS close_notify; a
        WHIP encoder or WHEP player that stopped) counts as failed: aiortc then closes it
        without a failure. The relay's own closes come after the Transport was forgotten."""
        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState not in ("failed", "closed") or self.closed:
                return
            transports = self._publishers if sending else self._subscribers
            if getattr(transports.get(participant_id), "pc", None) is not pc:
                return  # already replaced or removed
            log.info("room %s: %s transport of %s failed or was closed", self.room_id,
                     "send" if sending else "receive", participant_id)
            if sending:
                await self.unpublish(participant_id, CloseReason.transport_failed)
            else:
                await self._drop_subscriber(participant_id)
            self._emit(TransportClosed(participant_id, CloseReason.transport_failed, sending))

    def _check_open(self) -> None:
        if self.closed:
            raise MediaError("room_closed", f"room {self.room_id} is closed")

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Reading -----------------------------------------------------------------------------------

    def publications(self) -> list[PublicationInfo]:
        return [p.info for p in self._producers.values()]

    def stats(self) -> RoomStats:
        subscriptions = {
            (transport.participant_id, publication_id): consumer.stats()
            for transport in self._subscribers.values()
            for publication_id, consumer in transport.consumers.items()
        }
        return RoomStats(
            publications={pid: p.stats() for pid, p in self._producers.items()},
            subscriptions=subscriptions,
            decoders_started=self.codec_counters.decoders,
            encoders_started=self.codec_counters.encoders,
        )


class RelayService:
    """The media plane of one node: its Rooms."""

    def __init__(self) -> None:
        check_version()
        self._rooms: dict[str, RelayRoom] = {}

    async def open_room(self, room_id: str, on_event: EventSink) -> RelayRoom:
        room = self._rooms.get(room_id)
        if room is None or room.closed:
            room = RelayRoom(room_id, on_event, self._forget)
            self._rooms[room_id] = room
        return room

    def _forget(self, room: RelayRoom) -> None:
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]

    def rooms(self) -> list[RelayRoom]:
        return list(self._rooms.values())

    def room(self, room_id: str) -> RelayRoom | None:
        room = self._rooms.get(room_id)
        return room if room is not None and not room.closed else None

    async def close_room(self, room_id: str, reason: CloseReason) -> None:
        room = self._rooms.pop(room_id, None)
        if room is not None:
            await room.close(reason)

    async def close(self) -> None:
        for room_id in list(self._rooms):
            await self.close_room(room_id, CloseReason.room_closed)
