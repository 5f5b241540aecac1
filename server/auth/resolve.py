"""Turning credentials into a Principal: session cookies, API tokens and terminal tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..models import ApiToken, Classroom, Terminal, User, UserSession, utcnow
from .principal import ANONYMOUS, Principal, PrincipalKind
from .secrets import new_token, token_hash

SESSION_COOKIE = "kelian_session"
API_TOKEN_PREFIX = "ka"
TERMINAL_TOKEN_PREFIX = "kt"
SESSION_TOKEN_PREFIX = "ks"


def user_principal(user: User, via_cookie: bool) -> Principal:
    return Principal(
        kind=PrincipalKind.user,
        name=user.display_name,
        user_id=user.id,
        role=user.role,
        school_id=user.school_id,
        county=user.county if user.county else (user.school.county if user.school else None),
        locale=user.locale,
        via_cookie=via_cookie,
    )


async def start_session(db: AsyncSession, user: User, hours: int) -> str:
    """Record a new sign-in session for `user`; returns the cookie value."""
    token = new_token(SESSION_TOKEN_PREFIX)
    db.add(UserSession(token_hash=token_hash(token), user_id=user.id,
                       expires_at=utcnow() + timedelta(hours=hours)))
    await db.flush()
    return token


async def end_session(db: AsyncSession, token: str) -> None:
    await db.execute(delete(UserSession).where(UserSession.token_hash == token_hash(token)))


async def from_session_cookie(db: AsyncSession, token: str) -> Principal:
    row = await db.scalar(
        select(UserSession)
        .where(UserSession.token_hash == token_hash(token))
        .options(selectinload(UserSession.user).selectinload(User.school))
    )
    if row is None or row.expires_at <= utcnow() or not row.user.active:
        return ANONYMOUS
    return user_principal(row.user, via_cookie=True)


async def from_bearer(db: AsyncSession, token: str) -> Principal | None:
    """The principal of an API or terminal token; None when it is unknown, revoked or expired."""
    digest = token_hash(token)
    if token.startswith(TERMINAL_TOKEN_PREFIX + "_"):
        terminal = await db.scalar(
            select(Terminal)
            .where(Terminal.token_hash == digest)
            .options(selectinload(Terminal.classroom).selectinload(Classroom.school))
        )
        if terminal is None:
            return None
        terminal.last_seen_at = utcnow()
        school = terminal.classroom.school
        return Principal(
            kind=PrincipalKind.terminal,
            name=terminal.name,
            terminal_id=terminal.id,
            classroom_id=terminal.classroom_id,
            school_id=school.id,
            county=school.county,
        )
    if token.startswith(API_TOKEN_PREFIX + "_"):
        api = await db.scalar(
            select(ApiToken)
            .where(ApiToken.token_hash == digest)
            .options(selectinload(ApiToken.user).selectinload(User.school))
        )
        now = utcnow()
        if (
            api is None
            or api.revoked_at is not None
            or (api.expires_at is not None and api.expires_at <= now)
            or not api.user.active
        ):
            return None
        return user_principal(api.user, via_cookie=False)
    return None
