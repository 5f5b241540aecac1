"""Waiting WHIP encoders whose classroom's lesson another node holds (issue 8).

An encoder's connection cannot move between nodes, and the lesson of a classroom whose encoder
waits here may be placed elsewhere (a teaching point's encoder: the hub classroom's decides the
placement). So this node pushes it there: its relay offers the encoder's Publications, as it
offers any subscriber, to the holding node's WHIP endpoint (with the encoder's stream key and
the nodes' secret, so that node serves it itself), and forwards the encoder's packets over that
one link; keyframe requests come back the same way. The push ends when the lesson does (the
other node closes the link), when the encoder stops (this node deletes the remote session), or
when a lesson of its classroom opens here. Waiting encoders are looked at every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiohttp import ClientError, ClientTimeout
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media.interface import CloseReason, MediaError, Room

from ..cluster.routing import Placement
from ..signalling.forward import SECRET_HEADER
from .common import SDP, IngestError
from .publish import live_lesson
from .standby import Standby, WaitingEncoder

log = logging.getLogger("kelian.ingest.pushes")

PUSH_TIMEOUT_S = 15.0
RETRY_S = 30.0  # after a refusal (the lesson-kind rules, say) or a failure


@dataclass
class _Push:
    participant_id: str  # its subscriber in the standby Room
    resource: str  # the session's URL on the other node
    key: str


class Pushes:
    def __init__(self, standby: Standby, placement: Placement,
                 db: async_sessionmaker[AsyncSession], interval_s: float = 3.0):
        self.standby = standby
        self.placement = placement
        self.db = db
        self.interval_s = interval_s
        self._pushes: dict[str, _Push] = {}  # by the encoder's media id
        self._not_before: dict[str, float] = {}  # a push refused or failed: tried again then

    async def run(self) -> None:
        """Look every interval until cancelled."""
        while True:
            try:
                await self.look()
            except Exception:  # the next look may do better (Redis or the database away)
                log.exception("pushing waiting encoders failed")
            await asyncio.sleep(self.interval_s)

    async def look(self) -> None:
        room = self.standby.media_room
        if room is None:
            return
        now = time.monotonic()
        waiting = self.standby.waiting_encoders()
        for media_id in set(self._not_before) - {e.media_id for e in waiting}:
            del self._not_before[media_id]
        for encoder in waiting:
            if encoder.media_id not in self._pushes \
                    and self._not_before.get(encoder.media_id, 0.0) <= now:
                await self._consider(room, encoder)

    async def _consider(self, room: Room, encoder: WaitingEncoder) -> None:
        async with self.db() as db:
            try:
                lesson, _ = await live_lesson(db, encoder.source.classroom_id)
            except IngestError:
                return  # no lesson of its classroom is live
            lesson_id = lesson.id
        try:
            node = await self.placement.registry.where(lesson_id)
        except (RedisError, OSError):
            return
        if node is None or node.node_id == self.placement.node_id:
            return  # not placed yet, or here (the standby puts it in itself)
        publications = [p.publication_id for p in room.publications()
                        if p.participant_id == encoder.media_id]
        if publications:
            await self._push(room, encoder, lesson_id, node.url, publications)

    async def _push(self, room: Room, encoder: WaitingEncoder, lesson_id: int, node_url: str,
                    publications: list[str]) -> None:
        participant_id = f"push-{encoder.session.resource_id}"
        key = encoder.session.owner  # a WHIP Session lives under its stream key
        try:
            offer = await room.subscribe(participant_id, publications)
            assert offer is not None  # a new subscriber always gets an offer
            async with self.placement.http.post(
                    f"{node_url}/whip/{key}", data=offer,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": SDP,
                             SECRET_HEADER: await self.placement.secret()},
                    timeout=ClientTimeout(total=PUSH_TIMEOUT_S)) as response:
                answer = await response.text()
                if response.status != 201:
                    raise IngestError(response.status, answer.strip()[:200])
                resource = node_url + response.headers["Location"]
            await room.accept_answer(participant_id, answer)
        except (IngestError, MediaError, ClientError, OSError, TimeoutError, RedisError,
                KeyError) as exc:
            log.info("lesson %d: source %d not pushed to %s (%r); trying again in %g s",
                     lesson_id, encoder.source.source_id, node_url, exc, RETRY_S)
            await room.remove_participant(participant_id, CloseReason.participant_left)
            self._not_before[encoder.media_id] = time.monotonic() + RETRY_S
            return
        self._pushes[encoder.media_id] = _Push(participant_id, resource, key)
        if encoder not in self.standby.waiting_encoders():  # it stopped, or went in, meanwhile
            await self.stop(encoder.media_id)
            return
        log.info("lesson %d: waiting source %d pushed to the node holding it (%s)", lesson_id,
                 encoder.source.source_id, node_url,
                 extra={"lesson_id": lesson_id, "source_id": encoder.source.source_id})

    def link_closed(self, participant_id: str) -> None:
        """The other node closed a push's link (its lesson ended): the encoder waits again."""
        for media_id, push in list(self._pushes.items()):
            if push.participant_id == participant_id:
                del self._pushes[media_id]

    async def stop(self, media_id: str) -> None:
        """The encoder stops waiting here (it ended, or goes into a lesson of this node)."""
        push = self._pushes.pop(media_id, None)
        room = self.standby.media_room
        if push is None or room is None:
            return
        await room.remove_participant(push.participant_id, CloseReason.participant_left)
        try:
            async with self.placement.http.delete(
                    push.resource, headers={"Authorization": f"Bearer {push.key}",
                                            SECRET_HEADER: await self.placement.secret()},
                    timeout=ClientTimeout(total=PUSH_TIMEOUT_S)):
                pass
        except (ClientError, OSError, TimeoutError, RedisError) as exc:
            log.info("a pushed session was not deleted (%r); it ends with its link", exc)
