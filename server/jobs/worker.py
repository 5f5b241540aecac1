"""`kelian worker`: a process that only runs jobs, on the same database (and Redis) as serve."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..config import Settings
from ..database import create_engine, session_factory, upgrade
from .notify import open_notifier
from .runner import Handler, JobRunner
from .store import LEASE_S

HandlerFactory = Callable[[async_sessionmaker[AsyncSession]], Mapping[str, Handler]]


async def run_worker(settings: Settings, make_handlers: HandlerFactory,
                     worker_id: str | None = None, *, lease_s: float = LEASE_S) -> int:
    """Run jobs until SIGTERM or SIGINT; then hand running jobs back and exit 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    engine = create_engine(settings.effective_database_url)
    notifier = None
    runner = None
    try:
        await upgrade(engine)
        notifier = open_notifier(settings.redis_url)
        sessions = session_factory(engine)
        runner = JobRunner(sessions, make_handlers(sessions), worker_id,
                           settings.jobs_concurrency, notifier=notifier, lease_s=lease_s)
        await runner.start()
        kinds = ", ".join(runner.kinds) or "none registered yet"
        wake = "Redis wake-ups" if settings.redis_url else f"polling every {runner.poll_s:g} s"
        print(f"Kelian worker {runner.worker_id} is running jobs ({kinds}; {wake})", flush=True)
        await stop.wait()
    finally:
        if runner is not None:
            await runner.stop()
        if notifier is not None:
            await notifier.close()
        await engine.dispose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    print("Kelian worker stopped", flush=True)
    return 0
