"""Putting a recorded track's packets back into frames (reordering, loss) and placing frames on
the recording clock: pure logic, time passed in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from media.recording.assembler import GAP, FrameAssembler, Gap, Packet
from media.recording.codecs import sample_format
from media.recording.timeline import RESYNC_MS, TrackClock
from media.rtp.depacketize import DepacketizeError

FRAME_TICKS = 3000  # 30 fps at 90 kHz


def _starts(payload: bytes) -> bool:
    return payload[:1] == b"S"


def _frames(sizes: list[int]) -> list[list[Packet]]:
    """Frames of the given packet counts, numbered from 1000, one packet per millisecond."""
    frames, seq = [], 1000
    for number, size in enumerate(sizes):
        frame = []
        for i in range(size):
            payload = (b"S" if i == 0 else b"c") + bytes([number % 256, i])
            frame.append(Packet(seq, number * FRAME_TICKS, i == size - 1, payload,
                                arrival=seq / 1000))
            seq += 1
        frames.append(frame)
    return frames


def _run(assembler: FrameAssembler, packets: list[Packet]) -> list[list[Packet] | Gap]:
    out: list[list[Packet] | Gap] = []
    for packet in packets:
        out += assembler.push(packet)
    return out + assembler.flush()


def test_in_order_packets_come_out_as_their_frames() -> None:
    frames = _frames([1, 3, 2, 5])
    assert _run(FrameAssembler(_starts, False), [p for f in frames for p in f]) == frames


def test_a_frame_ends_at_its_marker_or_when_the_next_timestamp_begins() -> None:
    frames = _frames([2, 2])
    unmarked = [Packet(p.seq, p.timestamp, False, p.payload, p.arrival) for f in frames for p in f]
    out = FrameAssembler(_starts, False).push(unmarked[0])
    assert out == []
    assembler = FrameAssembler(_starts, False)
    out = [o for p in unmarked for o in assembler.push(p)]
    assert [[p.payload for p in f] for f in out] == [[p.payload for p in frames[0]]]


def test_a_lost_packet_costs_its_frame_and_reports_a_gap() -> None:
    frames = _frames([2, 3, 2])
    packets = [p for f in frames for p in f if p is not frames[1][1]]
    assert _run(FrameAssembler(_starts, False), packets) == [frames[0], GAP, frames[2]]


def test_a_missing_packet_is_waited_for_then_given_up_on_in_time() -> None:
    frames = _frames([1, 1, 1])
    assembler = FrameAssembler(_starts, False, window_s=0.5)
    assert assembler.push(frames[0][0]) == [frames[0]]
    late = Packet(frames[2][0].seq, frames[2][0].timestamp, True, frames[2][0].payload, 10.0)
    assert assembler.push(late) == []  # frame 1 may still come (a retransmission)
    assert assembler.tick(10.2) == []
    assert assembler.tick(10.6) == [GAP, [late]]


def test_audio_packets_are_frames_and_late_ones_are_dropped() -> None:
    packets = [p for f in _frames([1, 1, 1, 1]) for p in f]
    assembler = FrameAssembler(_starts, True)
    out = [o for p in (packets[0], packets[2], packets[1], packets[3]) for o in assembler.push(p)]
    assert out == [[p] for p in packets]  # reordered within the window: put back in order
    assert assembler.push(packets[1]) == []  # a duplicate


@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=30),
       dropped=st.sets(st.integers(1, 120), max_size=10),
       swaps=st.lists(st.integers(1, 120), max_size=20))
def test_frames_come_out_whole_in_order_or_not_at_all(sizes: list[int], dropped: set[int],
                                                      swaps: list[int]) -> None:
    frames = _frames(sizes)
    packets = [p for f in frames for p in f]
    kept = [p for i, p in enumerate(packets) if i not in dropped]
    for i in swaps:  # reordering by a few places (never before the first packet)
        if i + 2 < len(kept):
            kept[i], kept[i + 2] = kept[i + 2], kept[i]
    out = _run(FrameAssembler(_starts, False), kept)
    lost = {p.seq for i, p in enumerate(packets) if i in dropped}
    whole = [f for f in frames if not lost & {p.seq for p in f}]
    assert [o for o in out if o is not GAP] == whole
    # A loss shows as a gap, unless whole frames went missing at the very end (undetectable).
    last_kept = max(p.seq for p in kept)
    partly_kept = any(lost & {p.seq for p in f} and {p.seq for p in f} - lost for f in frames)
    assert (GAP in out) == (any(seq < last_kept for seq in lost) or partly_kept)


# Payloads that look like H.264 NAL units (SPS, PPS, IDR, slice, STAP-A, FU-A) or like nothing.
_payloads = st.one_of(
    st.binary(max_size=30),
    st.builds(lambda first, body: bytes([first]) + body,
              st.sampled_from([0x67, 0x68, 0x65, 0x41, 0x18, 0x7C, 0x1C, 0x90, 0x10]),
              st.binary(max_size=30)))


@given(mime_type=st.sampled_from(["video/VP8", "video/H264", "audio/opus"]),
       packets=st.lists(st.tuples(st.integers(0, 50), st.integers(0, 3), st.booleans(), _payloads),
                        max_size=60))
def test_garbage_packets_cost_frames_and_raise_only_depacketize_errors(
    mime_type: str, packets: list[tuple[int, int, bool, bytes]]
) -> None:
    form = sample_format(mime_type)
    assert form is not None
    assembler = FrameAssembler(form.starts_frame, not form.video)
    out: list[list[Packet] | Gap] = []
    for i, (seq, frame, marker, payload) in enumerate(packets):
        out += assembler.push(Packet(seq, frame * FRAME_TICKS, marker, payload, i / 100))
    for frame_or_gap in out + assembler.flush():
        if isinstance(frame_or_gap, list):
            try:
                form.sample([p.payload for p in frame_or_gap])
            except DepacketizeError:
                pass


def test_the_recording_clock_keeps_a_sources_spacing_and_never_rewinds() -> None:
    clock = TrackClock()
    clock.restart(90000)
    assert clock.pts_ms(1_000_000, 500.0) == 500
    assert clock.pts_ms(1_000_000 + 2 * FRAME_TICKS, 600.0) == 567  # capture times, not arrival
    clock.restart(90000)  # another source, its own RTP clock: anchored at its arrival
    assert clock.pts_ms(7, 3000.0) == 3000
    clock.restart(90000)  # a source arriving "before" the last frame still goes forward
    assert clock.pts_ms(5, 2990.0) == 3001
    far = clock.pts_ms(5 + 90 * (RESYNC_MS + 500), 3100.0)  # the publisher's clock jumped
    assert far == 3100
