"""Keyframe detection from RTP payload descriptors (no decoding)."""

from __future__ import annotations

import pytest

from media.rtp.keyframes import h264_keyframe_start, keyframe_test, needs_keyframe, vp8_keyframe_start


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bytes([0x10, 0x00]), True),  # S=1, partition 0, P=0
        (bytes([0x10, 0x01]), False),  # P=1: a delta frame
        (bytes([0x00, 0x00]), False),  # not the start of a frame
        (bytes([0x11, 0x00]), False),  # partition 1
        (bytes([0x90, 0x80, 0x81, 0x23, 0x00]), True),  # X, I with a 15-bit picture id
        (bytes([0x90, 0x80, 0x05, 0x01]), False),  # X, I with a 7-bit picture id, then P=1
        (bytes([0x90, 0xE0, 0x05, 0x07, 0x40, 0x00]), True),  # X with I, L, T
        (bytes([0x90]), False),  # truncated
        (b"", False),
    ],
)
def test_vp8(payload: bytes, expected: bool) -> None:
    assert vp8_keyframe_start(payload) is expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bytes([0x65, 0x88]), True),  # IDR slice
        (bytes([0x67, 0x42]), True),  # SPS
        (bytes([0x41, 0x9A]), False),  # non-IDR slice
        (bytes([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE]), True),  # STAP-A with SPS
        (bytes([0x78, 0x00, 0x02, 0x41, 0x9A]), False),  # STAP-A with a delta slice
        (bytes([0x7C, 0x85, 0x88]), True),  # FU-A start of an IDR
        (bytes([0x7C, 0x05, 0x88]), False),  # FU-A continuation
        (bytes([0x7C, 0x81, 0x9A]), False),  # FU-A start of a non-IDR slice
        (bytes([0x78, 0x00, 0x00]), False),  # STAP-A with a zero size
        (b"", False),
    ],
)
def test_h264(payload: bytes, expected: bool) -> None:
    assert h264_keyframe_start(payload) is expected


def test_audio_needs_no_keyframe() -> None:
    assert not needs_keyframe("audio/opus")
    assert keyframe_test("audio/opus")(b"\x00")
    assert needs_keyframe("video/VP8") and needs_keyframe("video/h264")
