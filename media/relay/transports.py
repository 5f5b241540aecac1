"""A participant's two Transports: one it publishes on, one the relay sends its Subscriptions on."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from ..rtp.header import RtpError, check_extensions, read_header, unwrap_rtx
from .bandwidth import LinkState
from .consumer import Consumer
from .glue import (
    ForwardingReceiver,
    ForwardingSender,
    add_sending_transceiver,
    answer_sending,
    dtls_transport_of,
    install_receivers,
    intercept_rtp,
    offered_codecs,
    offered_to_receive,
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
        self._intercept()
        return self.pc.localDescription.sdp

    def _intercept(self) -> None:
        for transceiver in self.pc.getTransceivers():
            dtls = dtls_transport_of(transceiver)
            if id(dtls) not in self._intercepted:
                self._intercepted.add(id(dtls))
                intercept_rtp(dtls, self.handle_rtp)

    def handle_rtp(self, data: bytes) -> None:
        """Every decrypted packet of this Transport, before aiortc would parse it."""
        try:
            header = read_header(data)
            if header.has_extensions:
                check_extensions(data, header)  # every Consumer maps them: fail here, once
            producer = self._by_ssrc.get(header.ssrc)
            if producer is None:
                rtx_of = self._by_rtx_ssrc.get(header.ssrc)
                if rtx_of is None or rtx_of.ssrc is None:
                    return
                packet = unwrap_rtx(data, header, rtx_of.codec.payload_type, rtx_of.ssrc)
                header = read_header(packet)
                rtx_of.on_rtp(packet, header)
                return
        except RtpError:
            self.bad_packets += 1
            return
        producer.on_rtp(data, header)

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
        info = PublicationInfo(
            publication_id=f"pub-{uuid.uuid4().hex[:12]}",
            participant_id=self.participant_id,
            kind=TrackKind(receiver.kind),
            source=self._label(receiver),
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
        self.announce(producer)

    def announce(self, producer: Producer) -> None:
        self.room.producer_added(producer)

    def _label(self, receiver: ForwardingReceiver) -> SourceLabel:
        default = SourceLabel.microphone if receiver.kind == "audio" else SourceLabel.camera
        return self.sources.get(receiver.mid or "", default)

    def moved(self, room: RelayRoom, participant_id: str, sources: dict[str, SourceLabel]
              ) -> None:
        """Now in `room` as `participant_id` (RelayRoom.hand_over)."""
        self.room, self.participant_id = room, participant_id
        self.sources.update(sources)
        for receiver, producer in self.producers.items():
            producer.moved(participant_id, self._label(receiver),
                           room.audio_level if receiver.kind == "audio" else None)

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


class PullTransport(PublisherTransport):
    """A send Transport the relay asks for itself: it offers receive-only m-lines to another
    relay (an origin node's WHEP endpoint, for a cascaded lesson), and what arrives on them
    becomes Producers, as a publisher's m-lines do. A Producer is announced at its first packet:
    an m-line the other side keeps silent (no courseware shown) is no Publication here."""

    def __init__(self, room: RelayRoom, participant_id: str):
        super().__init__(room, participant_id)
        self._unheard: set[Producer] = set()

    def announce(self, producer: Producer) -> None:
        self._unheard.add(producer)

    def handle_rtp(self, data: bytes) -> None:
        if self._unheard:
            self._hear(data)
        super().handle_rtp(data)

    def _hear(self, data: bytes) -> None:
        try:
            ssrc = read_header(data).ssrc
        except RtpError:
            return
        for producer in list(self._unheard):
            if producer.ssrc == ssrc:
                self._unheard.discard(producer)
                self.room.producer_added(producer)

    def receiver_stopped(self, receiver: ForwardingReceiver) -> None:
        producer = self.producers.get(receiver)
        if producer is not None and producer in self._unheard:  # never announced
            self._unheard.discard(producer)
            del self.producers[receiver]
            producer.close()
            return
        super().receiver_stopped(receiver)

    async def offer(self, sources: Sequence[SourceLabel]) -> str:
        """One receive-only m-line per source (microphone: audio; others: video)."""
        for source in sources:
            kind = "audio" if source is SourceLabel.microphone else "video"
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            prefer_codecs(transceiver, FORWARDABLE[kind])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.sources = {t.mid: source for t, source
                        in zip(self.pc.getTransceivers(), sources, strict=True) if t.mid}
        install_receivers(self.pc, self)
        self._intercept()
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await apply_description(self.pc, answer_sdp, "answer")
        self._intercept()


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


# Video m-lines are fed camera first, then courseware; audio m-lines by the microphone.
PLAYER_ORDER = {SourceLabel.camera: 0, SourceLabel.microphone: 0, SourceLabel.screen: 1}
Adapt = Callable[[Producer, str], Producer]  # a Producer in (or transcoded to) a mime type


@dataclass(eq=False)
class Slot:
    """One m-line of a player's offer the relay sends on; fed by one Producer at a time."""

    kind: TrackKind
    mime_type: str
    sender: ForwardingSender
    parameters: RTCRtpSendParameters | None = None  # once the sender started
    consumer: Consumer | None = None  # made when first fed, then switched between Producers
    publication_id: str | None = None  # what it carries now


class PlayerTransport(SubscriberTransport):
    """A receive Transport the participant offered itself (a WHEP player): the relay answers.

    Its m-lines are fixed by that offer and never renegotiated, so a change of Publications
    switches what feeds each m-line (`place`) instead of adding or removing m-lines: the player
    keeps receiving when the teacher's camera is replaced.
    """

    def __init__(self, room: RelayRoom, participant_id: str,
                 on_estimate: Callable[[SubscriberTransport], None] | None = None):
        super().__init__(room, participant_id, on_estimate)
        self.slots: list[Slot] = []

    async def answer(self, offer_sdp: str, hoped: Sequence[Producer]) -> str:
        """Answer the player's offer. Each m-line that asks to receive becomes a Slot in the
        codec of the Publication `place` will likely put there (from `hoped`), else in the
        first codec of its offer the relay forwards; any other m-line is inactive."""
        await apply_description(self.pc, offer_sdp, "offer")
        queues = {kind: [p.codec.mime_type for p in self._ordered(hoped) if p.info.kind is kind]
                  for kind in TrackKind}
        for transceiver in self.pc.getTransceivers():
            kind = TrackKind(transceiver.kind)
            offered = [m.lower() for m in offered_codecs(transceiver)]
            forwardable = [m for m in FORWARDABLE[kind.value] if m.lower() in offered]
            if not offered_to_receive(transceiver) or not forwardable:
                transceiver.direction = "inactive"  # never a receiver (and its decoder) here
                continue
            queue = queues[kind]
            wish = queue.pop(0) if queue else None
            mime = wish if wish is not None and wish.lower() in offered else \
                min(forwardable, key=lambda m: offered.index(m.lower()))
            index = sum(1 for slot in self.slots if slot.kind is kind)
            sender = answer_sending(transceiver, mime, self,
                                    msid=(f"kelian-{self.participant_id}", f"{kind.value}-{index}"))
            self.slots.append(Slot(kind, mime, sender))
        if not self.slots:
            raise MediaError("bad_sdp", "the offer receives no audio or video in a codec the "
                                        "relay forwards (Opus, VP8, H.264)")
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        return self.pc.localDescription.sdp

    @staticmethod
    def _ordered(producers: Sequence[Producer]) -> list[Producer]:
        return sorted(producers, key=lambda p: (PLAYER_ORDER.get(p.info.source, 2),
                                                p.publication_id))

    def place(self, producers: Sequence[Producer], adapt: Adapt) -> None:
        """Feed the n-th m-line of each kind from the n-th Publication of that kind (camera
        before courseware); m-lines left over go silent, Publications left over are not sent."""
        queues = {kind: [p for p in self._ordered(producers) if p.info.kind is kind]
                  for kind in TrackKind}
        for slot in self.slots:
            queue = queues[slot.kind]
            producer = queue.pop(0) if queue else None
            if producer is None:
                self._detach(slot)
            elif slot.publication_id != producer.publication_id:
                self._detach(slot)
                self._feed(slot, producer.publication_id, adapt(producer, slot.mime_type))

    def _feed(self, slot: Slot, publication_id: str, source: Producer) -> None:
        consumer = slot.consumer
        if consumer is None:
            consumer = slot.consumer = Consumer(source, slot.sender, self.participant_id)
            self._by_sender[slot.sender] = consumer
            if slot.parameters is not None:
                consumer.configure(slot.parameters)
        else:
            consumer.switch(source)
        slot.publication_id = publication_id
        self.consumers[publication_id] = consumer
        source.consumers.add(consumer)

    def _detach(self, slot: Slot) -> Consumer | None:
        consumer, publication_id = slot.consumer, slot.publication_id
        if consumer is None or publication_id is None:
            return None
        consumer.closed = True  # silent until fed again
        consumer.producer.consumers.discard(consumer)
        self.consumers.pop(publication_id, None)
        slot.publication_id = None
        return consumer

    def add(self, producer: Producer, publication_id: str) -> Consumer:
        raise MediaError("fixed_mlines", "a player's m-lines are fed by place()")

    def remove(self, publication_id: str) -> Consumer | None:
        """The Publication ended: its m-line goes silent, and stays, for `place` to refill."""
        slot = next((s for s in self.slots if s.publication_id == publication_id), None)
        return self._detach(slot) if slot is not None else None

    async def offer(self) -> str:
        raise MediaError("fixed_mlines", "the relay makes no offers to a player")

    async def accept(self, answer_sdp: str) -> None:
        raise MediaError("unexpected_answer", "a player made the offer; it sends no answer")

    def sender_started(self, sender: ForwardingSender, parameters: RTCRtpSendParameters) -> None:
        slot = next((s for s in self.slots if s.sender is sender), None)
        if slot is not None:
            slot.parameters = parameters
        super().sender_started(sender, parameters)

    async def close(self) -> list[Consumer]:
        consumers = [s.consumer for s in self.slots if s.consumer is not None]
        for slot in self.slots:
            self._detach(slot)
        await self.pc.close()
        return consumers
