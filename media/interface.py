"""The narrow, typed boundary between the control plane and the media plane.

The control plane (server/) decides who may do what; the media plane (media/) moves packets.
Everything crosses here as plain strings, ids and small frozen dataclasses, so a Room could
later live in another process or on another node behind the same Protocols.

Each participant has up to two Transports (peer connections): a send transport on which it
publishes (it offers, the relay answers) and a receive transport on which the relay sends it
its Subscriptions (the relay offers, the participant answers; or, for a WHEP player, the
player offers and the relay answers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class TrackKind(StrEnum):
    audio = "audio"
    video = "video"


class SourceLabel(StrEnum):
    """What a Publication shows; the UI lays out and the rules select by it."""

    camera = "camera"
    microphone = "microphone"
    screen = "screen"  # courseware


class RecordingTrack(StrEnum):
    """The tracks of a Recording; each is fed by at most one Publication at a time."""

    camera = "camera"  # the host's main camera (video)
    screen = "screen"  # courseware (video)
    audio = "audio"


class CloseReason(StrEnum):
    """Why a Room, Transport, Producer or Consumer closed; the same strings in logs and events."""

    requested = "requested"  # the control plane asked
    lesson_ended = "lesson_ended"
    participant_left = "participant_left"
    transport_failed = "transport_failed"  # ICE/DTLS failure or timeout
    producer_closed = "producer_closed"  # a Consumer closes with its Producer
    room_closed = "room_closed"
    moved = "moved"  # a publisher's Transport went to another Room (Room.hand_over)


class MediaError(Exception):
    """A request the media plane refuses (malformed SDP, unknown id, unsupported codec)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PublicationInfo:
    publication_id: str
    participant_id: str
    kind: TrackKind
    source: SourceLabel
    codec: str  # e.g. "video/VP8", "audio/opus"
    muted: bool = False


@dataclass(frozen=True)
class TrackStats:
    packets: int = 0
    bytes: int = 0
    packets_lost: int = 0
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    bitrate_bps: float = 0.0
    keyframes_requested: int = 0
    nacks: int = 0


@dataclass(frozen=True)
class RoomStats:
    publications: dict[str, TrackStats] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], TrackStats] = field(default_factory=dict)  # (sub, pub)
    decoders_started: int = 0  # stays 0 while every subscriber can take the publisher's codec
    encoders_started: int = 0

    @property
    def forwarded_packets(self) -> int:
        """Packets sent so far on the open Subscriptions (drops when one closes)."""
        return sum(s.packets for s in self.subscriptions.values())


# Events the media plane reports back ---------------------------------------------------------


@dataclass(frozen=True)
class PublicationAdded:
    publication: PublicationInfo


@dataclass(frozen=True)
class PublicationRemoved:
    publication_id: str
    participant_id: str
    reason: CloseReason


@dataclass(frozen=True)
class ActiveSpeaker:
    participant_id: str | None  # None: nobody is speaking
    level_dbov: int


@dataclass(frozen=True)
class TransportClosed:
    """One of a participant's Transports failed and the relay dropped it: its send transport
    (`sending`: its Publications ended) or its receive transport (its Subscriptions ended)."""

    participant_id: str
    reason: CloseReason
    sending: bool = False


@dataclass(frozen=True)
class VideoPaused:
    """A subscriber's link cannot carry video: it gets audio only until `VideoResumed`."""

    participant_id: str
    estimate_bps: int


@dataclass(frozen=True)
class VideoResumed:
    participant_id: str
    estimate_bps: int


@dataclass(frozen=True)
class RecordingSegmentOpened:
    """A segment file of the Recording exists and is being written (its header is on disk: from
    now on it stays playable up to about its last second, whatever happens to the process)."""

    recording_id: str
    path: Path
    start_s: float  # on the recording's clock: seconds since `start_recording`


@dataclass(frozen=True)
class RecordingSegmentClosed:
    """A segment file is complete (index and duration written). A Recording has several when a
    track changed codec or a track joined mid-way (e.g. the courseware screen started)."""

    recording_id: str
    path: Path
    start_s: float  # on the recording's clock
    duration_s: float


@dataclass(frozen=True)
class RecordingFailed:
    """The Recording stopped writing (e.g. the disk is full); the Room goes on. Segments written
    so far stay playable and are returned by `stop_recording`."""

    recording_id: str
    reason: str


MediaEvent = (
    PublicationAdded | PublicationRemoved | ActiveSpeaker | TransportClosed | VideoPaused
    | VideoResumed | RecordingSegmentOpened | RecordingSegmentClosed | RecordingFailed
)
EventSink = Callable[[MediaEvent], None]


class Room(Protocol):
    """One lesson's live media: its Router, Transports, Producers and Consumers."""

    room_id: str

    async def publish(self, participant_id: str, offer_sdp: str,
                      sources: dict[str, SourceLabel]) -> str:
        """Apply the participant's send-transport offer; return the relay's answer.

        `sources` names what each offered m-line (by mid) carries. New Producers are
        announced with `PublicationAdded`; m-lines that went away end theirs.
        """

    async def pull(self, participant_id: str, sources: Sequence[SourceLabel]) -> str:
        """The relay's own receive-only offer (one m-line per source: microphone is audio, the
        others video) for another relay to answer (a cascaded lesson's origin node, through its
        WHEP endpoint); what arrives becomes Publications of `participant_id`, as if it had
        published. `pull_answer` completes it."""

    async def pull_answer(self, participant_id: str, answer_sdp: str) -> None: ...

    def set_receive_codecs(self, participant_id: str, mime_types: Sequence[str]) -> None:
        """What the participant can decode; a Publication in another codec reaches it through
        one shared transcode. Unset: it decodes whatever is forwarded."""

    async def subscribe(self, participant_id: str, publication_ids: Sequence[str]) -> str | None:
        """Set what the participant receives; return the relay's offer, or None if unchanged.

        For a participant that made its own offer (`subscribe_answer`) the m-lines stay as
        negotiated: the Publications are placed on them and None is returned."""

    async def subscribe_answer(self, participant_id: str, offer_sdp: str,
                               publication_ids: Sequence[str]) -> str:
        """Answer a participant's own receive-only offer (a WHEP player); return the answer.

        The offer's m-lines are fixed from then on: the n-th video m-line carries the n-th video
        Publication (camera before screen), the n-th audio m-line the n-th audio one; m-lines
        left over stay silent until `subscribe` places more. When a Publication is replaced,
        `subscribe` switches the m-line to the new one without renegotiation."""

    async def accept_answer(self, participant_id: str, answer_sdp: str) -> None:
        """Complete the negotiation started by `subscribe`."""

    def set_muted(self, publication_id: str, muted: bool) -> None:
        """Stop or resume forwarding a Publication to everyone (its Producer stays open)."""

    async def unpublish(self, participant_id: str, reason: CloseReason) -> None:
        """Close the participant's send Transport and its Publications; it keeps receiving."""

    async def remove_participant(self, participant_id: str, reason: CloseReason) -> None:
        """Close the participant's Transports, Producers and their Consumers."""

    def hand_over(self, participant_id: str, to: Room, to_participant_id: str,
                  sources: dict[str, SourceLabel]) -> None:
        """Move the participant's send Transport, connected, into `to` (another Room of this
        node) as `to_participant_id`: the publisher notices nothing. Its Publications end here
        (`PublicationRemoved`, reason `moved`) and are added there (`PublicationAdded`, the
        same ids, labelled again by mid from `sources`). A WHIP encoder waits so between
        lessons."""

    def start_recording(self, recording_id: str, directory: Path, camera: str | None = None,
                        screen: str | None = None, audio: str | None = None) -> None:
        """Record the given Publications (camera and screen: video; audio) into segment files
        `<directory>/<recording_id>.<n>.mkv`, remuxed from their packets (never re-encoded).

        `recording_id` is a file name part (letters, digits, `_`, `-`, `.`). Files are opened
        as frames arrive; `RecordingSegmentOpened` / `RecordingSegmentClosed` follow. A track
        whose Publication ends (its publisher left) stays in the Recording, silent, until
        `switch_recording_source` gives it another one."""

    def switch_recording_source(self, recording_id: str, track: RecordingTrack,
                                publication_id: str | None) -> None:
        """Feed `track` from another Publication (None: from nothing, for now). The timeline goes
        on; a Publication in another codec starts a new segment."""

    async def stop_recording(self, recording_id: str) -> list[Path]:
        """Flush and close the Recording's files; return its segment files in order."""

    def publications(self) -> list[PublicationInfo]: ...

    def stats(self) -> RoomStats: ...

    async def close(self, reason: CloseReason) -> None:
        """Stop every Recording, then close every Transport; Producers and Consumers close
        with them."""


class MediaService(Protocol):
    """The media plane of one node."""

    async def open_room(self, room_id: str, on_event: EventSink) -> Room: ...

    def room(self, room_id: str) -> Room | None: ...

    async def close(self) -> None: ...
