"""The library catalogue: finding, reading, changing and deleting Resources.

The API and the library pages both call these functions, so both apply the same visibility
(`access.visible_resources`), validation and audit log. Search is a substring match (LIKE with
% and _ escaped), which finds part of a Chinese title on SQLite and PostgreSQL alike, where
word-based full-text search would need a Chinese tokenizer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, and_, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .. import audit
from ..audit import AuditTag
from ..auth.principal import Principal
from ..errors import ErrorCode, FieldError, KelianError
from ..jobs import store as jobs
from ..models import (
    JobState,
    LessonKind,
    Recording,
    RecordingState,
    Resource,
    ResourceState,
    School,
    User,
)
from ..services.records import DEFAULT_LIMIT, Filter, invalid, parse
from .access import can_change_resource, visible_resources
from .shapes import ResourcePatch
from .storage import LibraryStorage

log = logging.getLogger("kelian.library")

MAX_TERMS = 5  # words of one search, each of which must match somewhere
JOB_SUBJECT = "resource"

# The list filters, as the OpenAPI document describes them (the parsing is `parse_query`).
FILTERS: dict[str, Filter] = {
    "q": Filter(Resource.title, "contains", description=(
        "Search: every word must occur in the title, description, tags, teacher's or school's "
        "name (substring, case-insensitive; works for Chinese)")),
    "subject": Filter(Resource.subject, description="Only this subject"),
    "grade": Filter(Resource.grade, description="Only this grade"),
    "lesson_kind": Filter(Resource.lesson_kind, description="Only this kind of lesson"),
    "school_id": Filter(Resource.school_id, type=int, description="Only this school's"),
    "teacher_id": Filter(Resource.teacher_id, type=int, description="Only this teacher's"),
    "tag": Filter(Resource.tags, description="Only those with this tag"),
    "from": Filter(Resource.taught_on, "gte", type=date,
                   description="Only those taught on or after this date"),
    "to": Filter(Resource.taught_on, type=date,
                 description="Only those taught on or before this date"),
    "state": Filter(Resource.state, description=(
        "Only those in this state (others than ready are listed to their owner and admins)")),
    "mine": Filter(Resource.owner_id, type=bool,
                   description="true: only those you own or that show your teaching"),
}


@dataclass(frozen=True)
class CatalogueQuery:
    """What a catalogue list asks for; empty fields ask for anything."""

    q: str = ""
    subject: str | None = None
    grade: str | None = None
    lesson_kind: LessonKind | None = None
    school_id: int | None = None
    teacher_id: int | None = None
    tag: str | None = None
    taught_from: date | None = None
    taught_to: date | None = None
    state: ResourceState | None = None
    mine: bool = False

    @property
    def filtered(self) -> bool:
        return self != CatalogueQuery()


def _text(name: str, raw: str, limit: int = 200) -> str:
    if "\x00" in raw:  # PostgreSQL text cannot hold NUL; nothing stored contains one
        raise invalid(name, "must be text without NUL characters")
    return raw.strip()[:limit]


def _int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, "must be an integer") from None
    if not -(2**31) <= value < 2**31:
        raise invalid(name, "must be an integer")
    return value


def _date(name: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise invalid(name, "must be a date such as 2026-09-01") from None


def _choice(name: str, raw: str, enum: type[LessonKind] | type[ResourceState]) -> Any:
    try:
        return enum(raw)
    except ValueError:
        raise invalid(name, f"must be one of: {', '.join(e.value for e in enum)}") from None


def parse_query(raw: Mapping[str, str], *, strict: bool = True) -> CatalogueQuery:
    """The filters of a query string. `strict` (the API) refuses unknown names; the pages send
    their own extra parameters (page, notice) and empty inputs, which mean "any"."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name in ("limit", "offset"):
            continue
        if name not in FILTERS:
            if strict:
                raise KelianError(
                    ErrorCode.invalid,
                    f"Unknown filter {name!r}; use one of: {', '.join(sorted(FILTERS))}",
                    [FieldError(name, "unknown filter")])
            continue
        if not strict and not value.strip():
            continue
        match name:
            case "q" | "subject" | "grade" | "tag":
                values[name] = _text(name, value)
            case "school_id" | "teacher_id":
                values[name] = _int(name, value)
            case "lesson_kind":
                values[name] = _choice(name, value, LessonKind)
            case "state":
                values[name] = _choice(name, value, ResourceState)
            case "from":
                values["taught_from"] = _date(name, value)
            case "to":
                values["taught_to"] = _date(name, value)
            case "mine":
                if value not in ("true", "false"):
                    raise invalid(name, "expected true or false")
                values[name] = value == "true"
    return CatalogueQuery(**values)


# Search ---------------------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return column.ilike(f"%{_escape_like(text)}%", escape="\\")


def _tags_text() -> ColumnElement[str]:
    return cast(Resource.tags, Text)


def _in_tags(text: str, whole: bool) -> ColumnElement[bool]:
    """Tags are a JSON list. Its stored text may spell Chinese as \\uXXXX escapes (json.dumps'
    default) or as it is, so both spellings are looked for; `whole` matches one whole tag."""
    spellings = {json.dumps(text), json.dumps(text, ensure_ascii=False)}
    if not whole:
        spellings = {s[1:-1] for s in spellings}  # without the quotes: part of a tag
    return or_(*(_contains(_tags_text(), s) for s in sorted(spellings)))


def _search(q: str) -> ColumnElement[bool]:
    terms = q.split()[:MAX_TERMS]
    conditions = []
    for term in terms:
        conditions.append(or_(
            _contains(Resource.title, term),
            _contains(Resource.description, term),
            _contains(Resource.subject, term),
            _in_tags(term, whole=False),
            Resource.teacher_id.in_(select(User.id).where(_contains(User.display_name, term))),
            Resource.school_id.in_(select(School.id).where(_contains(School.name, term))),
        ))
    return and_(*conditions)


def _conditions(p: Principal, query: CatalogueQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [visible_resources(p)]
    if query.q:
        conds.append(_search(query.q))
    if query.subject:
        conds.append(Resource.subject == query.subject)
    if query.grade:
        conds.append(Resource.grade == query.grade)
    if query.lesson_kind is not None:
        conds.append(Resource.lesson_kind == query.lesson_kind)
    if query.school_id is not None:
        conds.append(Resource.school_id == query.school_id)
    if query.teacher_id is not None:
        conds.append(Resource.teacher_id == query.teacher_id)
    if query.tag:
        conds.append(_in_tags(query.tag, whole=True))
    if query.taught_from is not None:
        conds.append(Resource.taught_on >= query.taught_from)
    if query.taught_to is not None:
        conds.append(Resource.taught_on <= query.taught_to)
    if query.state is not None:
        conds.append(Resource.state == query.state)
    if query.mine:
        conds.append(or_(Resource.owner_id == p.user_id, Resource.teacher_id == p.user_id))
    return conds


def _loaded(stmt: Select[Any]) -> Select[Any]:
    return stmt.options(selectinload(Resource.renditions), selectinload(Resource.teacher),
                        selectinload(Resource.school))


async def list_resources(db: AsyncSession, p: Principal, query: CatalogueQuery, *,
                         limit: int = DEFAULT_LIMIT, offset: int = 0
                         ) -> tuple[list[Resource], int]:
    """One page of the Resources `p` may see that match `query`, newest lesson first, and how
    many match in all."""
    conds = _conditions(p, query)
    total = await db.scalar(select(func.count()).select_from(Resource).where(*conds)) or 0
    rows = await db.scalars(
        _loaded(select(Resource).where(*conds))
        .order_by(Resource.taught_on.is_(None), Resource.taught_on.desc(),
                  Resource.created_at.desc(), Resource.id.desc())
        .limit(limit).offset(offset))
    return list(rows), total


async def get_resource(db: AsyncSession, p: Principal, resource_id: int) -> Resource:
    """The Resource, or not_found when it does not exist or `p` may not see it."""
    found = None
    if 1 <= resource_id < 2**31:
        found = await db.scalar(_loaded(select(Resource).where(
            Resource.id == resource_id, visible_resources(p))))
    if found is None:
        raise KelianError(ErrorCode.not_found, f"No resource with id {resource_id}")
    return found


@dataclass(frozen=True)
class Facets:
    """What the filter form offers: the values present among the Resources `p` may see."""

    subjects: list[str]
    grades: list[str]
    schools: list[tuple[int, str]]
    teachers: list[tuple[int, str]]


async def facets(db: AsyncSession, p: Principal) -> Facets:
    seen = visible_resources(p)

    async def distinct(column: Any) -> list[str]:
        rows = await db.scalars(select(column).where(seen, column != "").distinct()
                                .order_by(column))
        return list(rows)

    schools = await db.execute(
        select(School.id, School.name).where(School.id.in_(select(Resource.school_id).where(seen)))
        .order_by(School.name))
    teachers = await db.execute(
        select(User.id, User.display_name)
        .where(User.id.in_(select(Resource.teacher_id).where(seen)))
        .order_by(User.display_name))
    return Facets(subjects=await distinct(Resource.subject), grades=await distinct(Resource.grade),
                  schools=[(i, n) for i, n in schools], teachers=[(i, n) for i, n in teachers])


# Changes ---------------------------------------------------------------------------------------


def _target(resource_id: int) -> str:
    return f"resource:{resource_id}"


def _forbid(verb: str) -> KelianError:
    return KelianError(ErrorCode.forbidden, f"You may not {verb} this resource")


_NOT_NULL = frozenset({"title", "subject", "grade", "description", "tags", "visibility"})


async def update_resource(db: AsyncSession, p: Principal, resource_id: int,
                          payload: object) -> Resource:
    """Change a Resource's metadata (its owner or an admin)."""
    resource = await get_resource(db, p, resource_id)
    if not can_change_resource(p, resource):
        raise _forbid("change")
    data = parse(ResourcePatch, payload)
    for key, value in data.items():
        if value is None and key in _NOT_NULL:
            raise invalid(key, "cannot be null")
    for key, value in data.items():
        setattr(resource, key, value)
    audit.record(db, AuditTag.record_updated, p, _target(resource_id), fields=sorted(data))
    await db.commit()
    db.expire_all()
    return await get_resource(db, p, resource_id)


async def count_view(db: AsyncSession, resource_id: int) -> None:
    """One more view (a player page was opened), without reading the row first."""
    await db.execute(update(Resource).where(Resource.id == resource_id)
                     .values(views=Resource.views + 1), execution_options={"synchronize_session": False})
    await db.commit()


async def delete_resource(db: AsyncSession, p: Principal, storage: LibraryStorage,
                          resource_id: int) -> None:
    """Delete the Resource (its owner or an admin): its rows, its files, its upload, and the
    lesson Recording it was made from when nothing else uses that. A transcode still queued or
    running is cancelled first, so no job writes the files again."""
    resource = await get_resource(db, p, resource_id)
    if not can_change_resource(p, resource):
        raise _forbid("delete")
    for job in await jobs.jobs_of(db, JOB_SUBJECT, resource_id):
        if job.state in (JobState.queued, JobState.running):
            await jobs.cancel(db, job.id)
    paths = [resource.directory, resource.source_file]
    recording = await _recording_to_drop(db, resource)
    if recording is not None:
        paths += [f"{recording.directory}/{seg['file']}" for seg in recording.segments
                  if isinstance(seg, dict) and seg.get("file")]
        await db.delete(recording)
    await db.delete(resource)
    audit.record(db, AuditTag.record_deleted, p, _target(resource_id), title=resource.title)
    await db.commit()
    # Files go once the rows are gone: a failure above leaves both as they were.
    await asyncio.to_thread(_remove, storage, [path for path in paths if path],
                            recording.directory if recording is not None else None)


async def _recording_to_drop(db: AsyncSession, resource: Resource) -> Recording | None:
    if resource.recording_id is None:
        return None
    others = await db.scalar(select(func.count()).select_from(Resource).where(
        Resource.recording_id == resource.recording_id, Resource.id != resource.id))
    recording = await db.get(Recording, resource.recording_id)
    if others or recording is None or recording.state is RecordingState.recording:
        return None
    return recording


def _remove(storage: LibraryStorage, paths: list[str], recording_dir: str | None) -> None:
    for path in paths:
        try:
            storage.remove(path)
        except (OSError, KelianError, ValueError) as exc:
            log.warning("could not remove %s from the library: %s", path, exc)
    if recording_dir:  # shared by a lesson's recording runs: removed only once empty
        try:
            storage.path(recording_dir).rmdir()
        except (OSError, KelianError):
            pass


# Processing ------------------------------------------------------------------------------------


async def progress(db: AsyncSession, p: Principal, resource_id: int) -> dict[str, Any]:
    """The Resource's state and its newest transcode job's progress."""
    resource = await get_resource(db, p, resource_id)
    found = await jobs.jobs_of(db, JOB_SUBJECT, resource_id)
    job = found[0] if found else None
    running = job is not None and job.state in (JobState.queued, JobState.running)
    error = resource.error
    if resource.state is ResourceState.failed and not error and job is not None:
        error = job.error
    return {
        "state": resource.state,
        "progress": job.progress if running and job is not None else None,
        "speed": job.speed if running and job is not None else None,
        "job_state": job.state if job is not None else None,
        "attempts": job.attempts if job is not None else None,
        "error": error,
    }
