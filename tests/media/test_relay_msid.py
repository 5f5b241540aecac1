"""The relay's offer names each m-line's Publication: `a=msid:<publisher> <publication id>`."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection

from media.interface import PublicationInfo, SourceLabel, TrackKind
from media.relay.glue import add_sending_transceiver
from media.relay.producer import Producer, RtpCodec
from media.relay.transports import SubscriberTransport


class _Listener:
    def sender_started(self, *args: object) -> None: ...
    def sender_nack(self, *args: object) -> None: ...
    def sender_keyframe_request(self, *args: object) -> None: ...
    def sender_estimate(self, *args: object) -> None: ...
    def sender_report(self, *args: object) -> None: ...


def _msids(sdp: str) -> dict[str, str]:
    """mid -> msid value of each m-section."""
    out: dict[str, str] = {}
    mid = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[6:]
        elif line.startswith("a=msid:") and mid is not None:
            out[mid] = line[7:]
    return out


def _producer(participant: str, publication: str, kind: TrackKind, mime: str) -> Producer:
    source = SourceLabel.camera if kind is TrackKind.video else SourceLabel.microphone
    info = PublicationInfo(publication, participant, kind, source, mime)
    clock = 90000 if kind is TrackKind.video else 48000
    return Producer(info, RtpCodec(mime, 96, clock, None), 1234, None, {}, receiver=None)  # type: ignore[arg-type]


async def test_glue_sets_the_msid() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        add_sending_transceiver(pc, "video", "video/VP8", _Listener(), msid=("p-1", "pub-1"))
        add_sending_transceiver(pc, "audio", "audio/opus", _Listener())
        await pc.setLocalDescription(await pc.createOffer())
        msids = _msids(pc.localDescription.sdp)
        assert msids["0"] == "p-1 pub-1"
        assert msids["1"].split(" ")[0] != "p-1"  # without one: aiortc's own stream id
    finally:
        await pc.close()


async def test_subscriptions_are_named_by_publisher_and_publication() -> None:
    transport = SubscriberTransport(room=None, participant_id="p-viewer")  # type: ignore[arg-type]
    try:
        transport.add(_producer("p-teacher", "pub-cam", TrackKind.video, "video/VP8"), "pub-cam")
        transport.add(_producer("p-teacher", "pub-mic", TrackKind.audio, "audio/opus"), "pub-mic")
        # A shared transcode is named after the Publication it stands for.
        transport.add(_producer("p-point", "pub-x~h264", TrackKind.video, "video/H264"), "pub-x")
        msids = _msids(await transport.offer())
        assert msids == {"0": "p-teacher pub-cam", "1": "p-teacher pub-mic", "2": "p-point pub-x"}
    finally:
        await transport.close()
