"""RTMP encoders pushing into live lessons: `rtmp://host:PORT/live/{stream key}`.

A classroom's recording-system encoder (or OBS, or ffmpeg) connects whenever it is switched on,
usually long before the lesson. Its stream key must be that of an enabled Source of kind `rtmp`;
a wrong or disabled key, or one that is already publishing, is refused with a message the
encoder's log shows. While it pushes and its classroom's lesson is live here, its video (H.264,
forwarded as it is) and audio (AAC or MP3, encoded once to Opus) are published into the Room as
participant `source:<id>`, through the same rules and labels as WHIP (publish.py). When the
lesson ends the encoder stays connected and goes into the next lesson by itself.

An encoder that drops keeps its Publication for `RtmpPolicy.grace_s`: receivers are told it is
reconnecting and, if it comes back in time, their video resumes without renegotiating.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from media.ingest.feed import Timeline
from media.ingest.flv import AUDIO_RATE, VIDEO_RATE, AudioConverter, VideoConverter
from media.ingest.publisher import LocalPublisher
from media.ingest.rtmp import AudioTag, RtmpError, RtmpSession, VideoTag

from ..keys import LIVE, SESSIONS, SETTINGS
from ..live.lessons import LiveLessons
from ..live.participant import Participant
from ..live.room import LiveRoom
from ..models import Classroom, Source, SourceKind
from ..signalling import schema as wire
from ..signalling.codes import CloseCode, LeaveReason, NoticeCode
from ..waits import wait_for_event
from .common import IngestError
from .publish import SourceInfo, SourceSeat, concerned, live_lesson

log = logging.getLogger("kelian.ingest.rtmp")

APP = "live"


@dataclass(frozen=True)
class RtmpPolicy:
    grace_s: float = 10.0  # an encoder that dropped keeps its Publication this long
    retry_s: float = 5.0  # no lesson live (or refused): look again this often


REFUSED_RETRY_S = 60.0  # the lesson-kind rules refused it: look again this seldom
RTMP_POLICY = web.AppKey("rtmp_policy", RtmpPolicy)  # tests set a quicker one before start-up


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


class _Outbox:
    """The encoder's participant receives nothing; two messages concern it."""

    def __init__(self, feed: EncoderFeed):
        self.feed = feed

    def send(self, message: wire.Ok | wire.Error | wire.Event) -> None:
        if isinstance(message, wire.Notice) and message.code is NoticeCode.transport_failed:
            self.feed.republish.set()  # the relay dropped our connection: publish again

    def close(self, code: CloseCode, reason: LeaveReason) -> None:
        if reason is not LeaveReason.left:  # the lesson ended, or shutdown: not our leaving
            self.feed.participant = None
            self.feed.republish.set()


class EncoderFeed:
    """One RTMP Source's way into the live lessons: an in-process publisher that outlives the
    encoder's connections, and the task that keeps it published while a lesson is live."""

    def __init__(self, live: LiveLessons, db: async_sessionmaker[AsyncSession],
                 source: SourceInfo, policy: RtmpPolicy):
        self.live, self.db, self.source, self.policy = live, db, source, policy
        self.publisher = LocalPublisher()
        self.video = VideoConverter(Timeline(VIDEO_RATE, VIDEO_RATE // 25))
        self.audio = AudioConverter(Timeline(AUDIO_RATE, AUDIO_RATE // 50))
        self.participant: Participant | None = None
        self.room: LiveRoom | None = None
        self.republish = asyncio.Event()
        self.connected = False
        self._told: set[tuple[str, str]] = set()  # (participant id, what) told once
        self._task = asyncio.create_task(self._publishing(),
                                         name=f"kelian-rtmp-{source.source_id}")

    # The encoder's connection ------------------------------------------------------------------

    def attach(self) -> None:
        """A (new) connection of the encoder: its own clocks and configuration."""
        back = not self.connected and self.participant is not None
        self.connected = True
        self.video.restart()
        self.audio.restart()
        self.publisher.resync()
        if back:
            self._tell(NoticeCode.source_restored, f"Encoder {self.source.name!r} is back")

    def detach(self, reason: str) -> None:
        self.connected = False
        self._tell(NoticeCode.source_reconnecting,
                   f"Encoder {self.source.name!r} dropped ({reason}); waiting for it")

    async def feed(self, session: RtmpSession) -> None:
        """Hand the encoder's media to the publisher until it unpublishes or drops."""
        audio_ok = True
        async for tag in session.media():
            if isinstance(tag, VideoTag):
                try:
                    packet = self.video.convert(tag)
                except RtmpError as err:  # not H.264, or broken: it ends the connection
                    self._unsupported(str(err))
                    raise
                if packet is not None:
                    self.publisher.push("video", packet, packet.is_keyframe)
                    if self.video.reordered:
                        self._unsupported("B-frames")
            elif isinstance(tag, AudioTag) and audio_ok:
                try:
                    for frame in self.audio.convert(tag):
                        self.publisher.push("audio", frame, True)
                except RtmpError as err:  # the picture still goes out
                    audio_ok = False
                    log.warning("source %d: %s", self.source.source_id, err)
                    self._unsupported(str(err))

    # Publishing --------------------------------------------------------------------------------

    async def _publishing(self) -> None:
        try:
            while True:
                try:
                    await self._publish()
                except IngestError as err:  # 409: no lesson live; 403: the rules refuse it
                    log.debug("source %d: not published: %s", self.source.source_id, err)
                    await self._leave()
                    # A refusal by the rules stands until another lesson opens or closes.
                    await self._lesson_changed(self.policy.retry_s if err.status == 409
                                               else REFUSED_RETRY_S)
                    continue
                await self.republish.wait()
                await self._leave()
        finally:
            await self._leave()
            await self.publisher.close()

    async def _publish(self) -> None:
        self.republish.clear()
        # Cheap checks first: an encoder pushing all day must not make a connection to the relay
        # every few seconds while its classroom has no lesson here.
        open_here = [room.lesson.lesson_id for room in self.live.held()]
        if not open_here:
            raise IngestError(409, "no lesson is live on this node")
        async with self.db() as db:
            await live_lesson(db, self.source.classroom_id, among=open_here)
        offer = await self.publisher.offer(video=True, forwarded=True, audio=True)
        seat = await SourceSeat.prepare(self.live, self.db, self.source, offer)
        participant = seat.participant(_Outbox(self))
        answer = await seat.publish(participant)
        self.participant, self.room = participant, seat.room
        await self.publisher.accept(answer)
        log.info("lesson %d: RTMP encoder %d (%s) publishes as %s", seat.lesson.lesson_id,
                 self.source.source_id, self.source.name, participant.participant_id,
                 extra={"lesson_id": seat.lesson.lesson_id, "source_id": self.source.source_id,
                        "participant": participant.participant_id})

    async def _lesson_changed(self, timeout: float) -> None:
        changed = asyncio.Event()
        self.live.watch(changed.set)
        try:
            await wait_for_event(changed, timeout)
        finally:
            self.live.unwatch(changed.set)

    async def _leave(self) -> None:
        participant, self.participant = self.participant, None
        room = self.room
        if participant is not None and room is not None and not room.closed:
            await room.leave(participant.participant_id, LeaveReason.left)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    # Telling people ----------------------------------------------------------------------------

    def _unsupported(self, what: str) -> None:
        self._tell(NoticeCode.source_unsupported,
                   f"Encoder {self.source.name!r}: {what}; set it to H.264 without B-frames "
                   f"(baseline profile) and AAC audio", once=what, hosts_only=True)

    def _tell(self, code: NoticeCode, message: str, once: str | None = None,
              hosts_only: bool = False) -> None:
        """The host and (unless `hosts_only`) whoever receives this encoder."""
        room, participant = self.room, self.participant
        if room is None or room.closed or participant is None:
            return
        for viewer in concerned(room, participant, hosts_only):
            if once is not None:
                if (viewer.participant_id, once) in self._told:
                    continue
                self._told.add((viewer.participant_id, once))
            viewer.outbox.send(wire.Notice(code=code, message=message,
                                           classroom=self.source.classroom))


class RtmpListener:
    """The node's RTMP port: checks each encoder's key, then feeds its Source's `EncoderFeed`."""

    def __init__(self, live: LiveLessons, db: async_sessionmaker[AsyncSession],
                 policy: RtmpPolicy):
        self.live, self.db, self.policy = live, db, policy
        self.feeds: dict[int, EncoderFeed] = {}  # by source id
        self._expiry: dict[int, asyncio.TimerHandle] = {}
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        # With several nodes: told when a classroom gets its first encoder here (True) and
        # loses its last (False), so its lessons are placed on this node (nodes.py).
        self.noted: Callable[[int, bool], None] | None = None

    def _note(self, classroom_id: int) -> None:
        if self.noted is not None:
            self.noted(classroom_id, any(f.source.classroom_id == classroom_id
                                         for f in self.feeds.values()))

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._client, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        for handle in self._expiry.values():
            handle.cancel()
        feeds, self.feeds = list(self.feeds.values()), {}
        await asyncio.gather(*(feed.close() for feed in feeds), *self._closing,
                             return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        session = RtmpSession(reader, writer)
        peer = writer.get_extra_info("peername")
        try:
            await session.handshake()
            request = await session.next_publish()
            source = await self._check(session, request.app, request.key)
            if source is None:
                return
            await self._publish(session, source)
        except RtmpError as err:
            log.info("RTMP encoder at %s: %s", peer, err)
        except (ConnectionError, OSError) as err:
            log.info("RTMP encoder at %s: connection lost (%s)", peer, err)
        finally:
            session.close()
            self._clients.discard(task)

    async def _check(self, session: RtmpSession, app: str, key: str) -> SourceInfo | None:
        """The Source this key publishes, or None once the encoder has been told why not."""
        async with self.db() as db:
            source = await db.scalar(
                select(Source).where(Source.stream_key == key)
                .options(selectinload(Source.classroom).selectinload(Classroom.school)))
            info = SourceInfo.of(source) if source is not None else None
            usable = source is not None and source.kind is SourceKind.rtmp \
                and source.stream_key is not None and _same(source.stream_key, key)
            enabled = source is not None and source.enabled
        if app != APP:
            await session.refuse("NetStream.Publish.BadName",
                                 f"publish to rtmp://host:port/{APP}/<stream key>")
            return None
        if not usable or info is None:
            await session.refuse("NetStream.Publish.BadName", "no RTMP source has this stream key")
            log.info("RTMP: refused an unknown stream key")
            return None
        if not enabled:
            await session.refuse("NetStream.Publish.Denied", f"the source {info.name!r} is disabled")
            return None
        feed = self.feeds.get(info.source_id)
        if feed is not None and feed.connected:
            await session.refuse("NetStream.Publish.BadName",
                                 "this stream key is already publishing")
            log.warning("source %d: a second encoder with the same key was refused",
                        info.source_id)
            return None
        return info

    async def _publish(self, session: RtmpSession, source: SourceInfo) -> None:
        handle = self._expiry.pop(source.source_id, None)
        if handle is not None:
            handle.cancel()
        feed = self.feeds.get(source.source_id)
        if feed is None:
            feed = self.feeds[source.source_id] = EncoderFeed(self.live, self.db, source,
                                                              self.policy)
            self._note(source.classroom_id)
        feed.attach()
        await session.accept()
        log.info("source %d: RTMP encoder %s connected", source.source_id, source.name,
                 extra={"source_id": source.source_id})
        reason = "it unpublished"
        try:
            await feed.feed(session)
        except RtmpError as err:
            reason = str(err)
            raise
        finally:
            feed.detach(reason)
            loop = asyncio.get_running_loop()
            self._expiry[source.source_id] = loop.call_later(
                self.policy.grace_s, self._expire, source.source_id)

    def _expire(self, source_id: int) -> None:
        self._expiry.pop(source_id, None)
        feed = self.feeds.get(source_id)
        if feed is not None and not feed.connected:
            del self.feeds[source_id]
            self._note(feed.source.classroom_id)
            task = asyncio.create_task(feed.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


RTMP = web.AppKey("rtmp_listener", RtmpListener)


async def listening(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: after the media plane starts, before it stops. A port already in use
    is logged, and the rest of the service runs on."""
    settings = app[SETTINGS]
    if not settings.rtmp_port:
        yield
        return
    listener = RtmpListener(app[LIVE], app[SESSIONS], app.get(RTMP_POLICY, RtmpPolicy()))
    try:
        port = await listener.start(settings.host, settings.rtmp_port)
    except OSError as err:
        log.error("RTMP: cannot listen on %s:%d (%s); encoders cannot push over RTMP",
                  settings.host, settings.rtmp_port, err.strerror or err)
        yield
        return
    app[RTMP] = listener
    log.info("RTMP: encoders publish to rtmp://%s:%d/%s/<stream key>", settings.host, port, APP)
    try:
        yield
    finally:
        await listener.close()
