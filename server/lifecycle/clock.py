"""The clock the lifecycle reads: `utcnow` in the app, a settable one in tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], datetime]  # aware UTC
