"""Library renditions of a lesson recording: an HLS ladder, a poster and seek-bar thumbnails.

    result = make_renditions(Path("lesson.mkv"), Path("library/lesson-42"), on_progress,
                             should_cancel)

`probe` alone tells the technical facts of a file, or why it cannot become renditions;
`side_by_side` lays a camera and a courseware recording out in one video beforehand.
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
