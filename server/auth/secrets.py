"""Passwords (argon2) and random tokens (stored as SHA-256, they carry 256 bits of entropy)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the account does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("kelian-no-such-user")

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_off_loop(password: str) -> str:
    """`hash_password` in a worker thread: argon2 takes ~0.3 s of CPU and releases the GIL,
    so the event loop (and the live relay on it) keeps running meanwhile."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_token(prefix: str) -> str:
    """A bearer secret such as `kt_…` (terminal), `ka_…` (API) or `ks_…` (session)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_stream_key() -> str:
    return secrets.token_hex(16)
