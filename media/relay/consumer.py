"""A Consumer: the relay's sending end of one Subscription. It rewrites and forwards packets."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiortc.rtcrtpparameters import RTCRtpSendParameters

from ..interface import TrackKind, TrackStats
from ..rtp.header import RtpHeader, stamp, wrap_rtx
from ..rtp.numbers import SeqMapper, TimestampMapper
from .producer import mapping_key

if TYPE_CHECKING:
    from .glue import ForwardingSender
    from .producer import Incoming, Producer

# Packets kept per Consumer to answer NACKs: ~1 s of 720p video at 8 Mbit/s. Browsers do not
# NACK audio (aiortc and Chrome negotiate `nack` for video only): a few packets.
HISTORY_SIZE = {TrackKind.video: 1024, TrackKind.audio: 16}
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"


class Consumer:
    def __init__(self, producer: Producer, sender: ForwardingSender, subscriber_id: str):
        self.producer = producer
        self.sender = sender
        self.subscriber_id = subscriber_id
        self.ready = False  # negotiated: payload type and extension ids known
        self.paused = False
        self.closed = False
        self.waiting_for_keyframe = producer.needs_keyframe
        self._seq = SeqMapper()
        self._ts = TimestampMapper()
        self._payload_type = producer.codec.payload_type
        self._rtx_payload_type: int | None = None
        self._rtx_seq = 0
        self._ids_by_uri: dict[str, int] = {}  # the subscriber's negotiated extension ids
        self._extension_ids: dict[int, int] = {}
        self._extension_key = mapping_key({})
        # (wire sequence number, wire timestamp, mapped packet, its header) by sequence number
        self._history_size = HISTORY_SIZE[producer.info.kind]
        self._history: list[tuple[int, int, bytearray, RtpHeader] | None] = \
            [None] * self._history_size
        self.packets = 0
        self.bytes = 0
        self.retransmitted = 0
        self.keyframes_requested = 0
        self.nacks = 0
        self.estimate_bps: int | None = None
        self.packets_lost = 0
        self.jitter = 0

    @property
    def publication_id(self) -> str:
        return self.producer.publication_id

    def configure(self, parameters: RTCRtpSendParameters) -> None:
        """The subscriber's negotiated numbers: payload types and header extension ids."""
        primary = parameters.codecs[0]
        self._payload_type = primary.payloadType or self._payload_type
        for codec in parameters.codecs:
            if (codec.mimeType.lower().endswith("/rtx")
                    and codec.parameters.get("apt") == primary.payloadType):
                self._rtx_payload_type = codec.payloadType
        self._ids_by_uri = {ext.uri: ext.id for ext in parameters.headerExtensions}
        self._map_extensions()
        self.ready = True
        self.producer.request_keyframe()

    def _map_extensions(self) -> None:
        ids_by_uri = self._ids_by_uri
        # The mid extension names the publisher's m-line, meaningless to the subscriber:
        # blank it (the subscriber demultiplexes by the SSRC in its SDP).
        self._extension_ids = {
            producer_id: ids_by_uri[uri]
            for producer_id, uri in self.producer.extension_uris.items()
            if uri != MID_URI and uri in ids_by_uri
        }
        self._extension_key = mapping_key(self._extension_ids)
        self.sender.clock_rate = self.producer.codec.clock_rate

    def switch(self, producer: Producer) -> None:
        """Forward another Producer (in the same codec) on this m-line, e.g. a WHEP player's,
        whose m-lines are fixed by its offer, when the teacher's camera is replaced. As after a
        pause: the numbering goes on, the timestamps jump by the time that passed, video waits
        for a keyframe. The caller moves the Consumer between the Producers' sets."""
        self.producer = producer
        self.closed = False
        if self.ready:  # negotiated: the new publisher's extension ids map to the same uris
            self._map_extensions()
        self.restart()

    def forward(self, incoming: Incoming) -> None:
        if not self.ready or self.paused or self.closed:
            return
        if self.waiting_for_keyframe:
            if not incoming.keyframe:
                self.producer.request_keyframe()
                return
            self.waiting_for_keyframe = False
        out_seq = self._seq.map(incoming.seq)
        if out_seq is None:
            return
        out_ts = self._ts.map(incoming.timestamp) & 0xFFFFFFFF
        header = incoming.header
        mapped = incoming.mapped(self._extension_key, self._extension_ids)
        wire_seq = out_seq & 0xFFFF
        # The history holds the mapped packet every Consumer shares and this one's numbers;
        # a retransmission stamps its own copy.
        self._history[wire_seq % self._history_size] = (wire_seq, out_ts, mapped, header)
        if self.sender.forward_rtp(mapped, self._payload_type, wire_seq, out_ts,
                                   incoming.arrived, header.payload_at):
            self.packets += 1
            self.bytes += len(mapped)

    def retransmit(self, lost: list[int]) -> None:
        """Answer a subscriber's NACK from history, on the RTX stream where negotiated."""
        self.nacks += 1
        for seq in lost:
            entry = self._history[seq % self._history_size]
            if entry is None or entry[0] != seq:
                continue
            _, timestamp, mapped, header = entry
            packet = stamp(mapped, ssrc=self.sender._ssrc, payload_type=self._payload_type,
                           sequence_number=seq, timestamp=timestamp)
            if self._rtx_payload_type is not None:
                # `rewrite` kept the layout, so the publisher's header offsets still apply.
                packet = wrap_rtx(packet, header, payload_type=self._rtx_payload_type,
                                  sequence_number=self._rtx_seq, ssrc=self.sender._rtx_ssrc)
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            if self.sender.send_rtp(packet, 0):
                self.retransmitted += 1

    def pause(self) -> None:
        """Stop forwarding (the subscriber's link cannot carry this Publication)."""
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self.restart()

    def restart(self) -> None:
        """Continue after packets were skipped (paused, muted) as after a source switch: the
        numbering goes on without a gap, the timestamps jump by the time that passed, and video
        waits for a keyframe."""
        last_sent_at = self.sender.last_sent_at  # 0.0 before the first packet
        elapsed = time.monotonic() - last_sent_at if last_sent_at else 0.0
        self._seq.switch_source()
        self._ts.switch_source(int(elapsed * self.producer.codec.clock_rate))
        self.waiting_for_keyframe = self.producer.needs_keyframe
        if self.waiting_for_keyframe:
            self.producer.request_keyframe()

    def stats(self) -> TrackStats:
        rtt = self.sender.rtt_s
        return TrackStats(packets=self.packets, bytes=self.bytes, packets_lost=self.packets_lost,
                          rtt_ms=rtt * 1000 if rtt is not None else None,
                          jitter_ms=self.jitter * 1000 / self.producer.codec.clock_rate,
                          bitrate_bps=float(self.estimate_bps or 0),
                          keyframes_requested=self.keyframes_requested, nacks=self.nacks)
