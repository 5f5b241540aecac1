"""The audit log: named tags for security-relevant acts, the same strings in logs and database."""

from __future__ import annotations

import logging
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from .auth.principal import Principal
from .models import AuditEvent

log = logging.getLogger("kelian.audit")


class AuditTag(StrEnum):
    sign_in = "auth.sign_in"
    sign_in_failed = "auth.sign_in_failed"
    sign_out = "auth.sign_out"
    terminal_token_issued = "terminal.token_issued"
    terminal_token_revoked = "terminal.token_revoked"
    api_token_issued = "api_token.issued"
    api_token_revoked = "api_token.revoked"
    record_created = "record.created"
    record_updated = "record.updated"
    record_deleted = "record.deleted"
    lesson_started = "lesson.started"
    lesson_ended = "lesson.ended"
    lesson_inspected = "lesson.inspected"  # an inspector entered a live lesson's Room
    inspection_ended = "lesson.inspection_ended"


def _context(tag: AuditTag, actor: str, target: str | None) -> dict[str, object]:
    """Fields for structured logs (server/logs.py); a target "lesson:7" adds lesson_id 7."""
    fields: dict[str, object] = {"audit": tag.value, "actor": actor, "target": target}
    kind, _, ident = (target or "").partition(":")
    if kind.isidentifier() and ident.isdigit():
        fields[f"{kind}_id"] = int(ident)
    return fields


def record(db: AsyncSession, tag: AuditTag, actor: Principal | str, target: str | None = None,
           **detail: object) -> None:
    """Adds the event to `db`'s transaction; it is stored when the caller commits."""
    name = actor if isinstance(actor, str) else actor.audit_name
    log.info("%s actor=%s target=%s %s", tag.value, name, target, detail or "",
             extra=_context(tag, name, target))
    db.add(AuditEvent(tag=tag.value, actor=name, target=target, detail=dict(detail)))
