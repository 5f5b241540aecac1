"""The OpenAPI 3.1 document, generated from the route table and the pydantic schemas.

Nothing here is written by hand per endpoint: paths come from the `Operation`s, bodies and
answers from the models' JSON Schemas (their `$defs` become `components/schemas`), query
parameters from the record specs' filters, failures from `ErrorCode`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from ..auth.resolve import SESSION_COOKIE
from ..errors import HTTP_STATUS
from ..http import CSRF_COOKIE, CSRF_HEADER, json_response
from ..services.records import DEFAULT_LIMIT, MAX_LIMIT, Filter
from .operations import Operation
from .shapes import ErrorOut

OPENAPI_DOCUMENT = web.AppKey("openapi_document", dict[str, Any])
OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
INT32_MAX = 2**31 - 1

_STATUS_NAMES = {
    400: ("BadRequest", "The body is not JSON or not an object"),
    401: ("Unauthenticated", "No credentials, or a token that is unknown, expired or revoked"),
    403: ("Forbidden", "Not allowed for you, or a cookie-authenticated write without its CSRF "
                       "header"),
    404: ("NotFound", "No such record, or one you may not see"),
    409: ("Conflict", "A duplicate name or key, or a record other records still use"),
    413: ("TooLarge", "The body is larger than the server accepts"),
    415: ("UnsupportedMediaType", "The body is not application/json"),
    422: ("Invalid", "Well-formed but invalid; `details` names each field"),
}

_SECURITY_SCHEMES = {
    "bearer": {
        "type": "http", "scheme": "bearer",
        "description": "An API token (`ka_…`, see POST /api/v1/tokens) or a terminal token "
                       "(`kt_…`). No CSRF header is needed.",
    },
    "session": {
        "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
        "description": f"The browser's sign-in cookie. Writes must echo the `{CSRF_COOKIE}` "
                       f"cookie in the `{CSRF_HEADER}` header.",
    },
}


def _codes_for(status: int) -> list[str]:
    return [code.value for code, s in HTTP_STATUS.items() if s == status]


def _error_response(status: int, error_schema: dict[str, Any]) -> dict[str, Any]:
    name, description = _STATUS_NAMES[status]
    codes = ", ".join(f"`{c}`" for c in _codes_for(status))
    schema = {"allOf": [
        error_schema,
        {"properties": {"error": {"properties": {"code": {"enum": _codes_for(status)}}}}},
    ]}
    response: dict[str, Any] = {
        "description": f"{description} (code {codes})",
        "content": {"application/json": {"schema": schema}},
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {
            "description": "The scheme to use: Bearer", "schema": {"type": "string"}}}
    return response


def _filter_schema(flt: Filter) -> dict[str, Any]:
    if flt.type is int:
        return {"type": "integer", "minimum": -INT32_MAX - 1, "maximum": INT32_MAX}
    if flt.type is bool:
        return {"type": "boolean"}
    if flt.type is datetime:
        return {"type": "string", "format": "date-time"}
    if flt.type is date:
        return {"type": "string", "format": "date"}
    choices = getattr(flt.column.type, "enums", None)
    return {"type": "string", "enum": list(choices)} if choices else {"type": "string"}


def _filter_description(name: str, flt: Filter) -> str:
    if flt.description:
        return flt.description
    column = flt.column.key
    match flt.op:
        case "contains":
            return f"Only records whose {column} contains this text (case-insensitive)"
        case "gte":
            return f"Only records whose {column} is at or after this time (with its zone)"
        case "lt":
            return f"Only records whose {column} is before this time (with its zone)"
    return f"Only records whose {column} equals this"


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "integer", "minimum": 1}, "description": "The record's id"}
        for name in op.path_params
    ]
    if op.paged:
        params += [
            {"name": "limit", "in": "query", "description": "Page size",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT}},
            {"name": "offset", "in": "query", "description": "Records to skip",
             "schema": {"type": "integer", "minimum": 0, "maximum": INT32_MAX, "default": 0}},
        ]
    params += [
        {"name": name, "in": "query", "schema": _filter_schema(flt),
         "description": _filter_description(name, flt)}
        for name, flt in op.filters.items()
    ]
    return params


def _models(ops: Iterable[Operation]) -> dict[tuple[type[BaseModel], JsonSchemaMode], None]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorOut, "serialization"): None}
    for op in ops:
        if op.body is not None:
            wanted[(op.body, "validation")] = None
        if op.response is not None:
            wanted[(op.response, "serialization")] = None
    return wanted


def _operation(op: Operation, refs: dict[tuple[type[BaseModel], JsonSchemaMode], Any]
               ) -> dict[str, Any]:
    success: dict[str, Any] = {"description": op.summary if op.status != 204 else "Done"}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
    elif op.status != 204:
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    if op.status == 201:
        success["headers"] = {"Location": {"description": "Where the new record can be read",
                                           "schema": {"type": "string"}}}
    responses = {str(op.status): success}
    for status in op.error_statuses:
        responses[str(status)] = {"$ref": f"#/components/responses/{_STATUS_NAMES[status][0]}"}
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    if op.description:
        out["description"] = op.description
    if params := _parameters(op):
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": refs[(op.body, "validation")]}}}
    if op.public:
        out["security"] = []
    return out


def document(ops: list[Operation]) -> dict[str, Any]:
    """The OpenAPI document describing `ops`."""
    refs, defs = models_json_schema(list(_models(ops)), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation(op, refs)
    statuses = sorted({s for op in ops for s in op.error_statuses})
    tags = list(dict.fromkeys(op.tag for op in ops))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Kelian API",
            "version": "1",
            "description": "Schools, classrooms, terminals, sources, users, courses, timetable "
                           "and lessons of the Three Classrooms, and the lesson library's "
                           "resources. See docs/api.md.",
        },
        "tags": [{"name": tag} for tag in tags],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "responses": {_STATUS_NAMES[s][0]: _error_response(s, refs[(ErrorOut, "serialization")])
                          for s in statuses},
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


async def serve(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_DOCUMENT])
