"""Logging set-up: readable lines (`text`) or one JSON object per line (`json`) on stderr.

In json mode a record's context fields, given as `log.info(..., extra={"lesson_id": 3})`, become
keys of its object. In both modes every HTTP request gets an access line from logger
`kelian.access`, without query string or WHIP stream key (aiohttp's own access log is off).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from aiohttp import web

from .config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS = logging.getLogger("kelian.access")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Paths whose first segment after the prefix is a secret: a WHIP encoder's stream key.
SECRET_SEGMENT = ("/whip/",)
QUIET_PATHS = frozenset({"/healthz", "/readyz"})

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}
_CORE = ("ts", "level", "logger", "msg", "exc", "stack")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, exc, then the `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "ts": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        for key, value in context(record).items():
            if key not in _CORE:  # a context field never hides the record's own
                out[key] = value
        # default=str: enums, paths and ids of any type still make valid JSON.
        return json.dumps(out, ensure_ascii=False, default=str)


def context(record: logging.LogRecord) -> dict[str, Any]:
    """The fields `extra=` added to the record."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time (tests swap it), like logging.lastResort."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def setup_logging(settings: Settings) -> None:
    """Install the one stderr handler (replacing an earlier one of ours) in the chosen format."""
    root = logging.getLogger()
    root.setLevel(settings.log_level.upper())
    for handler in list(root.handlers):
        if isinstance(handler, StderrHandler):
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)


def loggable_path(path: str) -> str:
    """The path with its secret segment (if any) hidden."""
    for prefix in SECRET_SEGMENT:
        if path.startswith(prefix) and len(path) > len(prefix):
            _, slash, tail = path[len(prefix):].partition("/")
            return f"{prefix}***{slash}{tail}"
    return path


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One `kelian.access` line per request. The path goes without its query
    string and WHIP stream key, and no header is logged: kiosk tokens travel in query strings,
    API tokens in Authorization."""
    started = time.perf_counter()
    status = 500
    try:
        response: web.StreamResponse = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects and errors raised past the error middleware
        status = exc.status
        raise
    except asyncio.CancelledError:  # the client went away before the answer
        status = 499
        raise
    finally:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        path = loggable_path(request.path)
        # Probes come every few seconds from the orchestrator: kept out of INFO.
        level = logging.DEBUG if path in QUIET_PATHS and status < 400 else logging.INFO
        ACCESS.log(level, "%s %s %d %.1f ms", request.method, path, status, duration_ms,
                    extra={"method": request.method, "path": path, "status": status,
                           "duration_ms": duration_ms, "remote": request.remote})
