"""A tiny HTTP control server for load tests: one Room of one target in its own process.

This stands in for Kelian's WebSocket signalling (`/ws`) until that lands; then the load test
will drive a real `kelian serve` over `/ws` and this server stays only for the baselines.

    POST /publish   {"participant", "sdp", "sources": {mid: label}} -> {"sdp"} (the answer)
    POST /subscribe {"participant"} -> {"sdp"} (the server's offer for every publication)
    POST /answer    {"participant", "sdp"} -> {}
    GET  /stats     -> {"cpu_s", "rss_bytes", "pid", …}: the process's own accounting

Run: python -m loadtest.control --target kelian|naive-aiortc [--port 0]; it prints
"PORT <n>" once it listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
from typing import Protocol

from aiohttp import web

from .loopback import use_loopback_only


class Target(Protocol):
    async def publish(self, participant: str, sdp: str, sources: dict[str, str]) -> str: ...

    async def subscribe(self, participant: str) -> str: ...

    async def answer(self, participant: str, sdp: str) -> None: ...

    def counters(self) -> dict[str, int]: ...

    async def close(self) -> None: ...


class KelianTarget:
    """Kelian's relay: a RelayService with one Room, driven through media.interface."""

    def __init__(self) -> None:
        from media.relay.room import RelayService

        self._service = RelayService()
        self._room = None

    async def _open(self):  # type: ignore[no-untyped-def]
        if self._room is None:
            self._room = await self._service.open_room("loadtest", lambda event: None)
        return self._room

    async def publish(self, participant: str, sdp: str, sources: dict[str, str]) -> str:
        from media.interface import SourceLabel

        room = await self._open()
        return await room.publish(participant, sdp,
                                  {mid: SourceLabel(label) for mid, label in sources.items()})

    async def subscribe(self, participant: str) -> str:
        room = await self._open()
        offer = await room.subscribe(participant, [p.publication_id for p in room.publications()])
        assert offer is not None
        return offer

    async def answer(self, participant: str, sdp: str) -> None:
        room = await self._open()
        await room.accept_answer(participant, sdp)

    def counters(self) -> dict[str, int]:
        if self._room is None:
            return {}
        stats = self._room.stats()
        return {
            "packets_forwarded": sum(s.packets for s in stats.subscriptions.values()),
            "packets_received": sum(s.packets for s in stats.publications.values()),
            "keyframes_requested": sum(s.keyframes_requested for s in stats.publications.values()),
        }

    async def close(self) -> None:
        await self._service.close()


async def read_json(request: web.Request) -> dict[str, object]:
    body = await request.json()
    if not isinstance(body, dict) or not isinstance(body.get("participant"), str):
        raise web.HTTPBadRequest(text="expected a JSON object with a participant")
    return body


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


TARGET_KEY = web.AppKey("target", Target)


def create_app(target: Target) -> web.Application:
    app = web.Application()
    app[TARGET_KEY] = target

    async def publish(request: web.Request) -> web.Response:
        body = await read_json(request)
        sources = body.get("sources") or {}
        assert isinstance(sources, dict)
        sdp = await target.publish(str(body["participant"]), str(body["sdp"]), sources)
        return web.json_response({"sdp": sdp})

    async def subscribe(request: web.Request) -> web.Response:
        body = await read_json(request)
        return web.json_response({"sdp": await target.subscribe(str(body["participant"]))})

    async def answer(request: web.Request) -> web.Response:
        body = await read_json(request)
        await target.answer(str(body["participant"]), str(body["sdp"]))
        return web.json_response({})

    async def stats(request: web.Request) -> web.Response:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return web.json_response({"pid": os.getpid(), "cpu_s": usage.ru_utime + usage.ru_stime,
                                  "rss_bytes": _rss_bytes(), **target.counters()})

    async def close_target(app: web.Application) -> None:
        await target.close()

    app.router.add_post("/publish", publish)
    app.router.add_post("/subscribe", subscribe)
    app.router.add_post("/answer", answer)
    app.router.add_get("/stats", stats)
    app.on_cleanup.append(close_target)
    return app


def make_target(name: str) -> Target:
    if name == "kelian":
        return KelianTarget()
    if name == "naive-aiortc":
        from .naive import NaiveTarget

        return NaiveTarget()
    raise SystemExit(f"unknown target {name!r}")


async def serve(target_name: str, port: int) -> None:
    use_loopback_only()
    runner = web.AppRunner(create_app(make_target(target_name)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.control")
    parser.add_argument("--target", default="kelian")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.target, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
