"""Shapes that only the API has: the principal, API tokens, pages and the error envelope.

The record shapes live in `server.schemas`; these sit beside them in the OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated

from pydantic import BaseModel, Field, create_model

from ..auth.principal import PrincipalKind
from ..errors import ErrorCode
from ..models import Role
from ..schemas import In, Name, Out

MAX_TOKEN_DAYS = 3650


class MeOut(BaseModel):
    """Who the request acts as: a user (with role and scope) or a classroom terminal."""

    kind: PrincipalKind
    name: str
    user_id: int | None
    role: Role | None
    school_id: int | None
    county: str | None
    terminal_id: int | None
    classroom_id: int | None
    locale: str | None


class ApiTokenIn(In):
    name: Name
    expires_in_days: Annotated[int, Field(ge=1, le=MAX_TOKEN_DAYS)] | None = Field(
        default=None, description="Null for a token that does not expire"
    )


class ApiTokenOut(Out):
    """An API token as listed: never its secret."""

    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreatedOut(ApiTokenOut):
    """Returned once, when the token is made; only its hash is kept."""

    token: str


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str
    details: list[FieldErrorOut] = []


class ErrorOut(BaseModel):
    """Every failure has this shape; `code` is one of a fixed list."""

    error: ErrorBody


class PageBase(BaseModel):
    total: int = Field(ge=0, description="Records matching the filters, over all pages")
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)


@cache
def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """The page model listing `item`s, named after it (`SchoolOut` -> `SchoolPage`)."""
    name = item.__name__.removesuffix("Out") + "Page"
    return create_model(name, __base__=PageBase, __doc__=f"One page of {item.__name__} records.",
                        items=(list[item], ...))  # type: ignore[valid-type]
