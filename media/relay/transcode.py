"""The one exception to forwarding: a shared transcode for subscribers that cannot decode a
Publication's codec. One `Transcoder` per (Publication, target codec) decodes once and encodes
once, off the event loop, and feeds a derived Producer whose Consumers all share its output.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from aiortc.codecs import depayload, get_decoder, get_encoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from ..rtp.header import read_header
from .glue import random32
from .producer import Incoming, Producer, RtpCodec

log = logging.getLogger("kelian.relay.transcode")

CLOCK_RATES = {"video/vp8": 90000, "video/h264": 90000, "audio/opus": 48000}
OUTPUT_PAYLOAD_TYPE = 96  # the derived Producer's own numbering; Consumers rewrite it anyway


class CodecCounters:
    """How many decoders and encoders a Room started: zero while everyone takes the source."""

    def __init__(self) -> None:
        self.decoders = 0
        self.encoders = 0


class TranscodeUpstream:
    """What the derived Producer calls 'its publisher': keyframe requests force the encoder."""

    def __init__(self, transcoder: Transcoder):
        self._transcoder = transcoder

    async def send_pli(self, media_ssrc: int) -> None:
        self._transcoder.force_keyframe = True

    async def send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        pass  # the encoder's output never crossed a network: nothing to repair

    async def send_remb(self, bitrate: int, ssrcs: list[int]) -> None:
        self._transcoder.target_bitrate = bitrate


class Transcoder:
    def __init__(self, source: Producer, target_mime: str, counters: CodecCounters):
        self.source = source
        self.target_mime = target_mime
        self.force_keyframe = True
        self.target_bitrate: int | None = None
        self.closed = False
        self.waiting_for_keyframe = source.needs_keyframe  # the tap starts on a keyframe
        kind = source.info.kind.value
        self._source_codec = RTCRtpCodecParameters(
            mimeType=source.codec.mime_type, clockRate=source.codec.clock_rate,
            payloadType=source.codec.payload_type)
        self._jitter = JitterBuffer(capacity=128, is_video=kind == "video")
        self._decoder = get_decoder(self._source_codec)
        self._encoder = get_encoder(RTCRtpCodecParameters(
            mimeType=target_mime, clockRate=CLOCK_RATES[target_mime.lower()],
            payloadType=OUTPUT_PAYLOAD_TYPE))
        counters.decoders += 1
        counters.encoders += 1
        # One worker thread: frames are decoded and encoded in order, never on the loop.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kelian-transcode")
        self._out: asyncio.Queue[tuple[list[bytes], int] | None] = asyncio.Queue()
        self._sender = asyncio.ensure_future(self._send_output())
        self._seq = random32() & 0xFFFF
        info = replace(source.info,
                       publication_id=f"{source.publication_id}~{target_mime.split('/')[1].lower()}",
                       codec=target_mime)
        self.output = Producer(
            info, RtpCodec(target_mime, OUTPUT_PAYLOAD_TYPE, CLOCK_RATES[target_mime.lower()], None),
            random32(), None, {}, TranscodeUpstream(self))
        source.taps.add(self)
        source.request_keyframe()

    # The source Producer treats the transcoder as one more Consumer.
    def forward(self, incoming: Incoming) -> None:
        if self.closed:
            return
        if self.waiting_for_keyframe:
            if not incoming.keyframe:
                self.source.request_keyframe()
                return
            self.waiting_for_keyframe = False
        packet = RtpPacket.parse(bytes(incoming.data))
        try:
            packet._data = depayload(self._source_codec, packet.payload)  # type: ignore[attr-defined]
        except ValueError:
            return
        pli, frame = self._jitter.add(packet)
        if pli:
            self.source.request_keyframe()
        if frame is not None:
            force, self.force_keyframe = self.force_keyframe, False
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._worker, self._transcode, frame, force,
                                          self.target_bitrate)
            future.add_done_callback(self._queue_output)

    def _transcode(self, frame: Any, force_keyframe: bool, bitrate: int | None
                   ) -> list[tuple[list[bytes], int]]:
        """In the worker thread: decode one frame, encode what comes out."""
        if bitrate is not None and hasattr(self._encoder, "target_bitrate"):
            self._encoder.target_bitrate = bitrate
        encoded = []
        for picture in self._decoder.decode(frame):
            encoded.append(self._encoder.encode(picture, force_keyframe))
            force_keyframe = False
        return encoded

    def _queue_output(self, future: asyncio.Future[list[tuple[list[bytes], int]]]) -> None:
        if self.closed or future.cancelled():
            return
        if future.exception() is not None:
            log.warning("transcode of %s failed: %s", self.source.publication_id,
                        future.exception())
            self.force_keyframe = True
            return
        for item in future.result():
            self._out.put_nowait(item)

    async def _send_output(self) -> None:
        """Packetized frames become RTP packets of the derived Producer, in order."""
        while (item := await self._out.get()) is not None:
            payloads, timestamp = item
            for i, payload in enumerate(payloads):
                marker = 0x80 if i == len(payloads) - 1 else 0
                data = struct.pack("!BBHII", 0x80, marker | OUTPUT_PAYLOAD_TYPE, self._seq,
                                   timestamp & 0xFFFFFFFF, self.output.ssrc or 0) + payload
                self._seq = (self._seq + 1) & 0xFFFF
                self.output.on_rtp(data, read_header(data))

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.source.taps.discard(self)
        self._out.put_nowait(None)
        await asyncio.gather(self._sender, return_exceptions=True)
        self._worker.shutdown(wait=False, cancel_futures=True)
