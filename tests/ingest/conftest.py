"""Fixtures for WHIP and WHEP: the live-lesson world (tests/live) plus encoder Sources and small
aiortc publishers and players speaking plain HTTP, as an encoder or a player would."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import av
import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack
from multidict import CIMultiDict
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.secrets import new_stream_key
from server.models import Source, SourceKind, SourceRole
from tests.live.conftest import limits, live_app, start, world  # noqa: F401 (fixtures)
from tests.live.media_client import MediaClient, SmallVideoTrack, peer
from tests.live.world import World

from .camera import Camera, require_gstreamer

SDP = "application/sdp"


@dataclass
class Encoder:
    source_id: int
    key: str
    name: str


SourceMaker = Callable[..., Awaitable[Encoder]]


@pytest.fixture
def make_source(db: AsyncSession, world: World) -> SourceMaker:  # noqa: F811
    """A Source in one of the world's classrooms (WHIP by default); returns its stream key."""
    async def make(classroom: str = "hub", kind: SourceKind = SourceKind.whip,
                   role: SourceRole = SourceRole.teacher, enabled: bool = True,
                   name: str | None = None) -> Encoder:
        name = name or f"{classroom} encoder"
        source = Source(classroom_id=world[classroom], name=name, kind=kind, role=role,
                        stream_key=new_stream_key(), enabled=enabled)
        db.add(source)
        await db.commit()
        assert source.stream_key is not None
        return Encoder(source.id, source.stream_key, name)
    return make


def sdp_headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": SDP}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def whip_offer(audio: bool = True) -> RTCPeerConnection:
    """An encoder's send-only offer: a small video track and, if asked, audio."""
    pc = peer()
    pc.addTransceiver(SmallVideoTrack(), direction="sendonly")
    if audio:
        pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc


async def whep_offer(kinds: tuple[str, ...] = ("video", "audio")) -> RTCPeerConnection:
    """A player's receive-only offer."""
    pc = peer()
    for kind in kinds:
        pc.addTransceiver(kind, direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc


async def post_sdp(client: TestClient, path: str, pc: RTCPeerConnection, token: str
                   ) -> tuple[int, CIMultiDict[str], str]:
    """POST the peer's offer; on 201 apply the answer. Returns status, headers and body."""
    async with client.post(path, data=pc.localDescription.sdp,
                           headers=sdp_headers(token)) as resp:
        body = await resp.text()
        headers = CIMultiDict(resp.headers)
    if resp.status == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    return resp.status, headers, body


async def received_packets(pc: RTCPeerConnection) -> list[int]:
    """RTP packets received so far on each of the peer's receiving m-lines."""
    counts = []
    for transceiver in pc.getTransceivers():
        if transceiver.currentDirection != "recvonly":
            continue
        report: Any = await transceiver.receiver.getStats()
        counts.append(sum(s.packetsReceived for s in report.values() if s.type == "inbound-rtp"))
    return counts


# Cameras, encoders and what receivers decode of them (RTSP, RTMP, probes) ----------------------


@pytest.fixture
async def camera() -> AsyncIterator[Camera]:
    """The test IP camera, running (tests/ingest/camera.py); skipped without GStreamer."""
    require_gstreamer()
    camera = Camera()
    await camera.start()
    try:
        yield camera
    finally:
        await camera.stop()


def picture_digest(frame: av.VideoFrame) -> bytes:
    """A digest of the decoded picture (without the planes' line padding): equal digests mean
    the same bits, so a re-encode on the way would show."""
    digest = hashlib.sha1()
    for plane in frame.planes:
        data = bytes(plane)
        for row in range(plane.height):
            digest.update(data[row * plane.line_size:row * plane.line_size + plane.width])
    return digest.digest()


async def next_frame(media: MediaClient, kind: str) -> av.VideoFrame | av.AudioFrame:
    """The next frame a receiver decodes on its `kind` m-line."""
    transceiver = next(t for t in media.active() if t.kind == kind)
    return await asyncio.wait_for(transceiver.receiver.track.recv(), 10)


async def end_lesson(client: TestClient, records: World, lesson_id: int) -> None:
    """The teacher ends the lesson through the API."""
    async with client.post(f"/api/v1/lessons/{lesson_id}/end", headers={
            "Authorization": f"Bearer {records.tokens['teacher']}"}) as resp:
        assert resp.status == 200, await resp.text()
