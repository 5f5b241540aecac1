"""A worker process for the tests: `python -m tests.jobs.slow_worker WORKER_ID`.

It is `kelian worker` (run_worker, the settings from KELIAN_* variables) with a test kind
`slow` that reports progress every 0.05 s for 60 s, and a 1 s lease so a killed worker's job
comes back quickly.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from server.config import load_settings
from server.jobs import Progress
from server.jobs.worker import run_worker


async def slow(payload: dict[str, Any], report: Progress) -> None:
    steps = 1200
    for n in range(steps):
        report(n / steps, speed=1.0)
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    sys.exit(asyncio.run(run_worker(load_settings(), lambda _sessions: {"slow": slow}, worker_id=sys.argv[1],
                                    lease_s=1.0)))
