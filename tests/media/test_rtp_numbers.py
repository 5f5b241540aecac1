"""Sequence and timestamp continuity across wrap-around, source switches and intentional drops."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtp.numbers import SEQ_MOD, TS_MOD, SeqMapper, TimestampMapper, Unwrapper, unwrap


def test_unwrap_crosses_the_wrap_forwards_and_backwards() -> None:
    assert unwrap(None, 65535, SEQ_MOD) == 65535
    assert unwrap(65535, 0, SEQ_MOD) == 65536
    assert unwrap(65536, 65535, SEQ_MOD) == 65535  # a late packet from before the wrap
    assert unwrap(3 * SEQ_MOD + 5, 65530, SEQ_MOD) == 3 * SEQ_MOD - 6
    assert unwrap(TS_MOD - 10, 20, TS_MOD) == TS_MOD + 20


@given(start=st.integers(0, SEQ_MOD - 1), steps=st.lists(st.integers(-200, 2000), max_size=300))
def test_unwrapper_recovers_the_extended_sequence(start: int, steps: list[int]) -> None:
    """Any walk with jumps under half a cycle is recovered exactly from its 16-bit values."""
    unwrapper = Unwrapper(SEQ_MOD)
    true = start + 10 * SEQ_MOD
    unwrapper.extend(true % SEQ_MOD)
    base = unwrapper.highest
    assert base is not None
    offset = base - true
    for step in steps:
        true += step
        if unwrapper.highest is not None and abs(true + offset - unwrapper.highest) >= SEQ_MOD // 2:
            continue  # not representable in 16 bits; a real stream never jumps that far
        assert unwrapper.extend(true % SEQ_MOD) == true + offset


@given(
    segments=st.lists(
        st.tuples(
            st.integers(0, 5 * SEQ_MOD),  # where the new source's numbering starts
            st.lists(st.booleans(), min_size=1, max_size=120),  # per packet: forward or drop
        ),
        min_size=1,
        max_size=6,
    ),
)
@settings(max_examples=200)
def test_forwarded_packets_are_gap_free_across_switches_and_drops(
    segments: list[tuple[int, list[bool]]],
) -> None:
    mapper = SeqMapper()
    outputs: list[int] = []
    for n, (first_seq, forward_flags) in enumerate(segments):
        if n:
            mapper.switch_source()
        for i, forward in enumerate(forward_flags):
            seq = first_seq + i
            if forward:
                out = mapper.map(seq)
                assert out is not None
                outputs.append(out)
            else:
                mapper.drop(seq)
    if not outputs:
        return
    assert outputs == list(range(outputs[0], outputs[0] + len(outputs)))
    # Numbering starts where the first source that forwarded anything started.
    first_forwarding = next(first for first, flags in segments if any(flags))
    assert outputs[0] == first_forwarding


def test_first_output_equals_first_input_and_drops_take_no_number() -> None:
    mapper = SeqMapper()
    assert mapper.map(100) == 100
    mapper.drop(101)
    mapper.drop(102)
    assert mapper.map(103) == 101
    assert mapper.map(104) == 102


def test_a_lost_packet_stays_a_gap_so_the_receiver_can_nack_it() -> None:
    mapper = SeqMapper()
    assert mapper.map(10) == 10
    assert mapper.map(12) == 12  # 11 lost upstream
    assert mapper.map(11) == 11  # recovered late, still maps into its place


def test_late_packet_before_a_drop_keeps_its_place() -> None:
    mapper = SeqMapper()
    assert mapper.map(1) == 1
    mapper.drop(3)
    assert mapper.map(4) == 3
    assert mapper.map(2) == 2  # arrived late; numbered as if it came in order
    assert mapper.map(3) is None  # the dropped packet itself is never forwarded


def test_switch_continues_after_the_last_output_across_the_16_bit_wrap() -> None:
    mapper = SeqMapper()
    for seq in range(SEQ_MOD - 3, SEQ_MOD + 2):
        mapper.map(seq)
    mapper.switch_source()
    assert mapper.map(7) == SEQ_MOD + 2
    assert (mapper.map(8) or 0) % SEQ_MOD == 3


@given(drops=st.sets(st.integers(1, 60_000), max_size=400))
@settings(max_examples=50, deadline=None)  # 70,000 packets per example
def test_long_runs_with_scattered_drops_stay_contiguous(drops: set[int]) -> None:
    """Drops older than the window are folded away without moving later numbers."""
    mapper = SeqMapper()
    outputs = []
    for seq in range(0, 70_000):
        if seq in drops:
            mapper.drop(seq)
        else:
            out = mapper.map(seq)
            assert out is not None
            outputs.append(out)
    assert outputs == list(range(len(outputs)))


@given(
    gap=st.integers(1, 90_000 * 5),
    first=st.integers(0, TS_MOD - 1),
    second=st.integers(0, TS_MOD - 1),
)
def test_timestamps_continue_with_the_given_gap_after_a_switch(gap: int, first: int, second: int) -> None:
    mapper = TimestampMapper()
    assert mapper.map(first) == first
    last = mapper.map(first + 3000)
    mapper.switch_source(gap)
    assert mapper.map(second) == last + gap
    assert mapper.map(second + 3000) == last + gap + 3000
