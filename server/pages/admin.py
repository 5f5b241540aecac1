"""The admin pages: one generic list / create / view-edit / delete flow for every record kind.

What each kind shows comes from `kinds.ADMIN_KINDS`; what is allowed and valid is decided by
the services (`list_records`, `create_record`, …), so these views hold no rules of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.policy import Kind, can_change, can_create
from ..auth.principal import Principal
from ..errors import ErrorCode, KelianError
from ..keys import SESSIONS, SETTINGS
from ..lifecycle.changes import record_changed
from ..services.records import create_record, delete_record, get_record, list_records, update_record
from ..services.terminals import issue_token, revoke_token
from ..signalling.connection import revoke_principal
from .common import N_, see_other, signed_in_user, translator
from .forms import (
    FormContext,
    FormState,
    Mode,
    bind,
    default_values,
    display_value,
    place_errors,
    read,
)
from .kinds import ADMIN_KINDS, Action, AdminKind, Cell
from .layout import page
from .lookups import Names, classroom_zone
from .messages import translate_message
from .report import report_url
from .source_probe import probe_source_view

PAGE_SIZE = 50
FORM_ERRORS = (ErrorCode.invalid, ErrorCode.conflict)


@dataclass(frozen=True)
class Row:
    id: int
    url: str
    cells: list[Cell]
    actions: list[Action]


def _kind(request: web.Request) -> AdminKind:
    kind = ADMIN_KINDS.get(request.match_info["slug"])
    if kind is None:
        raise KelianError(ErrorCode.not_found, "Not Found")
    return kind


def _record_id(request: web.Request) -> int:
    return int(request.match_info["id"])


def _default_zone(request: web.Request) -> str:
    return request.app[SETTINGS].time_zone


def _summary(ak: AdminKind, record: Any, names: Names, request: web.Request,
             who: Principal) -> list[tuple[str, Cell]]:
    tr = translator(request)
    return [(tr(col.label), col.value(record, names, tr, who)) for col in ak.columns]


# List -------------------------------------------------------------------------------------------


async def list_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    ak = _kind(request)
    tr = translator(request)
    search = request.query.get("q", "").strip()[:100]
    try:
        page_no = max(1, min(int(request.query.get("page", "1")), 10_000))
    except ValueError:
        page_no = 1
    query = {"limit": str(PAGE_SIZE), "offset": str((page_no - 1) * PAGE_SIZE)}
    if search and "q" in ak.spec.filters:
        query["q"] = search
    async with request.app[SESSIONS]() as db:
        records, total, _, _ = await list_records(db, who, ak.spec, query)
        names = await Names.load(db, records, _default_zone(request))
    rows = [
        Row(
            id=r.id, url=f"/admin/{ak.slug}/{r.id}",
            cells=[col.value(r, names, tr, who) for col in ak.columns],
            actions=[a for a in ak.actions if a.shown(r)] if can_change(who, ak.kind, r) else [],
        )
        for r in records
    ]
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return page(request, "admin/list.html", {
        "kind": ak,
        "columns": [tr(c.label) for c in ak.columns],
        "rows": rows,
        "total": total,
        "page_no": page_no,
        "pages": pages,
        "search": search,
        "searchable": "q" in ak.spec.filters,
        "can_create": can_create(who, ak.kind),
        "has_actions": bool(ak.actions) and any(row.actions for row in rows),
    }, title=tr(ak.title))


# Create ---------------------------------------------------------------------------------------


async def _form_page(request: web.Request, db: AsyncSession, ak: AdminKind, mode: Mode,
                     state: FormState, record: Any = None, status: int = 200) -> web.Response:
    who = signed_in_user(request)
    tr = translator(request)
    ctx = FormContext(request, db, who)
    names = await Names.load(db, [record] if record is not None else [],
                             _default_zone(request))
    fields = await bind(ak.form_fields(mode, who), state, ctx, mode,
                        fallback_names=names.fallback_choices())
    fixed = []
    if record is not None:
        fixed_fields = ak.fixed_fields(who)
        values = {f.name: display_value(f, getattr(record, f.name, None), None, "")
                  for f in fixed_fields}
        fixed = await bind(fixed_fields, FormState(values=values), ctx, mode,
                           disabled=frozenset(values), fallback_names=names.fallback_choices())
    noun = tr(ak.noun)
    if record is None:
        title = tr(N_("New %(kind)s")) % {"kind": noun}
    else:
        title = ak.title_of(record)
    return page(request, "admin/form.html", {
        "kind": ak,
        "mode": mode,
        "record": record,
        "fields": fixed + fields,
        "general_errors": state.general,
        "has_errors": not state.ok,
        "summary": _summary(ak, record, names, request, who) if record is not None else [],
        "writable": record is None or can_change(who, ak.kind, record),
        "actions": [a for a in ak.actions if a.shown(record)] if record is not None else [],
        "noun": noun,
        "report_url": report_url(who, record) if record is not None and ak.kind is Kind.lesson
        else None,
    }, status=status, title=title)


async def new_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    ak = _kind(request)
    if not can_create(who, ak.kind):
        raise KelianError(ErrorCode.forbidden, f"You may not create this {ak.spec.name}")
    async with request.app[SESSIONS]() as db:
        ctx = FormContext(request, db, who)
        state = FormState(values=default_values(ak.form_fields("create", who), ctx))
        return await _form_page(request, db, ak, "create", state)


def _status_for(err: KelianError | None) -> int:
    """422 for input the form layer refused, else the service error's own status."""
    return err.status if err is not None else 422


async def create_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    ak = _kind(request)
    post = await request.post()
    error: KelianError | None = None
    async with request.app[SESSIONS]() as db:
        ctx = FormContext(request, db, who)
        fields = ak.form_fields("create", who)
        payload, state = await read(fields, post, ctx, "create", ak.spec.create,
                                    zone_of=classroom_zone)
        if state.ok:
            try:
                record = await create_record(db, who, ak.spec, payload)
            except KelianError as err:
                if err.code not in FORM_ERRORS:
                    raise
                await db.rollback()
                place_errors(fields, state, err, ctx.tr)
                error = err
            else:
                record_changed(request.app, ak.spec.kind)
                return see_other(f"/admin/{ak.slug}/{record.id}?notice=created")
        return await _form_page(request, db, ak, "create", state, status=_status_for(error))


# View and edit ----------------------------------------------------------------------------------


async def edit_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    ak = _kind(request)
    async with request.app[SESSIONS]() as db:
        record = await get_record(db, who, ak.spec, _record_id(request))
        names = await Names.load(db, [record], _default_zone(request))
        tz = ak.record_zone(record, names)
        fields = ak.form_fields("edit", who)
        values = {f.name: display_value(f, getattr(record, f.name, None), tz,
                                        _default_zone(request)) for f in fields}
        return await _form_page(request, db, ak, "edit", FormState(values=values), record)


async def update_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    ak = _kind(request)
    record_id = _record_id(request)
    post = await request.post()
    error: KelianError | None = None
    async with request.app[SESSIONS]() as db:
        record = await get_record(db, who, ak.spec, record_id)
        if not can_change(who, ak.kind, record):
            raise KelianError(ErrorCode.forbidden, f"You may not change this {ak.spec.name}")
        names = await Names.load(db, [record], _default_zone(request))
        ctx = FormContext(request, db, who)
        fields = ak.form_fields("edit", who)
        tz = ak.record_zone(record, names)
        payload, state = await read(fields, post, ctx, "edit", ak.spec.patch,
                                    current_zones={f.name: tz for f in fields},
                                    zone_of=classroom_zone)
        if state.ok:
            try:
                updated = await update_record(db, who, ak.spec, record_id, payload)
            except KelianError as err:
                if err.code not in FORM_ERRORS:
                    raise
                await db.rollback()
                place_errors(fields, state, err, ctx.tr)
                error = err
                record = await get_record(db, who, ak.spec, record_id)
            else:
                if getattr(updated, "active", True) is False:
                    revoke_principal(request.app, ak.kind, record_id)
                record_changed(request.app, ak.kind)
                return see_other(f"/admin/{ak.slug}/{record_id}?notice=saved")
        return await _form_page(request, db, ak, "edit", state, record,
                                status=_status_for(error))


# Delete -----------------------------------------------------------------------------------------


async def _delete_page(request: web.Request, db: AsyncSession, ak: AdminKind, record: Any,
                       error: str | None = None, status: int = 200) -> web.Response:
    who = signed_in_user(request)
    tr = translator(request)
    if not can_change(who, ak.kind, record):
        raise KelianError(ErrorCode.forbidden, f"You may not delete this {ak.spec.name}")
    names = await Names.load(db, [record], _default_zone(request))
    return page(request, "admin/delete.html", {
        "kind": ak,
        "record": record,
        "name": ak.title_of(record),
        "summary": _summary(ak, record, names, request, who),
        "error": error,
        "noun": tr(ak.noun),
    }, status=status, title=tr(N_("Delete %(kind)s")) % {"kind": tr(ak.noun)})


async def confirm_delete_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    ak = _kind(request)
    async with request.app[SESSIONS]() as db:
        record = await get_record(db, who, ak.spec, _record_id(request))
        return await _delete_page(request, db, ak, record)


async def delete_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    ak = _kind(request)
    record_id = _record_id(request)
    async with request.app[SESSIONS]() as db:
        try:
            await delete_record(db, who, ak.spec, record_id)
        except KelianError as err:
            if err.code is not ErrorCode.conflict:
                raise
            await db.rollback()
            record = await get_record(db, who, ak.spec, record_id)
            message = translate_message(translator(request), err.message)
            return await _delete_page(request, db, ak, record, message, status=err.status)
    revoke_principal(request.app, ak.kind, record_id)
    record_changed(request.app, ak.kind)
    return see_other(f"/admin/{ak.slug}?notice=deleted")


# Terminal tokens --------------------------------------------------------------------------------


async def issue_token_view(request: web.Request) -> web.StreamResponse:
    """Shows a new token once: only its hash is kept, so this page is the only chance to copy it."""
    who = signed_in_user(request)
    record_id = _record_id(request)
    ak = ADMIN_KINDS["terminals"]
    async with request.app[SESSIONS]() as db:
        token = await issue_token(db, who, record_id)
        revoke_principal(request.app, "terminal", record_id)  # the old token's sockets
        terminal = await get_record(db, who, ak.spec, record_id)
        names = await Names.load(db, [terminal], _default_zone(request))
    tr = translator(request)
    return page(request, "admin/token.html", {
        "terminal": terminal,
        "classroom": names.classroom(terminal.classroom_id),
        "token": token,
    }, title=tr(N_("Terminal token")))


async def revoke_token_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    record_id = _record_id(request)
    async with request.app[SESSIONS]() as db:
        await revoke_token(db, who, record_id)
    revoke_principal(request.app, "terminal", record_id)
    return see_other(f"/admin/terminals/{record_id}?notice=revoked")


async def admin_home(request: web.Request) -> web.StreamResponse:
    signed_in_user(request)
    return see_other("/")


def setup(app: web.Application) -> None:
    r = app.router
    record = r"{id:[0-9]{1,10}}"
    r.add_get("/admin", admin_home)
    r.add_post("/admin/terminals/" + record + "/token", issue_token_view)
    r.add_post("/admin/terminals/" + record + "/revoke", revoke_token_view)
    r.add_post("/admin/sources/" + record + "/test", probe_source_view)
    r.add_get("/admin/{slug}", list_view)
    r.add_get("/admin/{slug}/new", new_view)
    r.add_post("/admin/{slug}/new", create_view)
    r.add_get("/admin/{slug}/" + record, edit_view)
    r.add_post("/admin/{slug}/" + record, update_view)
    r.add_get("/admin/{slug}/" + record + "/delete", confirm_delete_view)
    r.add_post("/admin/{slug}/" + record + "/delete", delete_view)
