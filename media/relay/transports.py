"""A participant's two Transports: one it publishes on, one the relay sends its Subscriptions on."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters, RTCRtpSendParameters
from aiortc.rtp import AnyRtcpPacket, RtcpReceiverInfo

from ..interface import MediaError, PublicationInfo, SourceLabel, TrackKind
from ..rtp.header import RtpError, read_header, unwrap_rtx
from .bandwidth import LinkState
from .consumer import Consumer
from .glue import (
    ForwardingReceiver,
    ForwardingSender,
    add_sending_transceiver,
    dtls_transport_of,
    install_receivers,
    intercept_rtp,
    prefer_codecs,
)
from .producer import Producer, RtpCodec

if TYPE_CHECKING:
    from .room import RelayRoom

log = logging.getLogger("kelian.relay.transport")

FORWARDABLE = {"audio": ["audio/opus"], "video": ["video/VP8", "video/H264"]}


def new_peer_connection() -> RTCPeerConnection:
    # No STUN: the relay's own host candidates are what clients reach; TURN comes later.
    # max-bundle: aiortc's default ("balanced") puts a second m-line of a kind on the first
    # such m-line's transport and then skips it when the BUNDLE group moves the others to
    # m-line 0's, so with [audio, video, video] the third m-line never connected.
    return RTCPeerConnection(RTCConfiguration(iceServers=[],
                                              bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


async def apply_description(pc: RTCPeerConnection, sdp: str, kind: str) -> None:
    if not isinstance(sdp, str) or "m=" not in sdp:
        raise MediaError("bad_sdp", f"the {kind} has no media section")
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
    except MediaError:
        raise
    except Exception as exc:  # aiortc raises ValueError, KeyError, … on malformed SDP
        raise MediaError("bad_sdp", f"the {kind} could not be applied: {exc}") from None


class PublisherTransport:
    """The participant's send Transport: its m-lines become Producers."""

    def __init__(self, room: RelayRoom, participant_id: str):
        self.room = room
        self.participant_id = participant_id
        self.pc = new_peer_connection()
        self.sources: dict[str, SourceLabel] = {}
        self.producers: dict[ForwardingReceiver, Producer] = {}
        self._by_ssrc: dict[int, Producer] = {}
        self._by_rtx_ssrc: dict[int, Producer] = {}
        self.bad_packets = 0
        self._intercepted: set[int] = set()

    async def negotiate(self, offer_sdp: str, sources: dict[str, SourceLabel]) -> str:
        await apply_description(self.pc, offer_sdp, "offer")
        transceivers = [t for t in self.pc.getTransceivers() if t.direction != "inactive"]
        if not transceivers:
            raise MediaError("bad_sdp", "the offer publishes no audio or video")
        self.sources.update(sources)
        for transceiver in transceivers:
            prefer_codecs(transceiver, FORWARDABLE.get(transceiver.kind, []))
        install_receivers(self.pc, self)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        for transceiver in self.pc.getTransceivers():
            dtls = dtls_transport_of(transceiver)
            if id(dtls) not in self._intercepted:
                self._intercepted.add(id(dtls))
                intercept_rtp(dtls, self.handle_rtp)
        return self.pc.localDescription.sdp

    async def handle_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        """Every decrypted packet of this Transport, before aiortc would parse it."""
        try:
            header = read_header(data)
            producer = self._by_ssrc.get(header.ssrc)
            if producer is None:
                rtx_of = self._by_rtx_ssrc.get(header.ssrc)
                if rtx_of is None or rtx_of.ssrc is None:
                    return
                packet = unwrap_rtx(data, header, rtx_of.codec.payload_type, rtx_of.ssrc)
                header = read_header(packet)
                await rtx_of.on_rtp(packet, header)
                return
        except RtpError:
            self.bad_packets += 1
            return
        await producer.on_rtp(data, header)

    # ReceiverListener --------------------------------------------------------------------------

    def receiver_started(self, receiver: ForwardingReceiver,
                         parameters: RTCRtpReceiveParameters) -> None:
        codecs = [c for c in parameters.codecs if not c.mimeType.lower().endswith("/rtx")]
        if not codecs:
            log.warning("%s: m-line %s has no forwardable codec", self.participant_id,
                        receiver.mid)
            return
        primary = codecs[0]
        rtx_pt = next((c.payloadType for c in parameters.codecs
                       if c.mimeType.lower().endswith("/rtx")
                       and c.parameters.get("apt") == primary.payloadType), None)
        encoding = parameters.encodings[0] if parameters.encodings else None
        ssrc = encoding.ssrc if encoding else None
        rtx_ssrc = encoding.rtx.ssrc if encoding and encoding.rtx else None
        default = SourceLabel.microphone if receiver.kind == "audio" else SourceLabel.camera
        info = PublicationInfo(
            publication_id=f"pub-{uuid.uuid4().hex[:12]}",
            participant_id=self.participant_id,
            kind=TrackKind(receiver.kind),
            source=self.sources.get(receiver.mid or "", default),
            codec=primary.mimeType,
        )
        producer = Producer(
            info,
            RtpCodec(primary.mimeType, primary.payloadType or 0, primary.clockRate, rtx_pt),
            ssrc, rtx_ssrc, {ext.id: ext.uri for ext in parameters.headerExtensions}, receiver,
            on_audio_level=self.room.audio_level if receiver.kind == "audio" else None,
        )
        self.producers[receiver] = producer
        if ssrc is not None:
            self._by_ssrc[ssrc] = producer
        if rtx_ssrc is not None:
            self._by_rtx_ssrc[rtx_ssrc] = producer
        if ssrc is None:
            log.warning("%s: m-line %s signals no SSRC; it cannot be forwarded yet",
                        self.participant_id, receiver.mid)
        self.room.producer_added(producer)

    def receiver_rtcp(self, receiver: ForwardingReceiver, packet: AnyRtcpPacket) -> None:
        pass  # Sender Reports from the publisher: used for lip sync in a later step

    def receiver_stopped(self, receiver: ForwardingReceiver) -> None:
        producer = self.producers.pop(receiver, None)
        if producer is not None:
            self.room.producer_closed(producer)

    async def close(self) -> list[Producer]:
        producers = list(self.producers.values())
        self.producers.clear()
        await self.pc.close()
        return producers


class SubscriberTransport:
    """The participant's receive Transport: one sendonly m-line per Consumer."""

    def __init__(self, room: RelayRoom, participant_id: str,
                 on_estimate: Callable[[SubscriberTransport], None] | None = None):
        self.room = room
        self.participant_id = participant_id
        self.pc = new_peer_connection()
        self.consumers: dict[str, Consumer] = {}  # by publication id
        self.stale = False  # an m-line went inactive since the last offer
        self._by_sender: dict[ForwardingSender, Consumer] = {}
        self._transceivers: dict[str, RTCRtpTransceiver] = {}
        self._on_estimate = on_estimate
        self.estimate_bps: int | None = None
        self.link = LinkState()

    def add(self, producer: Producer, publication_id: str) -> Consumer:
        """Consume `producer` as the Subscription to `publication_id` (the Publication itself,
        or its shared transcode). Its m-line's msid is "<publisher> <publication id>", so a
        browser knows whose track it is and which Publication (docs/signalling.md)."""
        transceiver, sender = add_sending_transceiver(
            self.pc, producer.info.kind.value, producer.codec.mime_type, self,
            msid=(producer.info.participant_id, publication_id))
        consumer = Consumer(producer, sender, self.participant_id)
        self.consumers[publication_id] = consumer
        self._by_sender[sender] = consumer
        self._transceivers[publication_id] = transceiver
        producer.consumers.add(consumer)
        return consumer

    def remove(self, publication_id: str) -> Consumer | None:
        consumer = self.consumers.pop(publication_id, None)
        if consumer is None:
            return None
        consumer.closed = True
        consumer.producer.consumers.discard(consumer)
        self._by_sender.pop(consumer.sender, None)
        transceiver = self._transceivers.pop(publication_id)
        transceiver.direction = "inactive"
        self.stale = True  # the participant still thinks this m-line is live
        return consumer

    async def offer(self) -> str:
        self.stale = False
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        if self.pc.signalingState != "have-local-offer":
            raise MediaError("unexpected_answer", "no offer from the relay is waiting for an answer")
        await apply_description(self.pc, answer_sdp, "answer")

    # SenderListener ----------------------------------------------------------------------------

    def sender_started(self, sender: ForwardingSender, parameters: RTCRtpSendParameters) -> None:
        consumer = self._by_sender.get(sender)
        if consumer is not None:
            consumer.configure(parameters)

    def sender_nack(self, sender: ForwardingSender, lost: list[int]) -> None:
        consumer = self._by_sender.get(sender)
        if consumer is not None:
            consumer.retransmit(lost)

    def sender_keyframe_request(self, sender: ForwardingSender) -> None:
        consumer = self._by_sender.get(sender)
        if consumer is not None:
            consumer.keyframes_requested += 1
            consumer.producer.request_keyframe()

    def sender_estimate(self, sender: ForwardingSender, bitrate: int) -> None:
        consumer = self._by_sender.get(sender)
        if consumer is not None:
            consumer.estimate_bps = bitrate
        self.estimate_bps = bitrate
        if self._on_estimate is not None:
            self._on_estimate(self)

    def sender_report(self, sender: ForwardingSender, report: RtcpReceiverInfo) -> None:
        consumer = self._by_sender.get(sender)
        if consumer is not None:
            consumer.packets_lost = report.packets_lost
            consumer.jitter = report.jitter

    async def close(self) -> list[Consumer]:
        consumers = list(self.consumers.values())
        for publication_id in list(self.consumers):
            self.remove(publication_id)
        await self.pc.close()
        return consumers
