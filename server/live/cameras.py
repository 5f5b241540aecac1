"""The main camera of the hub side. A hub classroom may have several cameras (the teacher's,
the students', the blackboard's, as RTSP, RTMP or WHIP Sources or browsers); the host picks the
one everyone sees and the others are held: the relay stops forwarding them, so a rural link
carries one picture. Switching only mutes and unmutes Publications in the relay: no receiver
renegotiates, and a camera let go again resumes at its next keyframe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from media.interface import MediaError, SourceLabel

from ..signalling import schema as wire
from ..signalling.codes import SignalError, SignalErrorCode
from . import rules
from .rules import HUB, Action

if TYPE_CHECKING:
    from .participant import Participant
    from .room import LiveRoom, Publication


def is_hub_camera(room: LiveRoom, publication: Publication) -> bool:
    publisher = room.participants.get(publication.info.participant_id)
    return publication.info.source is SourceLabel.camera and publisher is not None \
        and publisher.role in HUB


def hub_cameras(room: LiveRoom) -> list[Publication]:
    return [p for p in room.publications.values() if is_hub_camera(room, p)]


def apply(room: LiveRoom, publication: Publication, by: str) -> None:
    """Give the relay the Publication's effective state (muted by its publisher, or held) and
    tell everyone if what they see changed."""
    shown = publication.effectively_muted
    room.media.set_muted(publication.info.publication_id, shown)
    if publication.announced_muted != shown:
        publication.announced_muted = shown
        room.broadcast(wire.PublicationMuted(publication_id=publication.info.publication_id,
                                             muted=shown, by=by))


def choose(room: LiveRoom, actor: Participant, publication_id: str | None) -> None:
    """The host makes `publication_id` the main camera (None: show every hub camera again)."""
    if not rules.may(room.kind, actor.role, Action.main_camera):
        raise SignalError(SignalErrorCode.forbidden,
                          f"A {actor.role.value} may not choose the main camera")
    if publication_id is not None:
        chosen = room.publications.get(publication_id)
        if chosen is None:
            raise SignalError(SignalErrorCode.not_found, f"No publication {publication_id} here")
        if not is_hub_camera(room, chosen):
            raise SignalError(SignalErrorCode.forbidden,
                              "Only a camera of the teacher or the hub classroom can be the "
                              "main camera")
    room.main_camera = publication_id
    try:
        for camera in hub_cameras(room):
            camera.held = publication_id is not None \
                and camera.info.publication_id != publication_id
            apply(room, camera, actor.participant_id)
    except MediaError as err:
        raise SignalError(SignalErrorCode.media_failed, err.message) from None
    room.broadcast(wire.MainCameraChanged(publication_id=publication_id))
    room.recording_feeds_changed()


def added(room: LiveRoom, publication: Publication) -> None:
    """A new hub camera while another is main starts held."""
    if room.main_camera is not None and is_hub_camera(room, publication):
        publication.held = True
        publication.announced_muted = publication.effectively_muted
        room.media.set_muted(publication.info.publication_id, True)


def removed(room: LiveRoom, publication_id: str) -> None:
    """The main camera went away: every hub camera is shown again."""
    if room.main_camera != publication_id:
        return
    room.main_camera = None
    for camera in hub_cameras(room):
        if camera.held:
            camera.held = False
            try:
                apply(room, camera, camera.info.participant_id)
            except MediaError:
                pass  # it is going away too
    room.broadcast(wire.MainCameraChanged(publication_id=None))
