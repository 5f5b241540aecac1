"""The floor: a naive aiortc relay that decodes the publisher once (aiortc's receivers) and
re-encodes for every subscriber (one `MediaRelay` proxy track per subscriber, each encoded by
that subscriber's own RTCRtpSender)."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack


def _peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class NaiveTarget:
    def __init__(self) -> None:
        self._relay = MediaRelay()
        self._tracks: list[MediaStreamTrack] = []
        self._pcs: dict[str, RTCPeerConnection] = {}

    async def publish(self, participant: str, sdp: str, sources: dict[str, str]) -> str:
        pc = _peer()
        self._pcs[participant] = pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tracks.append(track)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    async def subscribe(self, participant: str) -> str:
        pc = _peer()
        self._pcs[participant] = pc
        for track in sorted(self._tracks, key=lambda t: t.kind, reverse=True):  # video first
            pc.addTransceiver(self._relay.subscribe(track), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp

    async def answer(self, participant: str, sdp: str) -> None:
        await self._pcs[participant].setRemoteDescription(
            RTCSessionDescription(sdp=sdp, type="answer"))

    def counters(self) -> dict[str, int]:
        return {}

    async def close(self) -> None:
        for pc in self._pcs.values():
            await pc.close()
