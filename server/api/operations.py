"""One `Operation` per API endpoint: the route table both the router and the OpenAPI document read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from ..http import UNSAFE_METHODS, Handler
from ..services.records import Filter

API_PREFIX = "/api/v1"
ID = "{id:[0-9]+}"  # ASCII digits only (\d also matches other scripts' digits)
_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # aiohttp form, e.g. "/api/v1/schools/{id:[0-9]+}"
    handler: Handler
    route: str  # name of the aiohttp resource (one per path)
    operation_id: str
    summary: str
    tag: str
    status: int = 200  # on success
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None  # None with status 204
    filters: Mapping[str, Filter] = field(default_factory=dict)
    paged: bool = False  # takes limit and offset
    public: bool = False  # no credentials needed
    conflicts: bool = False  # may answer 409
    forbids: bool = False  # may answer 403 even when read-only
    description: str = ""

    @property
    def openapi_path(self) -> str:
        """`/api/v1/schools/{id}`: placeholders without their regular expressions."""
        return _PLACEHOLDER.sub(r"{\1}", self.path)

    @property
    def path_params(self) -> list[str]:
        return _PLACEHOLDER.findall(self.path)

    @property
    def unsafe(self) -> bool:
        return self.method in UNSAFE_METHODS

    @property
    def error_statuses(self) -> list[int]:
        """The failure statuses this operation can answer with, as the OpenAPI document lists them."""
        codes: set[int] = set()
        if not self.public:
            codes.add(401)
        if not self.public and (self.unsafe or self.forbids):
            codes.add(403)  # not allowed, or a cookie request without its CSRF header
        if self.path_params:
            codes.add(404)
        if self.body is not None:
            codes |= {400, 413, 415, 422}
        if self.filters or self.paged:
            codes.add(422)
        if self.conflicts:
            codes.add(409)
        return sorted(codes)


def path(*parts: str) -> str:
    return "/".join((API_PREFIX, *parts))
