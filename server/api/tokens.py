"""API tokens: a signed-in user makes bearer tokens for scripts, lists them and revokes them.

A token acts as its user. Its secret is shown once, when it is made; only its hash is kept.
Users see and revoke only their own tokens. Tokens are made only in a signed-in (cookie)
session: a token cannot make more tokens, so a leaked token cannot outlive its own expiry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..audit import AuditTag
from ..auth.principal import Principal, PrincipalKind
from ..auth.resolve import API_TOKEN_PREFIX
from ..auth.secrets import new_token, token_hash
from ..errors import ErrorCode, FieldError, KelianError
from ..http import json_response, require_user
from ..keys import SESSIONS
from ..models import ApiToken, utcnow
from ..services.records import paging, parse
from .body import read_json
from .handlers import record_id
from .shapes import ApiTokenCreatedOut, ApiTokenIn, ApiTokenOut


def _token_owner(request: web.Request) -> Principal:
    who = require_user(request)
    if who.kind is not PrincipalKind.user:
        raise KelianError(ErrorCode.forbidden, "Only a user has API tokens; a terminal has its own")
    return who


async def _own_token(db: AsyncSession, who: Principal, token_id: int) -> ApiToken:
    row = await db.scalar(select(ApiToken).where(ApiToken.id == token_id,
                                                 ApiToken.user_id == who.user_id))
    if row is None:
        raise KelianError(ErrorCode.not_found, f"You have no API token with id {token_id}")
    return row


def _no_filters(query: Mapping[str, str]) -> None:
    for name in query:
        if name not in ("limit", "offset"):
            raise KelianError(ErrorCode.invalid, f"Unknown filter {name!r}; tokens take none",
                              [FieldError(name, "unknown filter")])


def _out(row: ApiToken) -> dict[str, object]:
    return ApiTokenOut.model_validate(row).model_dump(mode="json")


async def create(request: web.Request) -> web.Response:
    who = _token_owner(request)
    if not who.via_cookie:
        raise KelianError(ErrorCode.forbidden,
                          "Make API tokens while signed in (session cookie); a token cannot make "
                          "more tokens")
    data = parse(ApiTokenIn, await read_json(request))
    days = data.get("expires_in_days")
    secret = new_token(API_TOKEN_PREFIX)
    async with request.app[SESSIONS]() as db:
        row = ApiToken(user_id=who.user_id, name=data["name"], token_hash=token_hash(secret),
                       created_at=utcnow(),
                       expires_at=utcnow() + timedelta(days=days) if days else None)
        db.add(row)
        await db.flush()
        audit.record(db, AuditTag.api_token_issued, who, f"api_token:{row.id}",
                     name=row.name, expires_at=row.expires_at.isoformat() if row.expires_at else None)
        await db.commit()
        body = ApiTokenCreatedOut(**_out(row), token=secret).model_dump(mode="json")
    location = request.app.router["api.tokens.item"].url_for(id=str(row.id))
    return json_response(body, status=201, headers={"Location": str(location)})


async def list_own(request: web.Request) -> web.Response:
    who = _token_owner(request)
    limit, offset = paging(request.query)
    _no_filters(request.query)
    own = select(ApiToken).where(ApiToken.user_id == who.user_id)
    async with request.app[SESSIONS]() as db:
        total = await db.scalar(select(func.count()).select_from(own.subquery())) or 0
        rows = await db.scalars(own.order_by(ApiToken.id).limit(limit).offset(offset))
        items = [_out(row) for row in rows]
    return json_response({"items": items, "total": total, "limit": limit, "offset": offset})


async def get_own(request: web.Request) -> web.Response:
    who = _token_owner(request)
    async with request.app[SESSIONS]() as db:
        return json_response(_out(await _own_token(db, who, record_id(request))))


async def revoke(request: web.Request) -> web.Response:
    """Revoke one of your tokens at once (revoking it twice is harmless)."""
    who = _token_owner(request)
    async with request.app[SESSIONS]() as db:
        row = await _own_token(db, who, record_id(request))
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(db, AuditTag.api_token_revoked, who, f"api_token:{row.id}")
            await db.commit()
    return web.Response(status=204)
