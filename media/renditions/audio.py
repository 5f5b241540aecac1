"""The sound of every rung: decoded once, encoded to AAC once, the same packets muxed into all."""

from __future__ import annotations

from fractions import Fraction

import av
import av.error
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.packet import Packet

from .plan import AUDIO_BITRATE
from .rungs import RungOutput

AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


class SharedAudio:
    def __init__(self, source: AudioStream, outputs: list[RungOutput], origin: Fraction):
        """`origin`: source seconds that become zero (as for the video)."""
        self.source = source
        self.outputs = outputs
        ctx = source.codec_context
        channels = 1 if ctx.channels == 1 else 2
        rate = ctx.sample_rate if ctx.sample_rate in AAC_RATES else 48000
        layout = "mono" if channels == 1 else "stereo"
        first = outputs[0]
        first.audio = first.container.add_stream("aac", rate=rate)
        self.encoder = first.audio.codec_context
        self.encoder.layout = layout
        self.encoder.bit_rate = AUDIO_BITRATE[channels]
        # Open the one encoder (writing the first rung's header) so that its parameters can be
        # copied into the other rungs' streams.
        first.container.start_encoding()
        for out in outputs[1:]:
            out.audio = out.container.add_stream_from_template(first.audio)
        self.resampler = AudioResampler(format="fltp", layout=layout, rate=rate,
                                        frame_size=self.encoder.frame_size or 1024)
        self.origin = round(origin / source.time_base)

    def packet(self, packet: Packet) -> None:
        if packet.pts is not None:
            packet.pts -= self.origin
        if packet.dts is not None:
            packet.dts -= self.origin
        try:
            frames = self.source.codec_context.decode(packet)
        except av.error.InvalidDataError:
            return  # a damaged frame: a moment of silence
        for frame in frames:
            self._encode(frame)

    def flush(self) -> None:
        for frame in self.source.codec_context.decode(None):
            self._encode(frame)
        self._encode(None)

    def _encode(self, frame: av.AudioFrame | None) -> None:
        for chunk in self.resampler.resample(frame):
            self._mux(self.encoder.encode(chunk))
        if frame is None:
            self._mux(self.encoder.encode(None))

    def _mux(self, packets: list[Packet]) -> None:
        for packet in packets:
            for out in self.outputs:
                packet.stream = out.audio  # type: ignore[assignment]
                out.container.mux(packet)  # rebases the packet to that stream: all alike
