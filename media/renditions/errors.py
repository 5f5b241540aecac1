"""The one error every renditions step raises, with a stable code for the job runner and the UI."""

from __future__ import annotations

from typing import Literal

# missing / empty: nothing to read; not_media: not a container FFmpeg knows; truncated: a known
# container whose data stops early or whose index is missing; corrupt: it opens but no video
# frame decodes; no_video: audio only or a still image; unsupported_codec: no decoder for the
# video; cancelled: should_cancel said so; failed: encoding or writing went wrong.
ErrorCode = Literal["missing", "empty", "not_media", "truncated", "corrupt", "no_video",
                    "unsupported_codec", "cancelled", "failed"]


class RenditionError(Exception):
    def __init__(self, code: ErrorCode, message: str):
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message
