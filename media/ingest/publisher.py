"""The in-process WebRTC publisher through which the node's own ingest (RTSP cameras it pulls,
RTMP encoders that push to it) reaches the relay, like any browser or WHIP encoder would.

    publisher = LocalPublisher(name)
    offer = await publisher.offer(video=True, forwarded=True, audio=True)
    answer = ...                                  # the Room's answer to the offer
    await publisher.accept(answer)
    publisher.push("video", packet, keyframe)     # av.Packet: packed into RTP as it is
    publisher.push("audio", frame, True)          # av.AudioFrame: encoded once to Opus
    await publisher.close()

Forwarded video is H.264 handed over as `av.Packet`s (Annex B); aiortc's sender packs them into
RTP without encoding. Other video arrives as frames and is encoded once, to H.264 too, which
hardware decoders and WHEP players take.
"""

from __future__ import annotations

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from .feed import FeedTrack, Item

VIDEO_QUEUE = 50  # ~2 s at 25 fps: more is stale, start again at the next keyframe
AUDIO_QUEUE = 100  # ~2 s of 20 ms frames


class LocalPublisher:
    def __init__(self) -> None:
        self._pc: RTCPeerConnection | None = None
        self._tracks: dict[str, FeedTrack] = {}

    async def offer(self, video: bool, forwarded: bool, audio: bool) -> str:
        """A new connection (the previous one closed) with these tracks: its SDP offer."""
        await self.close()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[],
                                                bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self._pc = pc
        if video:
            track = FeedTrack("video", VIDEO_QUEUE, gated=forwarded)
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences([
                c for c in RTCRtpSender.getCapabilities("video").codecs
                if c.mimeType == "video/H264" and c.parameters.get("profile-level-id") == "42e01f"
                or c.mimeType == "video/rtx"])
            self._tracks["video"] = track
        if audio:
            track = FeedTrack("audio", AUDIO_QUEUE, gated=False)
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences([
                c for c in RTCRtpSender.getCapabilities("audio").codecs
                if c.mimeType == "audio/opus"])
            self._tracks["audio"] = track
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        if self._pc is None:
            raise RuntimeError("no offer was made")
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    def push(self, kind: str, item: Item, keyframe: bool) -> None:
        track = self._tracks.get(kind)
        if track is not None:
            track.push(item, keyframe)

    def resync(self) -> None:
        """The source restarted: forwarded video waits for its next keyframe."""
        for track in self._tracks.values():
            track.resync()

    def pushed(self) -> dict[str, int]:
        """Items handed to each track so far (for logs and tests)."""
        return {kind: track.pushed for kind, track in self._tracks.items()}

    async def close(self) -> None:
        tracks, self._tracks = list(self._tracks.values()), {}
        for track in tracks:
            track.stop()
        pc, self._pc = self._pc, None
        if pc is not None:
            await pc.close()
