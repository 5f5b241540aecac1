"""A TCP proxy for browser tests: a link that can be cut, or a balancer over several nodes."""

from __future__ import annotations

import asyncio
import threading

from tests.pages.demo_server import free_port


class Link:
    """A TCP proxy on loopback that can go down: `cut()` closes every connection through it
    and refuses new ones until `restore()`, as a dead rural uplink would. With several upstream
    ports it balances: each new connection goes to the next one that accepts it, as a load
    balancer in front of several nodes does."""

    def __init__(self, upstream_ports: list[int]) -> None:
        self.upstream_ports = upstream_ports
        self.port = free_port()
        self._turn = 0
        self.up = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="link", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        for _ in self.upstream_ports:
            port = self.upstream_ports[self._turn % len(self.upstream_ports)]
            self._turn += 1
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue  # that one is down: the next
        else:
            writer.close()
            return
        pair = {writer, up_writer}
        self._writers |= pair

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= pair

    def cut(self) -> None:
        def down() -> None:
            self.up = False
            for writer in list(self._writers):
                writer.transport.abort()  # a reset, not a polite close
        self._loop.call_soon_threadsafe(down)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "up", True)

    def close(self) -> None:
        async def shutdown() -> None:  # end the pipes while their loop still runs
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
