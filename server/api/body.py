"""Reading a JSON request body: media type, size, syntax and shape, each with its own error."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..errors import ErrorCode, KelianError

JSON_MEDIA_TYPE = "application/json"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object.

    415 when it is not `application/json`, 413 (raised by aiohttp's reader, mapped by the error
    middleware) when it exceeds the app's `client_max_size`, 400 when it is not UTF-8, not JSON
    or not an object.
    """
    if request.content_type != JSON_MEDIA_TYPE:
        raise KelianError(
            ErrorCode.unsupported_media_type,
            f"Send the body as {JSON_MEDIA_TYPE} (got {request.content_type or 'nothing'})",
        )
    raw = await request.read()
    if not raw.strip():
        raise KelianError(ErrorCode.bad_request, "The body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KelianError(ErrorCode.bad_request,
                          f"The body is not UTF-8 (byte {exc.start})") from None
    try:
        payload = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise KelianError(
            ErrorCode.bad_request,
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, absurd nesting
        raise KelianError(ErrorCode.bad_request, f"The body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise KelianError(ErrorCode.bad_request,
                          f"The body must be a JSON object, not {_json_type(payload)}")
    return payload


def _json_type(value: object) -> str:
    match value:
        case list():
            return "an array"
        case str():
            return "a string"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case None:
            return "null"
    return type(value).__name__
