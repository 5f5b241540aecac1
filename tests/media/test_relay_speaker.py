"""A publisher who speaks (a tone) becomes the active speaker; when the tone stops, nobody is."""

from __future__ import annotations

import fractions
import math
from array import array

import av
from aiortc import RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from media.interface import ActiveSpeaker, MediaEvent, PublicationAdded, SourceLabel
from media.relay.room import RelayService
from tests.helpers import eventually
from tests.media.test_relay_forwarding import _peer

RATE = 48000
SAMPLES = 960  # 20 ms


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone while `speaking`, silence otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.speaking = True
        self._sent = 0

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()  # paces at real time and gives pts/time_base
        if self.speaking:
            tone = array("h", (int(16000 * math.sin(2 * math.pi * 440 * (i + self._sent) / RATE))
                               for i in range(SAMPLES)))
            frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES)
            frame.planes[0].update(tone.tobytes())
            frame.sample_rate = RATE
            frame.pts = self._sent
            frame.time_base = fractions.Fraction(1, RATE)
        self._sent += SAMPLES
        return frame


async def test_the_speaking_publisher_is_announced_and_silence_clears_it() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("speaker-1", events.append)
    publisher = _peer()
    tone = ToneTrack()
    try:
        publisher.addTrack(tone)
        await publisher.setLocalDescription(await publisher.createOffer())
        answer = await room.publish("teacher", publisher.localDescription.sdp,
                                    {"0": SourceLabel.microphone})
        await publisher.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await eventually(lambda: any(isinstance(e, PublicationAdded) for e in events), timeout=10)

        def speakers() -> list[str | None]:
            return [e.participant_id for e in events if isinstance(e, ActiveSpeaker)]

        await eventually(lambda: speakers() == ["teacher"], timeout=5)
        tone.speaking = False
        await eventually(lambda: speakers() == ["teacher", None], timeout=5)
    finally:
        await service.close()
        await publisher.close()
