"""Every error has a code from one enum; the API, the pages and the logs use the same strings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ErrorCode(StrEnum):
    bad_request = "bad_request"  # malformed body or query
    invalid = "invalid"  # well-formed but fails validation; see details
    unauthenticated = "unauthenticated"  # no, wrong, expired or revoked credentials
    forbidden = "forbidden"  # known principal, not allowed
    csrf_failed = "csrf_failed"
    not_found = "not_found"
    conflict = "conflict"  # duplicate name or a record still in use
    too_large = "too_large"
    throttled = "throttled"
    unsupported_media_type = "unsupported_media_type"
    method_not_allowed = "method_not_allowed"
    internal = "internal"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.bad_request: 400,
    ErrorCode.invalid: 422,
    ErrorCode.unauthenticated: 401,
    ErrorCode.forbidden: 403,
    ErrorCode.csrf_failed: 403,
    ErrorCode.not_found: 404,
    ErrorCode.conflict: 409,
    ErrorCode.too_large: 413,
    ErrorCode.throttled: 429,
    ErrorCode.unsupported_media_type: 415,
    ErrorCode.method_not_allowed: 405,
    ErrorCode.internal: 500,
}


@dataclass
class FieldError:
    field: str
    message: str


@dataclass
class KelianError(Exception):
    """A failure to report to the caller. `message` is English; pages translate it with gettext."""

    code: ErrorCode
    message: str
    details: list[FieldError] = field(default_factory=list)

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code.value, "message": self.message}
        if self.details:
            body["details"] = [{"field": d.field, "message": d.message} for d in self.details]
        return {"error": body}
