"""Form fields described once and used for every record kind: binding, reading, errors.

A `FormField` says how one schema field looks on a page (label, widget, choices). The generic
admin views and the dashboard's lesson form turn a list of them into HTML inputs (`bind`),
turn a POSTed form back into the payload the services validate (`read`), and place the
services' errors next to the right input (`place_errors`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import Enum
from typing import Any, Literal

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.principal import Principal
from ..errors import ErrorCode, KelianError
from ..keys import SETTINGS
from ..services.records import parse
from .common import N_, Translate, translator, zone
from .messages import translate_message

Widget = Literal[
    "text", "textarea", "password", "select", "multi", "checkbox", "time", "date", "datetime"
]
Mode = Literal["create", "edit"]
Value = str | list[str] | bool
Choice = tuple[str, str]  # (value, label as shown)


@dataclass
class FormContext:
    """What choice loaders and value conversions need: the request, a session, the principal."""

    request: web.Request
    db: AsyncSession
    principal: Principal

    @property
    def tr(self) -> Translate:
        return translator(self.request)

    @property
    def default_time_zone(self) -> str:
        return self.request.app[SETTINGS].time_zone


ChoiceLoader = Callable[[FormContext], Awaitable[list[Choice]]]
# Names the zone a datetime field is entered in, from the classroom id the form names.
ZoneOf = Callable[[FormContext, int], Awaitable[str | None]]
Default = Value | Callable[[FormContext], Value]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str  # msgid
    widget: Widget = "text"
    choices: ChoiceLoader | None = None
    required: bool = False
    nullable: bool = False  # an emptied input clears the value on edit
    integer: bool = False  # select/multi values are record ids
    tristate: bool = False  # a select of "", "true", "false" meaning None/True/False
    hint: str = ""  # msgid shown under the input
    edit_hint: str = ""  # msgid shown instead of `hint` on the edit form
    admin_only: bool = False
    zone_from: str = ""  # datetime fields: the classroom field whose school's zone applies
    default: Default = ""


@dataclass
class BoundField:
    """One field ready for the template."""

    field: FormField
    label: str
    hint: str
    value: Value
    errors: list[str]
    choices: list[Choice]
    disabled: bool

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def widget(self) -> str:
        return self.field.widget

    @property
    def selected(self) -> set[str]:
        if isinstance(self.value, list):
            return set(self.value)
        return {str(self.value)}


@dataclass
class FormState:
    """Entered values and errors of one form submission."""

    values: dict[str, Value] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.general


# Values shown in an edit form ---------------------------------------------------------------


def display_value(f: FormField, value: Any, tz_name: str | None, fallback_zone: str) -> Value:
    """A stored value as the input shows it."""
    if f.widget == "checkbox":
        return bool(value)
    if f.widget == "multi":
        return [str(v) for v in (value or [])]
    if value is None or f.widget == "password":
        return ""
    if f.tristate:
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if f.widget == "datetime" and isinstance(value, datetime):
        return value.astimezone(zone(tz_name, fallback_zone)).strftime("%Y-%m-%dT%H:%M")
    if f.widget == "time" and isinstance(value, time):
        return value.strftime("%H:%M")
    if f.widget == "date" and isinstance(value, date):
        return value.isoformat()
    return str(value)


def default_values(fields: Sequence[FormField], ctx: FormContext) -> dict[str, Value]:
    return {f.name: f.default(ctx) if callable(f.default) else f.default for f in fields}


async def bind(fields: Sequence[FormField], state: FormState, ctx: FormContext,
               mode: Mode, disabled: frozenset[str] = frozenset(),
               fallback_names: Mapping[str, str] | None = None) -> list[BoundField]:
    """Fields with their values, translated labels, errors and loaded choices.

    A selected value the principal may not list (a lesson's observer from another school) stays
    selectable under `fallback_names[value]`, so saving the form does not drop it.
    """
    tr = ctx.tr
    bound = []
    for f in fields:
        value = state.values.get(f.name, [] if f.widget == "multi" else "")
        choices = await f.choices(ctx) if f.choices else []
        if f.choices:
            known = {v for v, _ in choices}
            wanted = value if isinstance(value, list) else [str(value)]
            for v in wanted:
                if v and v not in known:
                    choices.append((v, (fallback_names or {}).get(v, f"#{v}")))
        hint = f.edit_hint if mode == "edit" and f.edit_hint else f.hint
        bound.append(BoundField(
            field=f, label=tr(f.label), hint=tr(hint) if hint else "", value=value,
            errors=state.errors.get(f.name, []), choices=choices, disabled=f.name in disabled,
        ))
    return bound


# Reading a submitted form -------------------------------------------------------------------


async def read(fields: Sequence[FormField], post: MultiDictProxy[Any], ctx: FormContext,
               mode: Mode, schema: type[BaseModel],
               current_zones: Mapping[str, str | None] | None = None,
               zone_of: ZoneOf | None = None) -> tuple[dict[str, Any], FormState]:
    """The payload for the service and the state to re-display if anything is wrong.

    Conversion problems (not a number, not a date) become translated field errors here; the
    payload is then checked against `schema` too, so every wrong field is marked at once.
    """
    tr = ctx.tr
    state = FormState()
    payload: dict[str, Any] = {}
    datetimes: list[FormField] = []
    for f in fields:
        if f.widget == "multi":
            raw_list = [v for v in post.getall(f.name, []) if isinstance(v, str)]
            state.values[f.name] = raw_list
            try:
                payload[f.name] = [int(v) for v in raw_list] if f.integer else raw_list
            except ValueError:
                state.add(f.name, tr(N_("Choose from the list")))
            continue
        if f.widget == "checkbox":
            state.values[f.name] = f.name in post
            payload[f.name] = f.name in post
            continue
        raw = post.get(f.name, "")
        raw = raw if isinstance(raw, str) else ""
        if f.widget != "password":
            raw = raw.strip()
        state.values[f.name] = raw
        if raw == "":
            if f.required and f.widget in ("text", "textarea", "password"):
                payload[f.name] = ""  # the schema says what is missing
            elif f.required and mode == "edit":
                state.add(f.name, tr(N_("This field is required")))
            elif not f.required and mode == "edit" and (f.nullable or f.tristate):
                payload[f.name] = None
            continue
        if f.widget == "datetime":
            datetimes.append(f)
            continue
        if f.tristate:
            if raw not in ("true", "false"):
                state.add(f.name, tr(N_("Choose one of the options")))
                continue
            payload[f.name] = raw == "true"
        elif f.integer:
            try:
                payload[f.name] = int(raw)
            except ValueError:
                state.add(f.name, tr(N_("Choose from the list")))
        else:
            payload[f.name] = raw
    for f in datetimes:  # after the others: their zone comes from a classroom field
        tz_name = (current_zones or {}).get(f.name)
        classroom_id = payload.get(f.zone_from)
        if zone_of is not None and isinstance(classroom_id, int):
            tz_name = await zone_of(ctx, classroom_id) or tz_name
        try:
            local = datetime.strptime(str(state.values[f.name]), "%Y-%m-%dT%H:%M")
        except ValueError:
            state.add(f.name, tr(N_("Enter a valid date and time")))
            continue
        payload[f.name] = local.replace(
            tzinfo=zone(tz_name, ctx.default_time_zone)
        ).isoformat()
    if not state.ok:
        # Mark the other wrong fields too, as far as the schema alone can tell.
        try:
            parse(schema, {k: v for k, v in payload.items() if k not in state.errors})
        except KelianError as err:
            place_errors(fields, state, err, tr, only_new=True)
    return payload, state


def place_errors(fields: Sequence[FormField], state: FormState, err: KelianError,
                 tr: Translate, only_new: bool = False) -> None:
    """Put a service error's details next to their inputs (or above the form)."""
    labels = {f.name: f.label for f in fields}
    if err.code is not ErrorCode.invalid or not err.details:
        state.general.append(translate_message(tr, err.message))
        return
    for detail in err.details:
        name = detail.field.split(".", 1)[0]
        message = translate_message(tr, detail.message)
        if name in labels:
            if only_new and name in state.errors:
                continue
            if message not in state.errors.get(name, []):
                state.add(name, message)
        elif not only_new:
            state.general.append(message)
