"""The pulled camera's timeline and tracks on their own: timestamps rise across reconnections,
and a gated track starts at a keyframe after a loss."""

from __future__ import annotations

import time

import av

from media.ingest.feed import FeedTrack, Timeline


def test_timestamps_follow_the_camera_and_never_go_back_across_reconnections() -> None:
    timeline = Timeline(90_000, 3600)
    first = timeline.stamp(None)  # RTSP's first packet often has no timestamp
    stamps = [first] + [timeline.stamp(pts) for pts in (4000, 7600, 11200)]
    assert stamps[2] - stamps[1] == 3600 and stamps[3] - stamps[2] == 3600  # the camera's own
    assert stamps == sorted(set(stamps))
    assert timeline.stamp(None) == stamps[-1] + 3600  # one frame on

    time.sleep(0.05)
    timeline.restart()  # the camera came back; its clock restarted near zero
    again = [timeline.stamp(pts) for pts in (10, 3610)]
    assert again[0] > stamps[-1] + 3600 and again[1] - again[0] == 3600
    # ... and the wall clock placed it: 50 ms later is at least 4500 ticks on.
    assert again[0] - stamps[0] >= 4500


def test_a_gated_track_drops_to_the_next_keyframe_when_its_queue_overflows() -> None:
    track = FeedTrack("video", limit=3, gated=True)
    packets = [av.Packet(bytes([i])) for i in range(8)]
    track.push(packets[0], keyframe=False)  # not a keyframe: dropped
    for packet, key in zip(packets[1:5], (True, False, False, False), strict=True):
        track.push(packet, keyframe=key)  # the 4th overflows: the queue empties
    assert track._queue.qsize() == 0
    track.push(packets[5], keyframe=False)
    track.push(packets[6], keyframe=True)
    assert track._queue.qsize() == 1 and track._queue.get_nowait() is packets[6]
    track.resync()
    track.push(packets[7], keyframe=False)
    assert track._queue.qsize() == 0
    track.stop()
