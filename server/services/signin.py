"""Signing in with a username and password: throttled, audited, one message for every failure.

The caller (the sign-in page, or an API endpoint) starts the session once `authenticate`
returns the user. Failures are committed to the audit log before the error is raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..audit import AuditTag, record
from ..auth.secrets import hash_password_off_loop, needs_rehash, verify_password_off_loop
from ..auth.throttle import LoginThrottle
from ..errors import ErrorCode, KelianError
from ..models import User

WRONG_CREDENTIALS = "Wrong username or password"
ACCOUNT_DISABLED = "This account is disabled; ask an administrator"
# Longer inputs are refused without hashing them (argon2 on megabytes is a cheap DoS).
MAX_INPUT = 256


@dataclass
class SignInThrottled(KelianError):
    """Too many recent failures for this account from this address."""

    retry_after: int = 0


def throttle_key(username: str, address: str) -> str:
    return f"{username.strip().lower()}|{address}"


async def authenticate(
    db: AsyncSession, throttle: LoginThrottle, username: str, password: str, address: str
) -> User:
    """The active user with these credentials, or a KelianError (unauthenticated or throttled)."""
    username = username.strip()
    key = throttle_key(username, address)
    wait = throttle.retry_after(key)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise SignInThrottled(
            ErrorCode.throttled,
            f"Too many failed sign-ins; try again in {seconds} seconds",
            retry_after=seconds,
        )

    user = None
    if 0 < len(username) <= MAX_INPUT:
        user = await db.scalar(select(User).where(User.username == username))
    password_ok = len(password) <= MAX_INPUT and await verify_password_off_loop(
        user.password_hash if user is not None else None, password
    )
    if user is None or not password_ok:
        await _failed(db, throttle, key, user, username, address, "wrong_credentials")
        raise KelianError(ErrorCode.unauthenticated, WRONG_CREDENTIALS)
    if not user.active:
        await _failed(db, throttle, key, user, username, address, "inactive")
        raise KelianError(ErrorCode.unauthenticated, ACCOUNT_DISABLED)

    throttle.succeeded(key)
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password_off_loop(password)
    record(db, AuditTag.sign_in, f"user:{user.id}", f"user:{user.id}", address=address)
    await db.commit()
    return user


async def _failed(db: AsyncSession, throttle: LoginThrottle, key: str, user: User | None,
                  username: str, address: str, reason: str) -> None:
    throttle.failed(key)
    record(db, AuditTag.sign_in_failed, "anonymous",
           f"user:{user.id}" if user is not None else None,
           username=username[:64], address=address, reason=reason)
    await db.commit()
