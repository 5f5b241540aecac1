"""A WHIP publication or a WHEP playback: a participant of a LiveRoom behind an HTTP resource.

The participant's Outbox is the Session itself. Nobody reads its messages (an encoder or a
player has no socket), but two of them mean its media connection is gone:
- a `transport_failed` notice: the relay dropped the encoder's send Transport;
- an offer: the relay dropped the player's own receive Transport and the Room would start a
  new one, which a WHEP player cannot take (its m-lines are fixed by its POST).
Either ends the Session, as a DELETE would; the client posts again to come back. Closing the
Outbox (the lesson ended, the same source published again) forgets the Session, except for a
WHIP encoder at the end of its lesson: it goes back to waiting (standby.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from aiohttp import web

from ..live.participant import Participant
from ..live.room import LiveRoom
from ..signalling import schema as wire
from ..signalling.codes import CloseCode, LeaveReason, NoticeCode

if TYPE_CHECKING:
    from .standby import Standby

log = logging.getLogger("kelian.ingest")


class SessionKind(StrEnum):
    whip = "whip"
    whep = "whep"


@dataclass(eq=False)
class Session:
    kind: SessionKind
    owner: str  # the path segment it lives under: the stream key (WHIP), the lesson id (WHEP)
    principal: str  # who may end it: "source:3", "terminal:7", "user:2"
    room: LiveRoom | None  # None while a WHIP encoder waits for its lesson
    registry: Sessions
    resource_id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    etag: str = field(default_factory=lambda: f'"{secrets.token_hex(8)}"')
    participant: Participant | None = None
    ended: bool = False
    on_end: Callable[[Session, LeaveReason], Awaitable[None]] | None = None  # e.g. an audit
    standby: Standby | None = None  # where a WHIP encoder waits between lessons
    relay: Callable[[wire.Event], None] | None = None  # a cascade's edge: events passed on

    @property
    def location(self) -> str:
        return f"/{self.kind.value}/{self.owner}/{self.resource_id}"

    # Outbox ------------------------------------------------------------------------------------

    def send(self, message: wire.Ok | wire.Error | wire.Event) -> None:
        if self.relay is not None and isinstance(message, wire.Event):
            self.relay(message)
        lost = (isinstance(message, wire.Notice) and message.code is NoticeCode.transport_failed
                or isinstance(message, wire.OfferEvent))
        if lost and not self.ended:
            log.info("%s %s: media connection lost", self.kind.value, self.resource_id,
                     extra={"session": self.resource_id, "protocol": self.kind.value,
                            "lesson_id": self.room.lesson.lesson_id if self.room else None,
                            "principal": self.principal})
            self.registry.spawn(self.stop(LeaveReason.disconnected))

    def close(self, code: CloseCode, reason: LeaveReason) -> None:
        """The Room let go of the participant (lesson ended, replaced): forget the Session, or
        at the end of the lesson let the encoder wait for the next one."""
        if self.ended:
            return
        if reason is LeaveReason.lesson_ended and self.standby is not None \
                and self.standby.take_back(self):
            return
        self.ended = True
        self.registry.forget(self)
        if self.standby is not None:
            self.standby.forget(self)
        if self.on_end is not None:
            self.registry.spawn(self.on_end(self, reason))

    # Ending ------------------------------------------------------------------------------------

    async def stop(self, reason: LeaveReason = LeaveReason.left) -> None:
        """Leave the Room: its Publications end (others get publication.removed), its
        Subscriptions end, the relay closes its Transports."""
        if self.ended:
            return
        room, participant = self.room, self.participant
        self.close(CloseCode.normal, reason)
        if room is not None and participant is not None:
            await room.leave(participant.participant_id, reason)
        elif self.standby is not None:
            await self.standby.release(self)


class Sessions:
    """The node's WHIP and WHEP Sessions, by resource id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # With several nodes: told of each Session added (True) and forgotten (nodes.py).
        self.noted: Callable[[str, bool], None] | None = None

    def add(self, session: Session) -> None:
        self._by_id[session.resource_id] = session
        if self.noted is not None:
            self.noted(session.resource_id, True)

    def forget(self, session: Session) -> None:
        if self._by_id.get(session.resource_id) is session:
            del self._by_id[session.resource_id]
            if self.noted is not None:
                self.noted(session.resource_id, False)

    def find(self, kind: SessionKind, owner: str, resource_id: str) -> Session | None:
        session = self._by_id.get(resource_id)
        if session is None or session.kind is not kind \
                or not secrets.compare_digest(session.owner.encode(), owner.encode()):
            return None
        return session

    def of(self, kind: SessionKind, principal: str) -> list[Session]:
        return [s for s in self._by_id.values()
                if s.kind is kind and s.principal == principal and not s.ended]

    def active(self, kind: SessionKind, principal: str) -> bool:
        """Whether `principal` holds a live Session of `kind` on this node (e.g. a WHIP encoder
        of "source:3" publishing now), for the admin page's source test."""
        return bool(self.of(kind, principal))

    def revoke(self, principal: str) -> int:
        """Those credentials no longer hold (a token revoked, a source deleted): end that
        principal's Sessions now. Returns how many there were."""
        found = [s for s in self._by_id.values() if s.principal == principal]
        for session in found:
            self.spawn(session.stop(LeaveReason.revoked))
        if found:
            log.info("%s: credentials revoked; %d session(s) ended", principal, len(found),
                     extra={"principal": principal, "sessions": len(found)})
        return len(found)

    def __len__(self) -> int:
        return len(self._by_id)

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ending a session failed", exc_info=task.exception())

    async def close(self) -> None:
        """Node shutdown (after the Rooms closed): wait for Sessions still ending."""
        await asyncio.gather(*self._tasks, return_exceptions=True)


INGEST = web.AppKey("ingest_sessions", Sessions)
