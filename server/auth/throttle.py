"""Sign-in throttling: a sliding window of failures per (account, address)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class LoginThrottle(Protocol):
    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when allowed now."""

    def failed(self, key: str) -> None: ...

    def succeeded(self, key: str) -> None: ...


class MemoryLoginThrottle:
    """In-process throttle; a Redis one can implement the same Protocol for many nodes."""

    def __init__(self, attempts: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self._attempts = attempts
        self._window = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, key: str) -> float:
        failures = self._recent(key)
        if len(failures) < self._attempts:
            return 0.0
        return max(0.0, failures[0] + self._window - self._clock())

    def failed(self, key: str) -> None:
        self._recent(key)
        self._failures.setdefault(key, deque()).append(self._clock())

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
