"""Does this RTP payload start a keyframe? Read from the payload descriptor, never decoded.

A new Consumer forwards nothing of a video Publication until the first packet of a keyframe,
so its decoder never sees a delta frame it has no reference for.
"""

from __future__ import annotations

from collections.abc import Callable

H264_IDR = 5
H264_SPS = 7
H264_STAP_A = 24
H264_FU_A = 28


def vp8_keyframe_start(payload: bytes | memoryview) -> bool:
    """RFC 7741: the first packet of a frame (S=1, partition 0) whose P bit is 0."""
    if len(payload) < 1:
        return False
    first = payload[0]
    start, partition = first & 0x10, first & 0x07
    if not start or partition != 0:
        return False
    at = 1
    if first & 0x80:  # X: extended control bits
        if len(payload) < 2:
            return False
        ext = payload[1]
        at = 2
        if ext & 0x80:  # I: picture id
            if len(payload) <= at:
                return False
            at += 2 if payload[at] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            at += 1
        if ext & 0x30:  # T or K: TID/KEYIDX byte
            at += 1
    if len(payload) <= at:
        return False
    return not payload[at] & 0x01  # P = 0: key frame


def h264_keyframe_start(payload: bytes | memoryview) -> bool:
    """RFC 6184: an SPS or IDR slice, alone, inside a STAP-A, or starting a FU-A."""
    if len(payload) < 1:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (H264_IDR, H264_SPS):
        return True
    if nal_type == H264_STAP_A:
        at = 1
        while at + 2 < len(payload):
            size = (payload[at] << 8) | payload[at + 1]
            if size == 0:
                return False
            if payload[at + 2] & 0x1F in (H264_IDR, H264_SPS):
                return True
            at += 2 + size
        return False
    if nal_type == H264_FU_A and len(payload) >= 2:
        fu_header = payload[1]
        return bool(fu_header & 0x80) and (fu_header & 0x1F) in (H264_IDR, H264_SPS)
    return False


def _always(payload: bytes | memoryview) -> bool:
    return True


KeyframeTest = Callable[[bytes | memoryview], bool]

# Audio codecs have no keyframes: every packet may start a Consumer.
_BY_MIME: dict[str, KeyframeTest] = {
    "video/vp8": vp8_keyframe_start,
    "video/h264": h264_keyframe_start,
}


def keyframe_test(mime_type: str) -> KeyframeTest:
    """The keyframe test for a codec; audio codecs (and unknown ones) need no keyframe."""
    return _BY_MIME.get(mime_type.lower(), _always)


def needs_keyframe(mime_type: str) -> bool:
    return mime_type.lower() in _BY_MIME
