"""Library renditions of a lesson recording: an HLS ladder, a poster and seek-bar thumbnails.

    result = make_renditions(Path("lesson.mkv"), Path("library/lesson-42"), on_progress,
                             should_cancel)

writes, all at once (renamed into place when complete):

    library/lesson-42/master.m3u8        BANDWIDTH, AVERAGE-BANDWIDTH, RESOLUTION, CODECS
    library/lesson-42/1080p/index.m3u8   2 s MPEG-TS segments, H.264 + AAC; 720p/, 360p/ alike
    library/lesson-42/poster.jpg         a lit frame from about 10 % in
    library/lesson-42/sprite.jpg         160 px thumbnails in a grid, one every 1–10 s
    library/lesson-42/thumbnails.vtt     time ranges -> sprite.jpg#xywh=x,y,w,h

`probe` alone tells the technical facts of a file, or why it cannot become renditions
(RenditionError.code, see errors.py); `side_by_side` lays a camera and a courseware track out
in one video beforehand; `stitch.stitch` joins the renditions of a recording's parts.
`python -m media.renditions SOURCE [OUT_DIR]` does the same from a shell.
"""

from __future__ import annotations

from .errors import ErrorCode, RenditionError
from .layout import Track, side_by_side
from .make import RenditionResult, Rung, make_renditions
from .pipeline import CancelCheck, ProgressCallback
from .plan import RungPlan, plan_ladder
from .probe import MediaFacts, probe

__all__ = ["CancelCheck", "ErrorCode", "MediaFacts", "ProgressCallback", "RenditionError",
           "RenditionResult", "Rung", "RungPlan", "Track", "make_renditions", "plan_ladder", "probe",
           "side_by_side"]
