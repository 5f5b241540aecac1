"""The in-process sign-in throttle, driven by a fake clock."""

from __future__ import annotations

from server.auth.throttle import MemoryLoginThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(attempts: int = 3, window: float = 60.0) -> tuple[MemoryLoginThrottle, FakeClock]:
    clock = FakeClock()
    return MemoryLoginThrottle(attempts, window, clock=clock), clock


def test_blocks_after_n_failures() -> None:
    throttle, clock = make()
    for _ in range(2):
        throttle.failed("alice|10.0.0.1")
        assert throttle.retry_after("alice|10.0.0.1") == 0
    throttle.failed("alice|10.0.0.1")
    assert throttle.retry_after("alice|10.0.0.1") == 60.0
    clock.now += 15
    assert throttle.retry_after("alice|10.0.0.1") == 45.0


def test_keys_are_independent() -> None:
    throttle, _ = make()
    for _ in range(3):
        throttle.failed("alice|10.0.0.1")
    assert throttle.retry_after("alice|10.0.0.1") > 0
    assert throttle.retry_after("alice|10.0.0.2") == 0
    assert throttle.retry_after("bob|10.0.0.1") == 0


def test_window_slides() -> None:
    throttle, clock = make()
    throttle.failed("k")  # t = 0
    clock.now += 20
    throttle.failed("k")  # t = 20
    clock.now += 20
    throttle.failed("k")  # t = 40: blocked until the first failure leaves the window at t = 60
    assert throttle.retry_after("k") == 20.0
    clock.now += 20  # t = 60
    assert throttle.retry_after("k") == 0
    throttle.failed("k")  # t = 60: failures at 20, 40, 60
    assert throttle.retry_after("k") == 20.0
    clock.now += 60  # t = 120: all gone
    assert throttle.retry_after("k") == 0


def test_old_failures_do_not_count() -> None:
    throttle, clock = make()
    for _ in range(10):
        throttle.failed("k")
        clock.now += 30  # two failures per window at most
        assert throttle.retry_after("k") == 0


def test_success_resets() -> None:
    throttle, _ = make()
    for _ in range(3):
        throttle.failed("k")
    assert throttle.retry_after("k") > 0
    throttle.succeeded("k")
    assert throttle.retry_after("k") == 0
    throttle.failed("k")
    throttle.failed("k")
    assert throttle.retry_after("k") == 0
    throttle.succeeded("never-failed")  # harmless
