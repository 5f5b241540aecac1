"""A Kelian server process that a test may SIGKILL: `python -m tests.live.crash_server DATA_DIR
PORT [--seed]`. With --seed it first builds the test world (tests/live/world.py) with its
master-teacher lesson recorded, and prints the world's ids and tokens as one JSON line. It
prints READY once it serves on 127.0.0.1:PORT."""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web

from server.app import create_app
from server.config import load_settings
from server.keys import SESSIONS
from server.models import Lesson
from tests.live.world import build_world


async def main(data_dir: str, port: int, seed: bool) -> None:
    settings = load_settings(env={}, overrides={"data_dir": data_dir, "port": str(port)})
    runner = web.AppRunner(create_app(settings))
    await runner.setup()  # the database, the relay and the job runner start here
    if seed:
        async with runner.app[SESSIONS]() as db:
            world = await build_world(db)
            lesson = await db.get(Lesson, world["master"])
            assert lesson is not None
            lesson.record = True
            await db.commit()
        print(json.dumps({"ids": world.ids, "tokens": world.tokens}), flush=True)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), "--seed" in sys.argv[3:]))
