"""Recording test support: a real aiortc publisher, reading segment files back, and a Room that
records in a process of its own, for the tests that kill it or fill its disk.

    python -m tests.media.recording_child DIRECTORY kill|disk-full

prints `recording` once the Recording runs. `kill` then waits to be killed. `disk-full` runs
under a file-size limit (the disk "fills" after `FILE_LIMIT` bytes), then prints
`failed <reason>`, `alive` if the Room still receives the publisher's packets afterwards, and
`segments <path>…` from `stop_recording`.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import sys
from pathlib import Path

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from media.interface import MediaEvent, PublicationAdded, RecordingFailed, SourceLabel
from media.relay.room import RelayRoom, RelayService
from tests.helpers import eventually

FILE_LIMIT = 12_000  # bytes: a few seconds of the test publisher's blank video and silence


async def publish_as(room: RelayRoom, events: list[MediaEvent], participant_id: str,
                     video_codec: str) -> tuple[RTCPeerConnection, str, str]:
    """A real publisher (camera + microphone, aiortc's test tracks) in `video_codec`; returns it
    and its video and audio publication ids once packets flow."""
    publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    publisher.addTrack(VideoStreamTrack())
    publisher.addTrack(AudioStreamTrack())
    publisher.getTransceivers()[0].setCodecPreferences([
        c for c in RTCRtpSender.getCapabilities("video").codecs
        if c.mimeType.lower() in (video_codec.lower(), "video/rtx")])
    await publisher.setLocalDescription(await publisher.createOffer())
    seen = len(events)
    answer = await room.publish(participant_id, publisher.localDescription.sdp,
                                {"0": SourceLabel.camera, "1": SourceLabel.microphone})
    await publisher.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    def published() -> list[PublicationAdded]:
        added = [e for e in events[seen:] if isinstance(e, PublicationAdded)
                 and e.publication.participant_id == participant_id]
        return added if len(added) == 2 else []

    added = await eventually(published, timeout=15)
    video = next(e.publication.publication_id for e in added if e.publication.kind == "video")
    audio = next(e.publication.publication_id for e in added if e.publication.kind == "audio")
    await eventually(lambda: all(room.stats().publications[p].packets > 0 for p in (video, audio)),
                     timeout=15)
    return publisher, video, audio


def decode_times(path: Path) -> dict[str, list[float]]:
    """Presentation times (s) of the frames that decode, by track title (camera, screen,
    audio). Frames that do not decode are skipped: a publisher's garbage is allowed to."""
    times: dict[str, list[float]] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            times[stream.metadata["title"]] = []
        for packet in container.demux():
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            for frame in frames:
                if frame.time is not None:
                    times[packet.stream.metadata["title"]].append(frame.time)
    return times


async def _main(directory: Path, mode: str) -> None:
    if mode == "disk-full":
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("child", events.append)
    publisher, video, audio = await publish_as(room, events, "teacher", "video/VP8")
    try:
        room.start_recording("lesson", directory, camera=video, audio=audio)
        print("recording", flush=True)
        if mode == "kill":
            await asyncio.sleep(120)  # the test kills the process long before
            return
        failure = await eventually(
            lambda: next((e for e in events if isinstance(e, RecordingFailed)), None), timeout=30)
        print("failed", failure.reason, flush=True)
        before = room.stats().publications[video].packets
        await asyncio.sleep(0.5)
        if room.stats().publications[video].packets > before:
            print("alive", flush=True)
        segments = await room.stop_recording("lesson")
        print("segments", *segments, flush=True)
    finally:
        await service.close()
        await publisher.close()


if __name__ == "__main__":
    asyncio.run(_main(Path(sys.argv[1]), sys.argv[2]))
