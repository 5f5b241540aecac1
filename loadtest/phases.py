"""Coordinating worker processes: start them, send every one a command, collect the answers,
each with a deadline; and the percentile the figures use."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from .figures import percentile


class RunError(Exception):
    pass


class Workers:
    """Worker processes (spawned), one pipe each; `close()` reaps them whatever happened."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.conns: list[Connection] = []

    def start(self, target: Callable[..., None], name: str, *args: Any) -> None:
        conn, child = self._context.Pipe()
        process = self._context.Process(target=target, name=name, args=(*args, child))
        process.start()
        self.processes.append(process)
        self.conns.append(conn)

    def broadcast(self, command: tuple[Any, ...]) -> None:
        for conn in self.conns:
            conn.send(command)

    def gather(self, kind: str, timeout: float) -> list[Any]:
        """Every worker's next message, which must be `(kind, payload)`; returns the payloads."""
        deadline = time.monotonic() + timeout
        out = []
        for conn in self.conns:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise RunError(f"a worker sent no {kind!r} within {timeout:.0f}s")
            try:
                message = conn.recv()
            except (EOFError, OSError) as exc:
                raise RunError(f"a worker died before sending {kind!r}: {exc!r}") from None
            if message[0] != kind:
                errors = getattr(message[1], "errors", None) if len(message) > 1 else None
                raise RunError(f"expected {kind!r} from a worker, got {message[0]!r}: {errors}")
            out.append(message[1])
        return out

    def ask(self, command: tuple[Any, ...], kind: str, timeout: float) -> list[Any]:
        self.broadcast(command)
        return self.gather(kind, timeout)

    def close(self) -> None:
        for process in self.processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
                process.join()


def ms(values: Sequence[float], q: float, digits: int = 1) -> float | None:
    value = percentile(values, q)
    return None if value is None else round(value, digits)
