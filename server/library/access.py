"""Who may find, play and change a library Resource. Pure, like `server.auth.policy`: the rules
read only the principal and the Resource's own columns.

- admin: every Resource, in every state; changes and deletes any.
- its owner and the teacher it shows: theirs, in every state (a failed one with its reason).
- anyone else signed in sees only `ready` Resources, by their visibility:
  `everyone` — every signed-in person; `school` — people of its school, and the inspectors of
  its county (who oversee every school there); `county` — people of its county; `private` —
  nobody else.
- the owner (or an admin) edits and deletes. Terminals and anonymous callers see nothing.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, true

from ..auth.principal import Principal, PrincipalKind
from ..models import Resource, ResourceState, Role, Visibility


def _own(p: Principal) -> ColumnElement[bool]:
    return or_(Resource.owner_id == p.user_id, Resource.teacher_id == p.user_id)


def _shared_with(p: Principal) -> ColumnElement[bool]:
    """Ready Resources whose visibility reaches `p` (not counting ownership)."""
    reach: list[ColumnElement[bool]] = [Resource.visibility == Visibility.everyone]
    if p.school_id is not None:
        reach.append(and_(Resource.visibility == Visibility.school,
                          Resource.school_id == p.school_id))
    if p.county:
        reach.append(and_(Resource.visibility == Visibility.county, Resource.county == p.county))
        if p.role is Role.inspector:
            reach.append(and_(Resource.visibility == Visibility.school,
                              Resource.county == p.county))
    return and_(Resource.state == ResourceState.ready, or_(*reach))


def visible_resources(p: Principal) -> ColumnElement[bool]:
    """SQL condition selecting the Resources `p` may find and play."""
    if p.kind is not PrincipalKind.user or p.user_id is None:
        return false()
    if p.is_admin:
        return true()
    return or_(_own(p), _shared_with(p))


def owns(p: Principal, resource: Resource) -> bool:
    """`p` owns the Resource or is the teacher it shows."""
    return p.user_id is not None and p.user_id in (resource.owner_id, resource.teacher_id)


def can_change_resource(p: Principal, resource: Resource) -> bool:
    """Edit its metadata or delete it: its owner or an admin."""
    if p.kind is not PrincipalKind.user:
        return False
    return p.is_admin or (p.user_id is not None and resource.owner_id == p.user_id)


def can_upload(p: Principal) -> bool:
    return p.has_role(Role.teacher, Role.admin)
