"""Lesson recording on the media plane: a Recording writes the encoded packets the relay already
receives (remuxed, never decoded or re-encoded) into segment files that stay playable if the
process dies mid-lesson.

    RecordingTap.forward (event loop, O(1))  ->  queue  ->  RecordingWriter (its own thread):
    FrameAssembler (order, loss) -> SampleFormat (depacketize) -> TrackClock -> SegmentFile

The control plane drives it through the Room (`start_recording`, `switch_recording_source`,
`stop_recording`) and hears back `RecordingSegmentOpened` / `RecordingSegmentClosed` /
`RecordingFailed`.
"""

from .recording import Recording

__all__ = ["Recording"]
