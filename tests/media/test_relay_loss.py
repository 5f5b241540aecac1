"""Loss recovery through the relay: NACKs answered from the Consumer's history (over RTX),
and losses on the publisher's leg NACKed upstream and repaired before forwarding."""

from __future__ import annotations

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

from media.interface import MediaEvent
from media.relay.room import RelayService
from media.relay.transports import PublisherTransport
from media.rtp.header import read_header
from tests.helpers import eventually
from tests.media.test_relay_forwarding import _peer, _publish

DROP_EVERY = 7  # drop the first copy of every 7th video packet


def _lossy_receive(pc: RTCPeerConnection, video_pt: int, delivered: dict[int, bytes],
                   dropped: set[int], rtx_pt: int) -> None:
    """Drop the first copy of some video packets before aiortc sees them; record what arrives,
    unwrapping retransmissions to their original sequence numbers."""
    dtls = pc.getTransceivers()[0].receiver.transport
    original = dtls._handle_rtp_data

    async def handle(data: bytes, arrival_time_ms: int) -> None:
        header = read_header(data)
        payload = data[header.payload_at : len(data) - header.padding]
        if header.payload_type == video_pt:
            seq = header.sequence_number
            # Never the first packet: a receiver cannot know it missed what came before it.
            if delivered and seq % DROP_EVERY == 0 and seq not in dropped:
                dropped.add(seq)
                return
            delivered[seq] = payload
        elif header.payload_type == rtx_pt and len(payload) >= 2:
            delivered[(payload[0] << 8) | payload[1]] = payload[2:]
        await original(data, arrival_time_ms)

    dtls._handle_rtp_data = handle


async def test_subscriber_losses_are_repaired_from_the_relays_history() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("loss-1", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        publisher, _ = await _publish(room, events)
        clients.append(publisher)
        video = next(p for p in room.publications() if p.kind == "video")
        offer = await room.subscribe("point-a", [video.publication_id])
        assert offer is not None
        subscriber = _peer()
        clients.append(subscriber)
        await subscriber.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await subscriber.setLocalDescription(await subscriber.createAnswer())
        answer = SessionDescription.parse(subscriber.localDescription.sdp)
        codecs = answer.media[0].rtp.codecs
        video_pt = next(c.payloadType for c in codecs if c.mimeType.lower() == "video/vp8")
        rtx_pt = next(c.payloadType for c in codecs if c.mimeType.lower() == "video/rtx")
        delivered: dict[int, bytes] = {}
        dropped: set[int] = set()
        _lossy_receive(subscriber, video_pt, delivered, dropped, rtx_pt)
        await room.accept_answer("point-a", subscriber.localDescription.sdp)

        await eventually(lambda: len(dropped) >= 5, timeout=15)
        # Every dropped packet comes back (as RTX) with the same bytes the others carry.
        await eventually(lambda: dropped <= set(delivered), timeout=10)
        consumer = room._subscribers["point-a"].consumers[video.publication_id]
        assert consumer.retransmitted >= len(dropped) - 1
        assert consumer.nacks >= 1
    finally:
        await service.close()
        for pc in clients:
            await pc.close()


async def test_publisher_losses_are_nacked_upstream_and_forwarded_once_repaired() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("loss-2", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        publisher, sent = await _publish(room, events)
        clients.append(publisher)
        transport: PublisherTransport = room._publishers["teacher"]
        video = next(p for p in room.publications() if p.kind == "video")
        producer = room._producers[video.publication_id]
        dropped: set[int] = set()
        original = transport.handle_rtp

        async def lossy(data: bytes, arrival_time_ms: int) -> None:
            header = read_header(data)
            if (header.ssrc == producer.ssrc and header.sequence_number % DROP_EVERY == 0
                    and header.sequence_number not in dropped):
                dropped.add(header.sequence_number)
                return
            original(data)

        # Loss between the publisher and the relay: drop before the relay's handler sees it.
        transport.pc.getTransceivers()[0].receiver.transport._handle_rtp_data = lossy

        offer = await room.subscribe("point-a", [video.publication_id])
        assert offer is not None
        subscriber = _peer()
        clients.append(subscriber)
        await subscriber.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await subscriber.setLocalDescription(await subscriber.createAnswer())
        await room.accept_answer("point-a", subscriber.localDescription.sdp)

        await eventually(lambda: len(dropped) >= 5, timeout=15)
        # The relay asked the publisher again and got every dropped packet back over RTX.
        await eventually(lambda: producer.nacks_sent >= 1 and producer.stats().packets_lost == 0,
                         timeout=10)
        video_ssrc = publisher.getTransceivers()[0].sender._ssrc
        sent_seqs = {seq for _, seq, _ in sent[video_ssrc]}
        assert dropped <= sent_seqs
    finally:
        await service.close()
        for pc in clients:
            await pc.close()
