"""Encoded frames out of RTP payloads, on bytes: VP8 (RFC 7741), H.264 (RFC 6184, packetization
mode 1) and Opus (RFC 7587, one packet is one frame).

A recording is written from the packets the relay already has, never decoded. These functions
take the payloads of one frame, in sequence order and all present, and return what a decoder
expects. Malformed input raises `DepacketizeError` and nothing else, so a publisher sending
garbage costs the recording a frame, never its writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

H264_IDR = 5
H264_STAP_A = 24
H264_FU_A = 28
_H264_SINGLE = range(1, 24)  # single NAL unit packets carry NAL types 1–23


class DepacketizeError(ValueError):
    """The payloads do not form a frame of the codec."""


Payload = bytes | bytearray | memoryview


# VP8 -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vp8Descriptor:
    size: int  # bytes of payload descriptor before the VP8 data
    start: bool  # S: the packet starts a partition
    partition: int  # PID


def vp8_descriptor(payload: Payload) -> Vp8Descriptor:
    """Read the payload descriptor (RFC 7741 §4.2); the VP8 data follows it."""
    if len(payload) < 1:
        raise DepacketizeError("empty VP8 payload")
    first = payload[0]
    size = 1
    if first & 0x80:  # X: an extension byte follows
        if len(payload) < 2:
            raise DepacketizeError("truncated VP8 descriptor")
        ext = payload[1]
        size = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= size:
                raise DepacketizeError("truncated VP8 picture id")
            size += 2 if payload[size] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            size += 1
        if ext & 0x30:  # T or K: one byte of TID/Y/KEYIDX
            size += 1
    if size >= len(payload):
        raise DepacketizeError("VP8 packet without data")
    return Vp8Descriptor(size=size, start=bool(first & 0x10), partition=first & 0x07)


def vp8_starts_frame(payload: Payload) -> bool:
    """Whether the packet can be a frame's first: the start of partition 0."""
    try:
        descriptor = vp8_descriptor(payload)
    except DepacketizeError:
        return False
    return descriptor.start and descriptor.partition == 0


def vp8_frame(payloads: Sequence[Payload]) -> bytes:
    """The VP8 frame carried by a frame's packets: their data, descriptors stripped."""
    if not payloads:
        raise DepacketizeError("no packets")
    parts = []
    for i, payload in enumerate(payloads):
        descriptor = vp8_descriptor(payload)
        if i == 0 and not (descriptor.start and descriptor.partition == 0):
            raise DepacketizeError("VP8 frame does not start with partition 0")
        parts.append(bytes(payload[descriptor.size :]))
    return b"".join(parts)


def vp8_is_keyframe(frame: Payload) -> bool:
    """The frame tag's P bit is 0 on a key frame (RFC 6386 §9.1)."""
    return len(frame) > 0 and not frame[0] & 0x01


# H.264 -----------------------------------------------------------------------------------------


def h264_starts_frame(payload: Payload) -> bool:
    """Whether the packet can be a frame's first: not a middle or last FU-A fragment."""
    if len(payload) < 1:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type == H264_FU_A:
        return len(payload) >= 2 and bool(payload[1] & 0x80)
    return nal_type in _H264_SINGLE or nal_type == H264_STAP_A


def _stap_a(payload: Payload) -> list[bytes]:
    units = []
    at = 1
    while at < len(payload):
        if at + 2 > len(payload):
            raise DepacketizeError("truncated STAP-A size")
        size = (payload[at] << 8) | payload[at + 1]
        at += 2
        if size == 0 or at + size > len(payload):
            raise DepacketizeError("bad STAP-A unit size")
        units.append(bytes(payload[at : at + size]))
        at += size
    if not units:
        raise DepacketizeError("empty STAP-A")
    return units


def h264_nal_units(payloads: Sequence[Payload]) -> list[bytes]:
    """The NAL units of a frame's packets: single NAL unit packets, STAP-A aggregates and FU-A
    fragments, reassembled. Interleaved-mode packets (STAP-B, MTAP, FU-B) are refused."""
    if not payloads:
        raise DepacketizeError("no packets")
    units: list[bytes] = []
    fragments: list[bytes] | None = None  # an FU-A in progress: its NAL header, then data
    for payload in payloads:
        if len(payload) < 1:
            raise DepacketizeError("empty H.264 payload")
        if payload[0] & 0x80:
            raise DepacketizeError("forbidden bit set in NAL header")
        nal_type = payload[0] & 0x1F
        if nal_type == H264_FU_A:
            if len(payload) < 3:
                raise DepacketizeError("truncated FU-A")
            fu_header = payload[1]
            start, end = fu_header & 0x80, fu_header & 0x40
            if start:
                if fragments is not None:
                    raise DepacketizeError("FU-A restarted before it ended")
                if end:
                    raise DepacketizeError("FU-A both starts and ends")
                fragments = [bytes([(payload[0] & 0xE0) | (fu_header & 0x1F)])]
            elif fragments is None:
                raise DepacketizeError("FU-A fragment without its start")
            fragments.append(bytes(payload[2:]))
            if end:
                units.append(b"".join(fragments))
                fragments = None
            continue
        if fragments is not None:
            raise DepacketizeError("FU-A interrupted")
        if nal_type in _H264_SINGLE:
            units.append(bytes(payload))
        elif nal_type == H264_STAP_A:
            units.extend(_stap_a(payload))
        else:
            raise DepacketizeError(f"NAL unit type {nal_type} is not used in packetization mode 1")
    if fragments is not None:
        raise DepacketizeError("FU-A did not end")
    return units


def h264_is_keyframe(units: Sequence[bytes]) -> bool:
    """An IDR slice makes the frame decodable on its own (given its parameter sets)."""
    return any(unit and unit[0] & 0x1F == H264_IDR for unit in units)


# Opus ------------------------------------------------------------------------------------------


def opus_starts_frame(payload: Payload) -> bool:
    return len(payload) > 0


def opus_frame(payloads: Sequence[Payload]) -> bytes:
    """RFC 7587: each packet carries exactly one Opus packet (one frame for the container)."""
    if len(payloads) != 1:
        raise DepacketizeError("an Opus frame is one packet")
    if len(payloads[0]) < 1:
        raise DepacketizeError("empty Opus packet")
    return bytes(payloads[0])
