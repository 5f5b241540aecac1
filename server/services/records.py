"""Create, read, update, delete and list the records, with validation and the permission policy.

The API and the admin pages both call these functions, so both enforce the same rules. Every
write runs in one transaction: a failure rolls back and leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from .. import audit
from ..audit import AuditTag
from ..auth.policy import MODELS, Kind, can_change, can_create, visible
from ..auth.principal import Principal
from ..errors import ErrorCode, FieldError, KelianError

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

Prepare = Callable[[AsyncSession, Principal, dict[str, Any], Any | None], Awaitable[None]]
Check = Callable[[Any], list[FieldError]]
# Rules that need the database (e.g. booking conflicts); run after `check` passes.
DbCheck = Callable[[AsyncSession, Any], Awaitable[list[FieldError]]]


@dataclass(frozen=True)
class Filter:
    """A list filter from the query string: `eq` (exact), `contains` (search), `gte`/`lt`."""

    column: InstrumentedAttribute[Any]
    op: str = "eq"
    type: type = str
    description: str = ""  # for the API document, when the column's name does not say it


@dataclass(frozen=True)
class Many:
    """An `..._ids` field that sets a many-to-many relationship."""

    relationship: str
    kind: Kind


@dataclass(frozen=True)
class RecordSpec:
    kind: Kind
    create: type[BaseModel]
    patch: type[BaseModel]
    out: type[BaseModel]
    references: Mapping[str, Kind] = field(default_factory=dict)
    many: Mapping[str, Many] = field(default_factory=dict)
    filters: Mapping[str, Filter] = field(default_factory=dict)
    order_by: tuple[str, ...] = ("id",)
    prepare: Prepare | None = None  # fills derived columns (hashes, keys, defaults)
    check: Check | None = None  # cross-field rules on the merged record
    check_db: DbCheck | None = None  # rules against other records, on the merged record
    # Raises to refuse a delete with a reason the admin can act on.
    guard_delete: Callable[[AsyncSession, Principal, Any], Awaitable[None]] | None = None
    admin_only: frozenset[str] = frozenset()  # output fields only admins see (credentials)
    write_only: frozenset[str] = frozenset()  # input fields that are not columns

    @property
    def model(self) -> Any:
        return MODELS[self.kind]

    @property
    def name(self) -> str:
        return self.kind.value.replace("_", " ")


def invalid(field_name: str, message: str) -> KelianError:
    return KelianError(ErrorCode.invalid, f"{field_name}: {message}",
                       [FieldError(field_name, message)])


def parse(schema: type[BaseModel], payload: object) -> dict[str, Any]:
    """Validate `payload` against `schema`; fields not given stay absent."""
    if not isinstance(payload, dict):
        raise KelianError(ErrorCode.bad_request, "The body must be a JSON object")
    try:
        model = schema.model_validate(payload)
    except ValidationError as exc:
        details = [
            FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"])
            for err in exc.errors(include_url=False)
        ]
        summary = "; ".join(f"{d.field}: {d.message}" for d in details[:5])
        raise KelianError(ErrorCode.invalid, f"Invalid input: {summary}", details) from None
    return model.model_dump(exclude_unset=True)


def _options(spec: RecordSpec) -> list[Any]:
    return [selectinload(getattr(spec.model, m.relationship)) for m in spec.many.values()]


def _filter_condition(spec: RecordSpec, name: str, raw: str) -> ColumnElement[bool]:
    flt = spec.filters[name]
    try:
        if flt.type is int:
            value: Any = int(raw)
            if not -(2**31) <= value < 2**31:
                raise ValueError
        elif flt.type is datetime:
            value = datetime.fromisoformat(raw)
            if value.tzinfo is None:
                raise ValueError
            value.astimezone(UTC)  # compared in UTC; must stay within years 1..9999
        elif flt.type is bool:
            if raw not in ("true", "false"):
                raise ValueError
            value = raw == "true"
        else:
            if "\x00" in raw:  # PostgreSQL text cannot hold NUL; nothing stored contains one
                raise ValueError
            value = raw
    except (ValueError, OverflowError):
        kind = {int: "an integer", datetime: "an ISO date-time with zone", bool: "true or false",
                str: "text without NUL characters"}
        raise invalid(name, f"must be {kind.get(flt.type, 'text')}") from None
    match flt.op:
        case "contains":
            escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return flt.column.ilike(f"%{escaped}%", escape="\\")
        case "gte":
            return flt.column >= value
        case "lt":
            return flt.column < value
    return flt.column == value


def paging(raw: Mapping[str, str]) -> tuple[int, int]:
    """`limit` and `offset` from a query string, checked against their bounds."""
    try:
        limit = int(raw.get("limit", DEFAULT_LIMIT))
        offset = int(raw.get("offset", 0))
    except ValueError:
        raise invalid("limit", "limit and offset must be integers") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid("limit", f"must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset < 2**31:
        raise invalid("offset", "must be 0 or more")
    return limit, offset


def list_query(p: Principal, spec: RecordSpec, query: Mapping[str, str]) -> Select[Any]:
    """The SELECT for a filtered list that `p` may see (without paging)."""
    stmt: Select[Any] = select(spec.model).where(visible(p, spec.kind))
    for name, raw in query.items():
        if name in ("limit", "offset"):
            continue
        if name not in spec.filters:
            raise KelianError(
                ErrorCode.invalid,
                f"Unknown filter {name!r}; use one of: {', '.join(sorted(spec.filters)) or 'none'}",
                [FieldError(name, "unknown filter")],
            )
        stmt = stmt.where(_filter_condition(spec, name, raw))
    return stmt


async def list_records(
    db: AsyncSession, p: Principal, spec: RecordSpec, query: Mapping[str, str]
) -> tuple[list[Any], int, int, int]:
    """Returns (records, total, limit, offset)."""
    limit, offset = paging(query)
    stmt = list_query(p, spec, query)
    total = await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = [getattr(spec.model, col) for col in spec.order_by]
    rows = await db.scalars(stmt.options(*_options(spec)).order_by(*order)
                            .limit(limit).offset(offset))
    return list(rows), total, limit, offset


async def get_record(db: AsyncSession, p: Principal, spec: RecordSpec, record_id: int) -> Any:
    """The record, or not_found when it does not exist or `p` may not see it."""
    if not 1 <= record_id < 2**31:
        raise KelianError(ErrorCode.not_found, f"No {spec.name} with id {record_id}")
    record = await db.scalar(
        select(spec.model).where(spec.model.id == record_id, visible(p, spec.kind))
        .options(*_options(spec))
    )
    if record is None:
        raise KelianError(ErrorCode.not_found, f"No {spec.name} with id {record_id}")
    return record


async def _resolve_references(db: AsyncSession, spec: RecordSpec, data: dict[str, Any]) -> None:
    for name, kind in spec.references.items():
        ref = data.get(name)
        if ref is not None and await db.get(MODELS[kind], ref) is None:
            raise invalid(name, f"no {kind.value.replace('_', ' ')} with id {ref}")
    for name, many in spec.many.items():
        if name not in data:
            continue
        ids = list(dict.fromkeys(data.pop(name)))  # de-duplicated, order kept
        model: Any = MODELS[many.kind]
        found: list[Any] = list(await db.scalars(select(model).where(model.id.in_(ids)))) if ids else []
        missing = sorted(set(ids) - {r.id for r in found})
        if missing:
            raise invalid(name, f"no {many.kind.value} with id {missing[0]}")
        data[many.relationship] = sorted(found, key=lambda r: ids.index(r.id))


def _refuse_nulls(spec: RecordSpec, data: dict[str, Any]) -> None:
    """An explicit null clears a nullable column; anything else cannot be null."""
    columns = spec.model.__table__.columns
    for key, value in data.items():
        if value is not None:
            continue
        if key in spec.many:
            raise invalid(key, "cannot be null; give a list ([] for none)")
        if key in columns and not columns[key].nullable:
            raise invalid(key, "cannot be null")


def _apply(spec: RecordSpec, record: Any, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key not in spec.write_only:
            setattr(record, key, value)


def _raise_invalid(errors: list[FieldError]) -> None:
    if errors:
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise KelianError(ErrorCode.invalid, f"Invalid input: {summary}", errors)


async def _checked(db: AsyncSession, spec: RecordSpec, record: Any) -> None:
    _raise_invalid(spec.check(record) if spec.check else [])
    if spec.check_db:
        _raise_invalid(await spec.check_db(db, record))


async def _flush(db: AsyncSession, spec: RecordSpec, deleting: bool = False) -> None:
    try:
        await db.flush()
    except IntegrityError as exc:
        await db.rollback()
        text = str(exc.orig).lower()
        if deleting:
            message = f"This {spec.name} is still used by other records; remove those first"
        elif "unique" in text or "duplicate" in text:
            message = f"A {spec.name} with the same name or key exists already"
        else:
            message = f"This {spec.name} conflicts with other records"
        raise KelianError(ErrorCode.conflict, message) from None


def _target(spec: RecordSpec, record_id: int) -> str:
    return f"{spec.kind.value}:{record_id}"


def _forbid(spec: RecordSpec, verb: str) -> KelianError:
    return KelianError(ErrorCode.forbidden, f"You may not {verb} this {spec.name}")


async def create_record(db: AsyncSession, p: Principal, spec: RecordSpec, payload: object) -> Any:
    if not can_create(p, spec.kind):
        raise _forbid(spec, "create")
    data = parse(spec.create, payload)
    if spec.prepare:
        await spec.prepare(db, p, data, None)
    await _resolve_references(db, spec, data)
    record = spec.model()
    _apply(spec, record, data)
    for many in spec.many.values():  # an empty list rather than an unloaded relationship
        if many.relationship not in data:
            setattr(record, many.relationship, [])
    await _checked(db, spec, record)
    if not can_change(p, spec.kind, record):
        raise _forbid(spec, "create")
    db.add(record)
    await _flush(db, spec)
    record_id: int = record.id
    audit.record(db, AuditTag.record_created, p, _target(spec, record_id))
    await db.commit()
    db.expire_all()  # reload as stored (e.g. datetimes normalised to UTC)
    return await get_record(db, p, spec, record_id)


async def update_record(
    db: AsyncSession, p: Principal, spec: RecordSpec, record_id: int, payload: object
) -> Any:
    record = await get_record(db, p, spec, record_id)
    if not can_change(p, spec.kind, record):
        raise _forbid(spec, "change")
    data = parse(spec.patch, payload)
    fields = sorted(data)
    if spec.prepare:
        await spec.prepare(db, p, data, record)
    _refuse_nulls(spec, data)
    await _resolve_references(db, spec, data)
    _apply(spec, record, data)
    await _checked(db, spec, record)
    if not can_change(p, spec.kind, record):  # e.g. a teacher handing a lesson to someone else
        await db.rollback()
        raise _forbid(spec, "change")
    await _flush(db, spec)
    audit.record(db, AuditTag.record_updated, p, _target(spec, record_id), fields=fields)
    await db.commit()
    db.expire_all()
    return await get_record(db, p, spec, record_id)


async def delete_record(db: AsyncSession, p: Principal, spec: RecordSpec, record_id: int) -> None:
    record = await get_record(db, p, spec, record_id)
    if not can_change(p, spec.kind, record):
        raise _forbid(spec, "delete")
    if spec.guard_delete:
        await spec.guard_delete(db, p, record)
    await db.delete(record)
    await _flush(db, spec, deleting=True)
    audit.record(db, AuditTag.record_deleted, p, _target(spec, record_id))
    await db.commit()


def to_out(spec: RecordSpec, record: Any, p: Principal) -> dict[str, Any]:
    """The record as the API returns it; credentials (`spec.admin_only`) only to admins."""
    out = spec.out.model_validate(record).model_dump(mode="json")
    if not p.is_admin:
        for name in spec.admin_only:
            out[name] = None
    return out
