"""A participant in a live Room, and the Outbox its messages leave through."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..signalling.codes import CloseCode, LeaveReason
from ..signalling.schema import Error, Event, Ok, ParticipantOut
from .rules import ParticipantRole, Seat, listed


class Outbox(Protocol):
    """Where a participant's messages go (its socket). Never blocks: a client that cannot keep
    up is closed by the outbox, not buffered without bound."""

    def send(self, message: Ok | Error | Event) -> None: ...

    def close(self, code: CloseCode, reason: LeaveReason) -> None:
        """Send what is queued, then close the socket with `code`."""


def new_participant_id() -> str:
    return f"p-{secrets.token_hex(6)}"


@dataclass(eq=False)
class Participant:
    identity: str  # who: "user:7", "terminal:3"; joining again on another socket replaces
    name: str
    role: ParticipantRole
    classroom: str | None
    outbox: Outbox
    participant_id: str = field(default_factory=new_participant_id)
    on_stage: bool = False
    left: bool = False
    # The receive transport: what it is subscribed to, and whether an offer awaits an answer.
    subscribed: frozenset[str] = frozenset()
    awaiting_answer: bool = False
    # Serializes this participant's receive-transport calls with its removal from the relay.
    media_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # What it receives when not chosen by the lesson-kind rules: nothing for a WHIP encoder,
    # the main programme for a WHEP player (server/ingest). Asked on every recomputation of
    # Subscriptions; ids of Publications no longer in the Room are ignored.
    reception: Callable[[], frozenset[str]] | None = None

    @property
    def seat(self) -> Seat:
        return Seat(self.participant_id, self.role, self.on_stage)

    @property
    def listed(self) -> bool:
        return listed(self.role)

    def out(self) -> ParticipantOut:
        return ParticipantOut(participant_id=self.participant_id, name=self.name,
                              role=self.role, classroom=self.classroom)
