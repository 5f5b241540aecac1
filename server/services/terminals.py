"""Terminal tokens: issued (shown once), stored as a hash, revoked at will."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..audit import AuditTag, record
from ..auth.principal import Principal
from ..auth.resolve import TERMINAL_TOKEN_PREFIX
from ..auth.secrets import new_token, token_hash
from ..errors import ErrorCode, KelianError
from ..models import Terminal, utcnow
from .records import get_record
from .specs import TERMINAL


async def issue_token(db: AsyncSession, p: Principal, terminal_id: int) -> str:
    """A new token for the terminal; any earlier token stops working at once."""
    terminal: Terminal = await get_record(db, p, TERMINAL, terminal_id)
    if not p.is_admin:
        raise KelianError(ErrorCode.forbidden, "Only an admin issues terminal tokens")
    token = new_token(TERMINAL_TOKEN_PREFIX)
    terminal.token_hash = token_hash(token)
    terminal.token_issued_at = utcnow()
    terminal.token_revoked_at = None
    record(db, AuditTag.terminal_token_issued, p, f"terminal:{terminal.id}")
    await db.commit()
    return token


async def revoke_token(db: AsyncSession, p: Principal, terminal_id: int) -> Terminal:
    terminal: Terminal = await get_record(db, p, TERMINAL, terminal_id)
    if not p.is_admin:
        raise KelianError(ErrorCode.forbidden, "Only an admin revokes terminal tokens")
    if terminal.token_hash is not None:
        terminal.token_hash = None
        terminal.token_revoked_at = utcnow()
        record(db, AuditTag.terminal_token_revoked, p, f"terminal:{terminal.id}")
        await db.commit()
    return terminal
