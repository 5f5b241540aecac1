"""Small helpers shared by tests."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

_MISSING = object()


async def eventually(
    predicate: Callable[[], Any | Awaitable[Any]],
    timeout: float = 5.0,
    interval: float = 0.05,
) -> Any:
    """Poll `predicate` (sync or async) until it returns a truthy value, and return that value.

    Exceptions raised by the predicate count as "not yet". On timeout the test fails, naming the
    last exception or the last falsy value, so the failure says what was still wrong.
    """
    deadline = time.monotonic() + timeout
    last_value: Any = _MISSING
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:  # noqa: BLE001 - any failure means "try again"
            last_error, last_value = exc, _MISSING
        else:
            if value:
                return value
            last_error, last_value = None, value
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(interval)
    name = getattr(predicate, "__name__", repr(predicate))
    if last_error is not None:
        pytest.fail(f"{name} did not hold within {timeout}s; last error: {last_error!r}")
    pytest.fail(f"{name} did not hold within {timeout}s; last value: {last_value!r}")
