"""The job kinds this installation runs. Register a kind here and both `kelian serve` (unless
KELIAN_JOBS_IN_PROCESS=false) and every `kelian worker` run it:

    def job_handlers(settings):
        from .transcode import transcode      # async def transcode(payload, report) -> None
        return {"transcode": transcode}

Import handler modules inside the function: the media plane loads only where jobs run.
"""

from __future__ import annotations

from ..config import Settings
from .runner import Handler


def job_handlers(settings: Settings) -> dict[str, Handler]:
    return {}
