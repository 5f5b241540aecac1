"""How each record kind appears in the admin pages: its fields, its table columns, its actions.

One `AdminKind` per kind drives the generic views in `admin.py`; nothing here talks to the
database except the choice loaders, and every rule stays in the services.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ..auth.policy import Kind
from ..auth.principal import Principal
from ..models import LessonStatus, Role
from ..services.records import RecordSpec
from ..services.specs import SPECS
from .common import N_, Translate, zone
from .forms import FormContext, FormField, Mode
from .labels import (
    LESSON_KINDS,
    LESSON_STATUSES,
    LOCALE_CHOICES,
    ROLES,
    SCHOOL_KINDS,
    SOURCE_KINDS,
    SOURCE_ROLES,
    WEEKDAYS,
)
from .lookups import (
    CHOOSE,
    NONE_CHOICE,
    Names,
    classroom_choices,
    course_choices,
    enum_choices,
    school_choices,
    user_choices,
)


@dataclass(frozen=True)
class Cell:
    text: str
    mono: bool = False  # keys, URLs, times
    muted: bool = False


@dataclass(frozen=True)
class Column:
    label: str  # msgid
    value: Callable[[Any, Names, Translate, Principal], Cell]


@dataclass(frozen=True)
class Action:
    """A POST button on a record (besides edit and delete), e.g. issuing a terminal token."""

    label: str  # msgid
    path: str  # /admin/<slug>/<id>/<path>
    shown: Callable[[Any], bool] = lambda record: True
    danger: bool = False


ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class AdminKind:
    slug: str
    kind: Kind
    title: str  # msgid, plural, for the menu and the list
    fields: Sequence[FormField]
    columns: Sequence[Column]
    nav_roles: frozenset[Role] = ALL_ROLES
    actions: Sequence[Action] = ()
    intro: str = ""  # msgid: one line under the list's title
    # The zone datetime fields of one record are shown in (the lesson's host school).
    record_zone: Callable[[Any, Names], str | None] = lambda record, names: None
    title_of: Callable[[Any], str] = lambda record: str(getattr(record, "name", record.id))

    @property
    def spec(self) -> RecordSpec:
        return SPECS[self.kind]

    @property
    def noun(self) -> str:
        from .labels import kind_noun

        return kind_noun(self.kind)

    def form_fields(self, mode: Mode, who: Principal) -> list[FormField]:
        """The inputs for creating or editing, as the schemas accept them."""
        schema = self.spec.create if mode == "create" else self.spec.patch
        return [f for f in self.fields
                if f.name in schema.model_fields and (who.is_admin or not f.admin_only)]

    def fixed_fields(self, who: Principal) -> list[FormField]:
        """Fields set at creation and shown (disabled) when editing, e.g. a classroom's school."""
        patch = self.spec.patch.model_fields
        return [f for f in self.fields if f.name not in patch and f.widget != "password"
                and f.name in self.spec.create.model_fields]


def text(attr: str, mono: bool = False) -> Callable[[Any, Names, Translate, Principal], Cell]:
    return lambda r, n, tr, p: Cell(str(getattr(r, attr) or ""), mono=mono)


def label(attr: str, table: dict[Any, str]) -> Callable[[Any, Names, Translate, Principal], Cell]:
    return lambda r, n, tr, p: Cell(tr(table[getattr(r, attr)]))


def yes_no(attr: str) -> Callable[[Any, Names, Translate, Principal], Cell]:
    return lambda r, n, tr, p: Cell(tr(N_("Yes")) if getattr(r, attr) else tr(N_("No")),
                                    muted=not getattr(r, attr))


def _moment(value: datetime | None, names: Names, tz: str | None = None) -> str:
    """A stored moment in `tz` (a school's zone), else in the service's default zone."""
    if value is None:
        return ""
    return value.astimezone(zone(tz, names.default_zone)).strftime("%Y-%m-%d %H:%M")


# Schools ---------------------------------------------------------------------------------------

SCHOOLS = AdminKind(
    slug="schools", kind=Kind.school, title=N_("Schools"),
    intro=N_("Hub schools lead their teaching points; each school keeps its own time zone."),
    fields=(
        FormField("name", N_("Name"), required=True),
        FormField("kind", N_("Kind of school"), "select", enum_choices(SCHOOL_KINDS),
                  required=True, default="teaching_point"),
        FormField("county", N_("County or district"), required=True),
        FormField("hub_school_id", N_("Led by hub school"), "select",
                  school_choices(NONE_CHOICE, hubs_only=True), integer=True, nullable=True,
                  hint=N_("For teaching points: the hub school that teaches them.")),
        FormField("time_zone", N_("Time zone"), required=True,
                  default=lambda ctx: ctx.default_time_zone,
                  hint=N_("An IANA name such as Asia/Shanghai.")),
    ),
    columns=(
        Column(N_("Name"), text("name")),
        Column(N_("Kind of school"), label("kind", SCHOOL_KINDS)),
        Column(N_("County or district"), text("county")),
        Column(N_("Led by hub school"), lambda r, n, tr, p: Cell(n.school(r.hub_school_id))),
        Column(N_("Time zone"), text("time_zone", mono=True)),
    ),
)

# Classrooms ------------------------------------------------------------------------------------

CLASSROOMS = AdminKind(
    slug="classrooms", kind=Kind.classroom, title=N_("Classrooms"),
    fields=(
        FormField("school_id", N_("School"), "select", school_choices(), required=True,
                  integer=True),
        FormField("name", N_("Name"), required=True),
    ),
    columns=(
        Column(N_("Name"), text("name")),
        Column(N_("School"), lambda r, n, tr, p: Cell(n.school(r.school_id))),
    ),
    nav_roles=frozenset({Role.admin, Role.inspector, Role.teacher}),
)

# Terminals -------------------------------------------------------------------------------------


def _token_state(r: Any, n: Names, tr: Translate, p: Principal) -> Cell:
    if r.has_token:
        return Cell(tr(N_("Issued %(when)s")) % {"when": _moment(r.token_issued_at, n)})
    if r.token_revoked_at is not None:
        return Cell(tr(N_("Revoked %(when)s")) % {"when": _moment(r.token_revoked_at, n)},
                    muted=True)
    return Cell(tr(N_("No token yet")), muted=True)


TERMINALS = AdminKind(
    slug="terminals", kind=Kind.terminal, title=N_("Terminals"),
    intro=N_("The device in a classroom joins lessons with its token. Issue a token, then "
             "enter it on the classroom device; revoke it if the device is lost."),
    fields=(
        FormField("classroom_id", N_("Classroom"), "select", classroom_choices(), required=True,
                  integer=True),
        FormField("name", N_("Name"), required=True),
    ),
    columns=(
        Column(N_("Name"), text("name")),
        Column(N_("Classroom"), lambda r, n, tr, p: Cell(n.classroom(r.classroom_id))),
        Column(N_("Token"), _token_state),
        Column(N_("Last seen"), lambda r, n, tr, p: Cell(_moment(r.last_seen_at, n)
                                                         or tr(N_("Never")), muted=not r.last_seen_at)),
    ),
    actions=(
        Action(N_("Issue token"), "token", shown=lambda r: not r.has_token),
        Action(N_("Issue a new token"), "token", shown=lambda r: r.has_token),
        Action(N_("Revoke token"), "revoke", shown=lambda r: r.has_token, danger=True),
    ),
    nav_roles=frozenset({Role.admin, Role.inspector}),
)

# Sources ---------------------------------------------------------------------------------------


def _source_address(r: Any, n: Names, tr: Translate, p: Principal) -> Cell:
    if r.url:
        return Cell(r.url, mono=True)
    if r.stream_key and p.is_admin:  # the key lets an encoder publish: admins only
        return Cell(tr(N_("Stream key: %(key)s")) % {"key": r.stream_key}, mono=True)
    return Cell("")


SOURCES = AdminKind(
    slug="sources", kind=Kind.source, title=N_("Sources"),
    intro=N_("Cameras and encoders feeding a classroom. RTSP cameras are pulled from their URL; "
             "RTMP and WHIP encoders push with the stream key shown here."),
    fields=(
        FormField("classroom_id", N_("Classroom"), "select", classroom_choices(), required=True,
                  integer=True),
        FormField("name", N_("Name"), required=True),
        FormField("kind", N_("Kind of source"), "select", enum_choices(SOURCE_KINDS),
                  required=True, default="rtsp",
                  hint=N_("The stream key of an RTMP or WHIP source is made when it is saved.")),
        FormField("role", N_("Shows"), "select", enum_choices(SOURCE_ROLES), required=True,
                  default="teacher"),
        FormField("url", N_("RTSP URL"), nullable=True,
                  hint=N_("Only for RTSP cameras, e.g. rtsp://192.168.1.20:554/stream1")),
        FormField("enabled", N_("Enabled"), "checkbox", default=True),
    ),
    columns=(
        Column(N_("Name"), text("name")),
        Column(N_("Classroom"), lambda r, n, tr, p: Cell(n.classroom(r.classroom_id))),
        Column(N_("Kind of source"), label("kind", SOURCE_KINDS)),
        Column(N_("Shows"), label("role", SOURCE_ROLES)),
        Column(N_("URL or stream key"), _source_address),
        Column(N_("Enabled"), yes_no("enabled")),
    ),
    nav_roles=frozenset({Role.admin, Role.inspector, Role.teacher}),
    # A snapshot and what the camera or encoder sends (server/pages/source_probe.py).
    actions=(Action(N_("Test"), "test"),),
)

# Users -----------------------------------------------------------------------------------------

USERS = AdminKind(
    slug="users", kind=Kind.user, title=N_("Users"),
    fields=(
        FormField("username", N_("Username"), required=True,
                  hint=N_("3 to 64 letters, digits, dots, dashes or underscores; used to sign in.")),
        FormField("display_name", N_("Display name"), required=True),
        FormField("role", N_("Role"), "select", enum_choices(ROLES), required=True,
                  default="teacher"),
        FormField("password", N_("Password"), "password",
                  hint=N_("At least 8 characters."),
                  edit_hint=N_("Leave empty to keep the current password.")),
        FormField("school_id", N_("School"), "select", school_choices(NONE_CHOICE), integer=True,
                  nullable=True, hint=N_("Teachers and observing teachers belong to a school.")),
        FormField("county", N_("County or district"), nullable=True,
                  hint=N_("Inspectors oversee the schools of one county.")),
        FormField("locale", N_("Language"), "select",
                  enum_choices(LOCALE_CHOICES, empty=N_("Default (Simplified Chinese)")),
                  nullable=True),
        FormField("active", N_("Active (may sign in)"), "checkbox", default=True),
    ),
    columns=(
        Column(N_("Username"), text("username", mono=True)),
        Column(N_("Display name"), text("display_name")),
        Column(N_("Role"), label("role", ROLES)),
        Column(N_("School"), lambda r, n, tr, p: Cell(n.school(r.school_id))),
        Column(N_("County or district"), text("county")),
        Column(N_("Active"), yes_no("active")),
    ),
    nav_roles=frozenset({Role.admin, Role.inspector}),
    title_of=lambda r: f"{r.display_name} ({r.username})",
)

# Courses ---------------------------------------------------------------------------------------

COURSES = AdminKind(
    slug="courses", kind=Kind.course, title=N_("Courses"),
    fields=(
        FormField("school_id", N_("School"), "select", school_choices(), required=True,
                  integer=True),
        FormField("name", N_("Name"), required=True),
        FormField("subject", N_("Subject"), required=True),
        FormField("grade", N_("Grade"), required=True),
    ),
    columns=(
        Column(N_("Name"), text("name")),
        Column(N_("Subject"), text("subject")),
        Column(N_("Grade"), text("grade")),
        Column(N_("School"), lambda r, n, tr, p: Cell(n.school(r.school_id))),
    ),
    nav_roles=frozenset({Role.admin, Role.inspector, Role.teacher}),
)

# Timetable -------------------------------------------------------------------------------------


def _term_default(days: int) -> Callable[[FormContext], str]:
    return lambda ctx: (date.today() + timedelta(days=days)).isoformat()


TIMETABLE = AdminKind(
    slug="timetable", kind=Kind.timetable_entry, title=N_("Timetable"),
    intro=N_("Weekly slots of dedicated lessons, in the hub school's local time."),
    fields=(
        FormField("course_id", N_("Course"), "select", course_choices(CHOOSE), required=True,
                  integer=True),
        FormField("teacher_id", N_("Teacher"), "select", user_choices(Role.teacher),
                  required=True, integer=True),
        FormField("hub_classroom_id", N_("Hub classroom"), "select", classroom_choices(),
                  required=True, integer=True),
        FormField("kind", N_("Kind of lesson"), "select", enum_choices(LESSON_KINDS),
                  required=True, default="dedicated"),
        FormField("weekday", N_("Weekday"), "select", enum_choices(WEEKDAYS), required=True,
                  integer=True, default="1"),
        FormField("start_time", N_("Starts at"), "time", required=True),
        FormField("end_time", N_("Ends at"), "time", required=True),
        FormField("term_start", N_("Term starts"), "date", required=True,
                  default=_term_default(0)),
        FormField("term_end", N_("Term ends"), "date", required=True,
                  default=_term_default(120)),
        FormField("linked_classroom_ids", N_("Linked classrooms"), "multi",
                  classroom_choices(None), integer=True,
                  hint=N_("The teaching-point classrooms that join these lessons.")),
    ),
    columns=(
        Column(N_("Course"), lambda r, n, tr, p: Cell(n.course(r.course_id))),
        Column(N_("Weekday"), lambda r, n, tr, p: Cell(tr(WEEKDAYS[r.weekday]))),
        Column(N_("Time"), lambda r, n, tr, p: Cell(
            f"{r.start_time:%H:%M}–{r.end_time:%H:%M}")),
        Column(N_("Teacher"), lambda r, n, tr, p: Cell(n.user(r.teacher_id))),
        Column(N_("Hub classroom"), lambda r, n, tr, p: Cell(n.classroom(r.hub_classroom_id))),
        Column(N_("Linked classrooms"), lambda r, n, tr, p: Cell(
            "、".join(n.classroom(i) for i in r.linked_classroom_ids))),
        Column(N_("Term"), lambda r, n, tr, p: Cell(f"{r.term_start} – {r.term_end}")),
    ),
    nav_roles=frozenset({Role.admin, Role.inspector, Role.teacher}),
    title_of=lambda r: f"#{r.id}",
)

# Lessons ---------------------------------------------------------------------------------------


async def _status_choices(ctx: FormContext) -> list[tuple[str, str]]:
    tr = ctx.tr
    return [(s.value, tr(LESSON_STATUSES[s])) for s in LessonStatus]


LESSON_FIELDS = (
    FormField("title", N_("Title"), required=True),
    FormField("kind", N_("Kind of lesson"), "select", enum_choices(LESSON_KINDS), required=True,
              default="dedicated"),
    FormField("host_classroom_id", N_("Host classroom"), "select", classroom_choices(),
              required=True, integer=True, hint=N_("Where the teacher teaches.")),
    FormField("linked_classroom_ids", N_("Linked classrooms"), "multi", classroom_choices(None),
              integer=True, hint=N_("The classrooms that join the lesson.")),
    FormField("planned_start", N_("Starts"), "datetime", required=True,
              zone_from="host_classroom_id",
              hint=N_("Local time of the host school.")),
    FormField("planned_end", N_("Ends"), "datetime", required=True,
              zone_from="host_classroom_id"),
    FormField("teacher_id", N_("Teacher"), "select", user_choices(Role.teacher), required=True,
              integer=True, admin_only=True),
    FormField("course_id", N_("Course"), "select", course_choices(), integer=True,
              nullable=True),
    FormField("observer_ids", N_("Invited observing teachers"), "multi",
              user_choices(Role.observer, empty=None), integer=True),
    FormField("record", N_("Record the lesson"), "select",
              enum_choices({"true": N_("Yes"), "false": N_("No")},
                           empty=N_("As usual for its kind")),
              tristate=True),
    FormField("description", N_("Description"), "textarea"),
    FormField("status", N_("Status"), "select", _status_choices, required=True,
              hint=N_("A scheduled lesson can be cancelled, and a cancelled one restored.")),
)

# The quick form on the dashboard: a teacher's ad-hoc lesson.
ADHOC_LESSON_FIELDS = tuple(
    f for f in LESSON_FIELDS
    if f.name in ("title", "kind", "host_classroom_id", "linked_classroom_ids",
                  "planned_start", "planned_end")
)

LESSONS = AdminKind(
    slug="lessons", kind=Kind.lesson, title=N_("Lessons"),
    intro=N_("Every scheduled and ad-hoc lesson; times are the host school's local time."),
    fields=LESSON_FIELDS,
    columns=(
        Column(N_("Title"), text("title")),
        Column(N_("Kind of lesson"), label("kind", LESSON_KINDS)),
        Column(N_("Starts"), lambda r, n, tr, p: Cell(
            _moment(r.planned_start, n, n.zone_of(r.host_classroom_id)))),
        Column(N_("Host classroom"), lambda r, n, tr, p: Cell(n.classroom(r.host_classroom_id))),
        Column(N_("Teacher"), lambda r, n, tr, p: Cell(n.user(r.teacher_id))),
        Column(N_("Status"), label("status", LESSON_STATUSES)),
    ),
    record_zone=lambda r, n: n.zone_of(r.host_classroom_id),
    title_of=lambda r: r.title,
)

# Holidays --------------------------------------------------------------------------------------


def _holiday_scope(r: Any, n: Names, tr: Translate, p: Principal) -> Cell:
    if r.school_id is not None:
        return Cell(n.school(r.school_id))
    if r.county is not None:
        return Cell(r.county)
    return Cell(tr(N_("All schools")), muted=True)


def _swapped_weekday(r: Any, n: Names, tr: Translate, p: Principal) -> Cell:
    if r.teaches_weekday is None:
        return Cell(tr(N_("No")), muted=True)
    return Cell(tr(WEEKDAYS[r.teaches_weekday]))


HOLIDAYS = AdminKind(
    slug="holidays", kind=Kind.holiday, title=N_("Holidays"),
    # The scheduler applies changes by itself (server/lifecycle/timetable.py): say so.
    intro=N_("Days without the usual timetable. At its next timetable run the scheduler cancels "
             "the scheduled lessons of these days, except those moved to another time by hand; "
             "nothing else needs doing."),
    fields=(
        FormField("day", N_("Date"), "date", required=True),
        FormField("name", N_("Name"), required=True, hint=N_("E.g. National Day.")),
        FormField("school_id", N_("School"), "select", school_choices(NONE_CHOICE),
                  integer=True, nullable=True,
                  hint=N_("Scope: one school, or every school of a county, or (both empty) "
                          "every school.")),
        FormField("county", N_("County or district"), nullable=True,
                  hint=N_("For every school of this county; leave empty when a school is "
                          "chosen.")),
        FormField("teaches_weekday", N_("Swapped working day"), "select",
                  enum_choices(WEEKDAYS, empty=N_("No, a day off")), integer=True,
                  nullable=True,
                  hint=N_("A swapped working day (e.g. a Sunday) teaches the timetable of the "
                          "weekday chosen here.")),
    ),
    columns=(
        Column(N_("Date"), lambda r, n, tr, p: Cell(r.day.isoformat(), mono=True)),
        Column(N_("Name"), text("name")),
        Column(N_("Scope"), _holiday_scope),
        Column(N_("Swapped working day"), _swapped_weekday),
    ),
    nav_roles=frozenset({Role.admin, Role.inspector, Role.teacher}),
    title_of=lambda r: f"{r.day.isoformat()} {r.name}",
)

ADMIN_KINDS: dict[str, AdminKind] = {
    k.slug: k for k in (LESSONS, TIMETABLE, COURSES, SCHOOLS, CLASSROOMS, TERMINALS, SOURCES, USERS,
                        HOLIDAYS)
}


def nav_for(who: Principal) -> list[AdminKind]:
    return [k for k in ADMIN_KINDS.values() if who.role in k.nav_roles]
