"""The job kinds this installation runs. Register a kind here and both `kelian serve` (unless
KELIAN_JOBS_IN_PROCESS=false) and every `kelian worker` run it. A handler is
`async def handler(payload, report) -> None`; it gets the process's database sessions here.

Import handler modules inside the function: the media plane loads only where jobs run.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..config import Settings
from .runner import Handler


def job_handlers(settings: Settings, sessions: async_sessionmaker[AsyncSession]
                 ) -> dict[str, Handler]:
    from ..library.processing import TRANSCODE, TranscodeJob
    from ..library.storage import LibraryStorage

    return {TRANSCODE: TranscodeJob(sessions, LibraryStorage(settings.effective_library_dir))}
