"""The relay forwards RTP between real aiortc peers (ICE, DTLS, SRTP on loopback) unchanged."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict

import pytest
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from media.interface import CloseReason, MediaError, MediaEvent, PublicationAdded, SourceLabel
from media.relay.glue import ForwardingReceiver, ForwardingSender
from media.relay.room import RelayRoom, RelayService
from media.rtp.header import RtpError, check_extensions, read_header
from media.rtp.keyframes import keyframe_test
from tests.helpers import eventually

Captured = dict[int, list[tuple[int, int, bytes]]]  # ssrc -> [(payload type, seq, payload)]


def _peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def _capture_sent(pc: RTCPeerConnection, into: Captured) -> None:
    dtls = pc.getTransceivers()[0].sender.transport
    original = dtls._send_rtp

    async def send(data: bytes) -> None:
        if not 192 <= data[1] <= 223:  # not RTCP
            header = read_header(data)
            into[header.ssrc].append((header.payload_type, header.sequence_number,
                                      data[header.payload_at:]))
        await original(data)

    dtls._send_rtp = send


def _capture_received(pc: RTCPeerConnection, into: Captured) -> None:
    dtls = pc.getTransceivers()[0].receiver.transport
    original = dtls._handle_rtp_data

    async def handle(data: bytes, arrival_time_ms: int) -> None:
        header = read_header(data)
        into[header.ssrc].append((header.payload_type, header.sequence_number,
                                  data[header.payload_at:]))
        await original(data, arrival_time_ms)

    dtls._handle_rtp_data = handle


async def _publish(room: RelayRoom, events: list[MediaEvent], video_codec: str = "video/VP8"
                   ) -> tuple[RTCPeerConnection, Captured]:
    publisher = _peer()
    publisher.addTrack(VideoStreamTrack())
    publisher.addTrack(AudioStreamTrack())
    video = publisher.getTransceivers()[0]
    video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                               if c.mimeType.lower() in (video_codec.lower(), "video/rtx")])
    await publisher.setLocalDescription(await publisher.createOffer())
    answer = await room.publish("teacher", publisher.localDescription.sdp,
                                {"0": SourceLabel.camera, "1": SourceLabel.microphone})
    sent: Captured = defaultdict(list)
    _capture_sent(publisher, sent)
    await publisher.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await eventually(lambda: sum(isinstance(e, PublicationAdded) for e in events) == 2, timeout=10)
    return publisher, sent


async def _subscribe(room: RelayRoom, name: str) -> tuple[RTCPeerConnection, Captured]:
    ids = [p.publication_id for p in room.publications()]
    offer = await room.subscribe(name, ids)
    assert offer is not None
    subscriber = _peer()
    await subscriber.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    received: Captured = defaultdict(list)
    _capture_received(subscriber, received)
    await subscriber.setLocalDescription(await subscriber.createAnswer())
    await room.accept_answer(name, subscriber.localDescription.sdp)
    return subscriber, received


def _relay_transceivers(room: RelayRoom) -> list[RTCRtpTransceiver]:
    pcs = [t.pc for t in list(room._publishers.values()) + list(room._subscribers.values())]
    return [t for pc in pcs for t in pc.getTransceivers()]


def _decoder_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.endswith("-decoder")}


@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_three_subscribers_get_the_publishers_payloads_unchanged_keyframe_first(
    codec: str,
) -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("lesson-1", events.append)
    clients: list[RTCPeerConnection] = []
    earlier_decoders = _decoder_threads()  # other tests' clients may still be winding down
    try:
        publisher, sent = await _publish(room, events, codec)
        clients.append(publisher)
        received: list[Captured] = []
        for name in ("point-a", "point-b", "point-c"):
            subscriber, got = await _subscribe(room, name)
            clients.append(subscriber)
            received.append(got)

        video = next(p for p in room.publications() if p.kind == "video")
        assert video.codec.lower() == codec.lower()
        starts_keyframe = keyframe_test(codec)

        def every_subscriber_has_video_and_audio() -> bool:
            return all(len(got) == 2 and min(len(v) for v in got.values()) > 30
                       for got in received)

        await eventually(every_subscriber_has_video_and_audio, timeout=15)

        sent_streams = {ssrc: [payload for _, _, payload in packets]
                        for ssrc, packets in sent.items()}
        for got in received:
            for packets in got.values():
                payloads = [payload for _, _, payload in packets]
                source = next(s for s in sent_streams.values() if payloads[0] in s)
                start = source.index(payloads[0])
                # Same bytes in the same order: nothing decoded, re-encoded or reordered.
                assert payloads == source[start : start + len(payloads)]
                seqs = [seq for _, seq, _ in packets]
                assert all((b - a) % 65536 == 1 for a, b in zip(seqs, seqs[1:], strict=False))
            video_sent = sent_streams[publisher.getTransceivers()[0].sender._ssrc]
            first_video = next(p for p in got.values() if p[0][2] in video_sent)
            assert starts_keyframe(first_video[0][2])  # the first packet starts a keyframe

        # Nothing on the relay's side can decode or encode: its receivers and senders are the
        # forwarding ones, and the only decoder threads are the subscribers' own (2 each).
        relay_receivers = [t.receiver for t in _relay_transceivers(room)
                           if t.direction == "recvonly"]
        relay_senders = [t.sender for t in _relay_transceivers(room) if t.direction == "sendonly"]
        assert len(relay_receivers) == 2 and len(relay_senders) == 6
        assert all(isinstance(r, ForwardingReceiver) for r in relay_receivers)
        assert all(isinstance(s, ForwardingSender) for s in relay_senders)
        assert len(_decoder_threads() - earlier_decoders) == 6
        assert room.stats().decoders_started == 0 and room.stats().encoders_started == 0
        # The publisher's RTP skipped aiortc's reading task once SRTP was set up: its count
        # of datagrams read holds the handshake, RTCP and the first packets only.
        dtls = room._publishers["teacher"].pc.getTransceivers()[0].receiver.transport
        forwarded = sum(producer.packets for producer in room._producers.values())
        assert dtls._RTCDtlsTransport__rx_packets < forwarded / 2
    finally:
        await service.close()
        for pc in clients:
            await pc.close()


@pytest.mark.parametrize("sdp", ["", "garbage", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"])
async def test_malformed_offers_are_refused_with_a_media_error(sdp: str) -> None:
    service = RelayService()
    room = await service.open_room("lesson-2", lambda event: None)
    try:
        with pytest.raises(MediaError) as err:
            await room.publish("teacher", sdp, {})
        assert err.value.code == "bad_sdp"
        assert room.publications() == []
    finally:
        await service.close()


async def test_subscribing_to_an_unknown_publication_is_refused() -> None:
    service = RelayService()
    room = await service.open_room("lesson-3", lambda event: None)
    try:
        with pytest.raises(MediaError) as err:
            await room.subscribe("point-a", ["pub-nope"])
        assert err.value.code == "unknown_publication"
    finally:
        await service.close()


async def test_the_close_cascade_ends_publications_and_subscriptions() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("lesson-4", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        publisher, _ = await _publish(room, events)
        clients.append(publisher)
        subscriber, _ = await _subscribe(room, "point-a")
        clients.append(subscriber)
        await room.remove_participant("teacher", CloseReason.participant_left)
        assert room.publications() == []
        assert room._subscribers["point-a"].consumers == {}
        await service.close()
        assert room.closed and room._subscribers == {} and room._publishers == {}
    finally:
        await service.close()
        for pc in clients:
            await pc.close()
        await asyncio.sleep(0)


async def test_subscription_stats_carry_packets_and_a_round_trip_time() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("lesson-5", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        publisher, _ = await _publish(room, events)
        clients.append(publisher)
        subscriber, _ = await _subscribe(room, "point-a")
        clients.append(subscriber)

        def measured() -> bool:
            subscriptions = room.stats().subscriptions.values()
            return len(subscriptions) == 2 and all(
                s.packets > 0 and s.rtt_ms is not None for s in subscriptions)

        # Sender and receiver reports go out every 0.5–1.5 s.
        await eventually(measured, timeout=15)
        for stats in room.stats().subscriptions.values():
            assert stats.rtt_ms is not None and 0 <= stats.rtt_ms < 1000  # loopback
        for stats in room.stats().publications.values():
            assert stats.packets > 0 and stats.bytes > 0
    finally:
        await service.close()
        for pc in clients:
            await pc.close()


async def test_packets_with_garbled_header_extensions_are_dropped_and_the_rest_flows() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("lesson-6", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        publisher, _ = await _publish(room, events)
        clients.append(publisher)
        # Between decryption and the relay: every 3rd video packet's first extension element
        # claims 16 bytes, more than its block holds (the block's own length stays valid).
        transport = room._publishers["teacher"]
        dtls = transport.pc.getTransceivers()[0].receiver.transport
        original = dtls._handle_rtp_data
        video_ssrc = publisher.getTransceivers()[0].sender._ssrc
        garbled: set[bytes] = set()

        async def garble(data: bytes, arrival_time_ms: int) -> None:
            header = read_header(data)
            if (header.ssrc == video_ssrc and header.has_extensions
                    and header.sequence_number % 3 == 0):
                first = header.extensions_at + 4
                data = data[:first] + bytes([data[first] | 0x0F]) + data[first + 1:]
                garbled.add(data[header.payload_at:])
            await original(data, arrival_time_ms)

        dtls._handle_rtp_data = garble
        subscriber, received = await _subscribe(room, "point-a")
        clients.append(subscriber)
        receiving = subscriber.getTransceivers()[0].receiver.transport
        deliver = receiving._handle_rtp_data
        malformed = 0

        async def check(data: bytes, arrival_time_ms: int) -> None:
            nonlocal malformed
            try:
                check_extensions(data, read_header(data))
            except RtpError:
                malformed += 1
            await deliver(data, arrival_time_ms)

        receiving._handle_rtp_data = check

        def plenty() -> bool:
            return len(received) == 2 and min(len(p) for p in received.values()) > 60

        await eventually(plenty, timeout=15)
        assert len(garbled) > 10
        assert transport.bad_packets >= len(garbled) - 2  # a few may predate the Producers
        # The subscriber got well-formed packets only (a garbled one's payload may still come,
        # as the relay NACKs the gap and the publisher resends it on RTX), and the
        # publisher's connection and Publications survived them.
        assert malformed == 0
        assert len(room.publications()) == 2
        assert not any(isinstance(e, MediaError) for e in events)
    finally:
        await service.close()
        for pc in clients:
            await pc.close()
