"""The principal: who a request acts as, resolved once per request by the auth middleware."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..models import Role


class PrincipalKind(StrEnum):
    anonymous = "anonymous"
    user = "user"
    terminal = "terminal"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    name: str = ""
    user_id: int | None = None
    role: Role | None = None
    school_id: int | None = None
    county: str | None = None
    terminal_id: int | None = None
    classroom_id: int | None = None
    locale: str | None = None
    via_cookie: bool = False  # cookie-authenticated requests must pass the CSRF check

    @property
    def is_authenticated(self) -> bool:
        return self.kind is not PrincipalKind.anonymous

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    def has_role(self, *roles: Role) -> bool:
        return self.kind is PrincipalKind.user and self.role in roles

    @property
    def audit_name(self) -> str:
        if self.kind is PrincipalKind.user:
            return f"user:{self.user_id}"
        if self.kind is PrincipalKind.terminal:
            return f"terminal:{self.terminal_id}"
        return "anonymous"


ANONYMOUS = Principal(kind=PrincipalKind.anonymous)
