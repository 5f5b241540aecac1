"""Every touch of aiortc's private internals lives here, checked against the pinned version.

The relay uses aiortc for ICE, DTLS, SRTP and SDP, but not for media: on a publisher's
Transport each transceiver's receiver is replaced by a `ForwardingReceiver` (no jitter buffer,
no decoder thread) and decrypted RTP is handed over as bytes before aiortc would parse it; on a
subscriber's Transport each sender is a `ForwardingSender` (no encoder) that sends the bytes
the relay gives it and passes RTCP feedback back.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import random
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import aioice.turn
import aiortc
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.clock import current_ntp_time
from aiortc.codecs import get_capabilities
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtpCodecCapability,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    is_rtcp,
    pack_remb_fci,
    unpack_remb_fci,
)
from pylibsrtp import SRTP_MAX_TRAILER_LEN  # type: ignore[attr-defined]
from pylibsrtp._binding import ffi as srtp_ffi  # type: ignore[import-untyped]
from pylibsrtp._binding import lib as srtp_lib  # type: ignore[import-untyped]

log = logging.getLogger("kelian.relay.glue")

PINNED_AIORTC = "1.16.0"
PINNED_PYLIBSRTP = "1.0.0"  # the Route calls its libsrtp binding directly


# aioice asks for 256 KiB of receive buffer per ICE socket; one 720p keyframe is ~300 packets,
# more than that holds when the relay is descheduled for a moment (the load test saw hundreds
# of drops per window). The kernel caps the request at net.core.rmem_max.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024


# aiortc offers only ECDSA cipher suites, which need the DTLS server to hold an EC certificate.
# A WHIP encoder is often the DTLS server (`a=setup:passive`, as FFmpeg's WHIP output is), and
# one with an RSA certificate (ffmpeg -cert_file, hardware encoders) failed the handshake. The
# relay takes both; its own certificate stays ECDSA.
DTLS_CIPHERS = b":".join([
    b"ECDHE-ECDSA-AES128-GCM-SHA256", b"ECDHE-RSA-AES128-GCM-SHA256",
    b"ECDHE-ECDSA-CHACHA20-POLY1305", b"ECDHE-RSA-CHACHA20-POLY1305",
    b"ECDHE-ECDSA-AES128-SHA", b"ECDHE-RSA-AES128-SHA",
    b"ECDHE-ECDSA-AES256-SHA", b"ECDHE-RSA-AES256-SHA",
])


def _accept_rsa_peers() -> None:
    create = RTCCertificate._create_ssl_context
    if getattr(create, "kelian", False):
        return

    def with_rsa_suites(self: RTCCertificate, srtp_profiles: list[Any]) -> Any:
        context = create(self, srtp_profiles)
        context.set_cipher_list(DTLS_CIPHERS)
        return context

    with_rsa_suites.kelian = True  # type: ignore[attr-defined]
    RTCCertificate._create_ssl_context = with_rsa_suites  # type: ignore[method-assign]


def check_version() -> None:
    """Check aiortc's version and make the process-wide adjustments the relay needs."""
    if aiortc.__version__ != PINNED_AIORTC:
        raise RuntimeError(f"the relay is built against aiortc {PINNED_AIORTC}, "
                           f"found {aiortc.__version__}; re-run tests/media before changing")
    if (found := importlib.metadata.version("pylibsrtp")) != PINNED_PYLIBSRTP:
        raise RuntimeError(f"the relay is built against pylibsrtp {PINNED_PYLIBSRTP}, "
                           f"found {found}; re-run tests/media before changing")
    aioice.turn.UDP_SOCKET_BUFFER_SIZE = max(aioice.turn.UDP_SOCKET_BUFFER_SIZE,
                                             RECEIVE_BUFFER_BYTES)
    _accept_rsa_peers()


def random32() -> int:
    return random.getrandbits(32)


def dtls_transport_of(transceiver: RTCRtpTransceiver) -> RTCDtlsTransport:
    return transceiver.receiver.transport


def intercept_rtp(dtls: RTCDtlsTransport, handler: Callable[[bytes], None]) -> None:
    """Hand every decrypted RTP packet of `dtls` to `handler` as bytes; RTCP still goes
    through aiortc's router to the receivers and senders.

    Once DTLS has set up SRTP, an RTP datagram is decrypted and handed over as it arrives,
    in aioice's datagram callback: not queued for the DTLS transport's reading task (a queue,
    a task switch and three coroutines per packet). Earlier ones, and any `_handle_rtp_data`
    put in place later (tests garbling packets), take aiortc's own way."""
    async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
        handler(data)

    dtls._handle_rtp_data = handle_rtp_data  # type: ignore[method-assign]
    connection = dtls.transport._connection
    queue = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        srtp = dtls._rx_srtp
        if (srtp is None or dtls._state is not DtlsState.CONNECTED
                or dtls._handle_rtp_data is not handle_rtp_data
                or not data or not 127 < data[0] < 192 or is_rtcp(data)):
            queue(data, component)
            return
        try:
            plain = srtp.unprotect(data)
        except pylibsrtp.Error:
            return  # not ours, or replayed: aiortc drops these too
        handler(plain)

    connection.data_received = data_received


# One scratch buffer for every Route: packets are stamped and encrypted in it, in place, then
# sent straight from it. The relay is one thread and a send never yields, so one buffer is
# enough; it spares a copy into a new bytes object per packet and a second one out of SRTP.
# It holds the largest UDP payload and libsrtp's trailer after it (tag, MKI).
MAX_PLAIN_RTP = 65507
_SCRATCH = srtp_ffi.new("char[]", MAX_PLAIN_RTP + SRTP_MAX_TRAILER_LEN)
_SCRATCH_VIEW = memoryview(srtp_ffi.buffer(_SCRATCH))
_SCRATCH_LENGTH = srtp_ffi.new("int *")
_PT_SEQ_TS_SSRC = struct.Struct("!BHII")


class Route:
    """Where a subscriber's packets go, looked up once: its SRTP session, the UDP socket of the
    nominated ICE pair and the peer's address. Sending is then a copy into the scratch buffer,
    one in-place `srtp_protect` and one `sendto` system call, without asyncio's transport
    wrapper and its three coroutines per packet; aiortc's own counters of sent bytes are not
    updated."""

    __slots__ = ("dtls", "session", "srtp", "sendto", "address")

    def __init__(self, dtls: RTCDtlsTransport, session: Any,
                 sendto: Callable[[Any, Any], int], address: Any):
        self.dtls = dtls
        self.session = session  # pylibsrtp's Session: keeps `srtp` alive
        self.srtp = session._srtp[0]
        self.sendto = sendto
        self.address = address

    @classmethod
    def of(cls, dtls: RTCDtlsTransport) -> Route | None:
        """None until the Transport is connected over a nominated pair."""
        if dtls._state is not DtlsState.CONNECTED:
            return None
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            return None
        sock = pair.protocol.transport.get_extra_info("socket")
        raw = getattr(sock, "_sock", sock)  # asyncio hands out a TransportSocket wrapper
        return cls(dtls, dtls._tx_srtp, raw.sendto, pair.remote_addr)

    def send(self, data: bytes | bytearray, payload_type: int, sequence_number: int,
             timestamp: int, ssrc: int) -> bool:
        """Encrypt and send a copy of RTP packet `data` with this payload type, sequence
        number, timestamp and SSRC (as `media.rtp.header.stamp`), made in the scratch buffer.
        False when the Transport is no longer connected (the Route is then stale)."""
        if self.dtls._state is not DtlsState.CONNECTED:
            return False
        size = len(data)
        if size > MAX_PLAIN_RTP:
            return True  # never sent: too long for UDP
        view = _SCRATCH_VIEW
        view[:size] = data
        _PT_SEQ_TS_SSRC.pack_into(view, 1, (data[1] & 0x80) | payload_type, sequence_number,
                                  timestamp, ssrc)
        return self._seal_and_send(size, srtp_lib.srtp_protect)

    def send_rtcp(self, data: bytes) -> bool:
        """Encrypt and send one RTCP packet (SRTCP); False as for `send`."""
        if self.dtls._state is not DtlsState.CONNECTED:
            return False
        size = len(data)
        if size > MAX_PLAIN_RTP:
            return True
        _SCRATCH_VIEW[:size] = data
        return self._seal_and_send(size, srtp_lib.srtp_protect_rtcp)

    def _seal_and_send(self, size: int, protect: Callable[[Any, Any, Any], int]) -> bool:
        """Protect the scratch buffer's first `size` bytes in place and send them."""
        _SCRATCH_LENGTH[0] = size
        if protect(self.srtp, _SCRATCH, _SCRATCH_LENGTH):
            return True  # refused by SRTP (e.g. a key at its packet limit): lost
        try:
            self.sendto(_SCRATCH_VIEW[:_SCRATCH_LENGTH[0]], self.address)
        except BlockingIOError:
            pass  # the socket's buffer is full: lost, as the kernel would drop it
        except OSError:
            return False
        return True


async def send_rtp(dtls: RTCDtlsTransport, data: bytes | bytearray) -> bool:
    """Encrypt and send one RTP or RTCP packet; False when the Transport is not connected."""
    try:
        await dtls._send_rtp(bytes(data))
    except ConnectionError:
        return False
    return True


def prefer_codecs(transceiver: RTCRtpTransceiver, mime_types: list[str]) -> None:
    """Offer or answer only the codecs the relay can forward (plus RTX for video)."""
    caps = get_capabilities(transceiver.kind).codecs
    wanted = [m.lower() for m in mime_types]
    chosen: list[RTCRtpCodecCapability] = []
    for mime in wanted:
        chosen.extend(c for c in caps if c.mimeType.lower() == mime)
    chosen.extend(c for c in caps if c.mimeType.lower() == "video/rtx")
    transceiver.setCodecPreferences(chosen)


# Publisher side --------------------------------------------------------------------------------


class ReceiverListener(Protocol):
    def receiver_started(self, receiver: ForwardingReceiver,
                         parameters: RTCRtpReceiveParameters) -> None: ...

    def receiver_rtcp(self, receiver: ForwardingReceiver, packet: AnyRtcpPacket) -> None: ...

    def receiver_stopped(self, receiver: ForwardingReceiver) -> None: ...


class ForwardingReceiver:
    """Stands in for RTCRtpReceiver: registers for RTCP, never buffers or decodes."""

    def __init__(self, kind: str, transport: RTCDtlsTransport, mid: str | None,
                 listener: ReceiverListener):
        self.kind = kind
        self.mid = mid
        self._transport = transport
        self._listener = listener
        self._track: Any = None
        self._enabled = True
        self._started = False
        self.rtcp_ssrc: int | None = None

    @property
    def transport(self) -> RTCDtlsTransport:
        return self._transport

    @property
    def track(self) -> Any:
        return self._track

    def setTransport(self, transport: RTCDtlsTransport) -> None:  # noqa: N802 (aiortc's name)
        self._transport = transport

    def _set_rtcp_ssrc(self, ssrc: int) -> None:
        self.rtcp_ssrc = ssrc

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        if self._started:
            return
        self._started = True
        self._transport._register_rtp_receiver(self, parameters)
        self._listener.receiver_started(self, parameters)

    async def stop(self) -> None:
        if self._started:
            self._started = False
            self._transport._unregister_rtp_receiver(self)
            self._listener.receiver_stopped(self)

    def _handle_disconnect(self) -> None:
        pass

    async def _handle_rtp_packet(self, packet: Any, arrival_time_ms: int) -> None:
        pass  # RTP reaches the relay as bytes through `intercept_rtp`

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        self._listener.receiver_rtcp(self, packet)

    async def send_pli(self, media_ssrc: int) -> None:
        if self.rtcp_ssrc is not None:
            await send_rtp(self._transport, bytes(
                RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=self.rtcp_ssrc, media_ssrc=media_ssrc)))

    async def send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        if self.rtcp_ssrc is not None and lost:
            packet = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=self.rtcp_ssrc,
                                     media_ssrc=media_ssrc)
            packet.lost = lost
            await send_rtp(self._transport, bytes(packet))

    async def send_remb(self, bitrate: int, ssrcs: list[int]) -> None:
        """Ask the publisher to send at most `bitrate` (Receiver Estimated Maximum Bitrate)."""
        if self.rtcp_ssrc is not None:
            await send_rtp(self._transport, bytes(RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP, ssrc=self.rtcp_ssrc, media_ssrc=0,
                fci=pack_remb_fci(bitrate, ssrcs))))

    async def send_receiver_report(self, reports: list[RtcpReceiverInfo]) -> None:
        if self.rtcp_ssrc is not None and reports:
            await send_rtp(self._transport, bytes(RtcpRrPacket(ssrc=self.rtcp_ssrc,
                                                                 reports=reports)))


def install_receivers(pc: RTCPeerConnection, listener: ReceiverListener) -> list[ForwardingReceiver]:
    """Replace the receivers aiortc made for a remote offer; call before setLocalDescription."""
    installed = []
    for transceiver in pc.getTransceivers():
        current = transceiver.receiver
        if isinstance(current, ForwardingReceiver):
            continue
        receiver = ForwardingReceiver(transceiver.kind, current.transport, transceiver.mid,
                                      listener)
        receiver._set_rtcp_ssrc(transceiver.sender._ssrc)
        transceiver._RTCRtpTransceiver__receiver = receiver  # type: ignore[attr-defined]
        installed.append(receiver)
    return installed


# Subscriber side -------------------------------------------------------------------------------


class SenderListener(Protocol):
    def sender_started(self, sender: ForwardingSender, parameters: RTCRtpSendParameters) -> None: ...

    def sender_nack(self, sender: ForwardingSender, lost: list[int]) -> None: ...

    def sender_keyframe_request(self, sender: ForwardingSender) -> None: ...

    def sender_estimate(self, sender: ForwardingSender, bitrate: int) -> None: ...

    def sender_report(self, sender: ForwardingSender, report: RtcpReceiverInfo) -> None: ...


class ForwardingSender:
    """Stands in for RTCRtpSender: sends the relay's rewritten bytes, reports RTCP feedback,
    and sends Sender Reports from what it forwarded."""

    def __init__(self, kind: str, transport: RTCDtlsTransport, listener: SenderListener):
        self.kind = kind
        self._transport = transport
        self._listener = listener
        self._ssrc = random32()
        self._rtx_ssrc = random32()
        self._stream_id = str(uuid.uuid4())
        self._track_id = str(uuid.uuid4())
        self._enabled = True
        self._track: Any = None
        self._rtcp_task: asyncio.Task[None] | None = None
        self.started = False
        self.packets_sent = 0
        self.octets_sent = 0
        # The last forwarded packet's RTP timestamp and when it reached the relay (0.0: none
        # yet), to place Sender Reports on the Consumer's timeline and to measure a pause.
        self.last_rtp: int = 0
        self.last_sent_at: float = 0.0
        self.clock_rate = 90000
        # Sender Reports sent, by their compact NTP time (RFC 3550 LSR), for round-trip times.
        self._reports_sent: dict[int, float] = {}
        self.rtt_s: float | None = None
        self._route: Route | None = None  # looked up on the first packet (`send_rtp`)

    @property
    def transport(self) -> RTCDtlsTransport:
        return self._transport

    @property
    def track(self) -> Any:
        return self._track

    def replaceTrack(self, track: Any) -> None:  # noqa: N802
        self._track = track

    def setTransport(self, transport: RTCDtlsTransport) -> None:  # noqa: N802
        self._transport = transport

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        if self.started:
            return
        self.started = True
        self._transport._register_rtp_sender(self, parameters)
        self._rtcp_task = asyncio.ensure_future(self._run_rtcp())
        self._listener.sender_started(self, parameters)

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        self._transport._unregister_rtp_sender(self)
        if self._rtcp_task is not None:
            self._rtcp_task.cancel()
            await asyncio.gather(self._rtcp_task, return_exceptions=True)
        await send_rtp(self._transport, bytes(RtcpByePacket(sources=[self._ssrc])))

    def send_rtp(self, data: bytes | bytearray, payload_size: int) -> bool:
        """Send RTP packet `data` as it is (a retransmission)."""
        first, sequence_number, timestamp, ssrc = _PT_SEQ_TS_SSRC.unpack_from(data, 1)
        if not self._send(data, first & 0x7F, sequence_number, timestamp, ssrc):
            return False
        self.packets_sent += 1
        self.octets_sent += payload_size
        return True

    def forward_rtp(self, data: bytes | bytearray, payload_type: int, sequence_number: int,
                    timestamp: int, captured_at: float, payload_at: int) -> bool:
        """Send a copy of `data` stamped with this sender's SSRC and the Consumer's payload
        type, sequence number and timestamp (16 and 32 bits); `captured_at` is when the
        packet reached the relay, for Sender Reports."""
        self.last_rtp = timestamp
        self.last_sent_at = captured_at
        if not self._send(data, payload_type, sequence_number, timestamp, self._ssrc):
            return False
        self.packets_sent += 1
        self.octets_sent += len(data) - payload_at
        return True

    def _send(self, data: bytes | bytearray, payload_type: int, sequence_number: int,
              timestamp: int, ssrc: int) -> bool:
        route = self._route
        if route is None or route.dtls is not self._transport or not route.send(
                data, payload_type, sequence_number, timestamp, ssrc):
            route = self._route = Route.of(self._transport)
            if route is None or not route.send(data, payload_type, sequence_number,
                                               timestamp, ssrc):
                return False
        return True

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self._listener.sender_nack(self, list(packet.lost))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self._listener.sender_keyframe_request(self)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            if self._ssrc in ssrcs:
                self._listener.sender_estimate(self, bitrate)
        elif isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for report in packet.reports:
                if report.ssrc == self._ssrc:
                    self._note_round_trip(report)
                    self._listener.sender_report(self, report)

    def _note_round_trip(self, report: RtcpReceiverInfo) -> None:
        sent_at = self._reports_sent.get(report.lsr)
        if sent_at is not None and report.lsr:
            rtt = time.monotonic() - sent_at - report.dlsr / 65536
            if rtt >= 0:
                self.rtt_s = rtt if self.rtt_s is None else 0.85 * self.rtt_s + 0.15 * rtt

    async def _run_rtcp(self) -> None:
        while True:
            await asyncio.sleep(0.5 + random.random())
            if self.packets_sent:
                now = time.monotonic()
                ntp = current_ntp_time()
                rtp = self.last_rtp + int((now - self.last_sent_at) * self.clock_rate)
                sr = RtcpSrPacket(ssrc=self._ssrc, sender_info=RtcpSenderInfo(
                    ntp_timestamp=ntp, rtp_timestamp=rtp & 0xFFFFFFFF,
                    packet_count=self.packets_sent & 0xFFFFFFFF,
                    octet_count=self.octets_sent & 0xFFFFFFFF))
                self._reports_sent[(ntp >> 16) & 0xFFFFFFFF] = now
                while len(self._reports_sent) > 16:
                    del self._reports_sent[next(iter(self._reports_sent))]
                data, route = bytes(sr), self._route
                if route is None or route.dtls is not self._transport or not route.send_rtcp(
                        data):
                    await send_rtp(self._transport, data)


def add_sending_transceiver(pc: RTCPeerConnection, kind: str, mime_type: str,
                            listener: SenderListener, msid: tuple[str, str] | None = None
                            ) -> tuple[RTCRtpTransceiver, ForwardingSender]:
    """A sendonly transceiver whose sender forwards; offers only `mime_type` (+ RTX).

    `msid` is the m-line's `a=msid:<stream> <track>`: browsers group the tracks of one stream
    (lip sync) and receivers can read which Publication an m-line carries."""
    transceiver = pc.addTransceiver(kind, direction="sendonly")
    # aiortc gave the m-line a receiver that never runs here; its bitrate estimator alone holds
    # a thousand buckets (~75 KB per video subscriber).
    transceiver.receiver._RTCRtpReceiver__remote_bitrate_estimator = None  # type: ignore[attr-defined]
    prefer_codecs(transceiver, [mime_type])
    return transceiver, _install_sender(transceiver, listener, msid)


def _install_sender(transceiver: RTCRtpTransceiver, listener: SenderListener,
                    msid: tuple[str, str] | None) -> ForwardingSender:
    """Put a forwarding sender in place of aiortc's own on `transceiver`."""
    sender = ForwardingSender(transceiver.kind, transceiver.sender.transport, listener)
    if msid is None:
        sender._stream_id = transceiver.sender._stream_id
    else:
        sender._stream_id, sender._track_id = msid
    transceiver._RTCRtpTransceiver__sender = sender  # type: ignore[attr-defined]
    transceiver.receiver._set_rtcp_ssrc(sender._ssrc)
    return sender


# Answering a receive-only offer (a WHEP player) ------------------------------------------------


def offered_to_receive(transceiver: RTCRtpTransceiver) -> bool:
    """Whether the remote offer's m-line asks to receive (recvonly or sendrecv). aiortc keeps
    the offer's direction reversed, as seen from this side."""
    return transceiver._offerDirection in ("sendonly", "sendrecv")


def offered_codecs(transceiver: RTCRtpTransceiver) -> list[str]:
    """The mime types (no RTX) both the remote offer and aiortc have for this m-line, in the
    offer's order."""
    return [c.mimeType for c in transceiver._codecs if not c.mimeType.lower().endswith("/rtx")]


def answer_sending(transceiver: RTCRtpTransceiver, mime_type: str, listener: SenderListener,
                   msid: tuple[str, str]) -> ForwardingSender:
    """Answer a remote offer's m-line as sendonly with a forwarding sender and `mime_type`
    (+ its RTX) as its only codec, so the payload type the relay stamps is the one the player
    expects. Call between setRemoteDescription and createAnswer; `mime_type` must be one of
    `offered_codecs(transceiver)`."""
    primary = next(c for c in transceiver._codecs if c.mimeType.lower() == mime_type.lower())
    rtx = [c for c in transceiver._codecs if c.mimeType.lower().endswith("/rtx")
           and c.parameters.get("apt") == primary.payloadType]
    transceiver._codecs = [primary, *rtx]
    transceiver.direction = "sendonly"
    return _install_sender(transceiver, listener, msid)
