"""Typed shapes of the records as the API and the admin forms accept and return them.

`<Kind>In` validates a create, `<Kind>Patch` a partial update, `<Kind>Out` is what is returned.
The OpenAPI document is generated from these classes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .auth.secrets import MIN_PASSWORD_LENGTH
from .models import LessonKind, LessonStatus, Role, SchoolKind, SourceKind, SourceRole

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{3,64}$")]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=256)]
Locale = Annotated[str, StringConstraints(pattern=r"^(zh_CN|en)$")]
Weekday = Annotated[int, Field(ge=1, le=7, description="ISO weekday: 1 = Monday … 7 = Sunday")]
IdList = Annotated[list[Id], Field(max_length=200)]


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA time zone such as Asia/Shanghai") from None
    return value


def _rtsp_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^rtsps?://[^\s/]+", value):
        raise ValueError("must be an rtsp:// or rtsps:// URL")
    return value


def _storable_instant(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)  # stored as UTC: years 1 and 9999 may not fit once shifted
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    return value


def _local_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("is a local time in the school's time zone; give it without an offset")
    return value


TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_time_zone)]
Grade = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Instant = Annotated[AwareDatetime, AfterValidator(_storable_instant)]
LocalTime = Annotated[time, AfterValidator(_local_time), WithJsonSchema({
    "type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
    "description": "Local time of day without an offset, e.g. 08:00 or 08:00:00",
})]
RtspUrl = Annotated[str | None, StringConstraints(max_length=1000), AfterValidator(_rtsp_url)]


class In(BaseModel):
    """Input: unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold it
            raise ValueError("must not contain NUL characters")
        return value


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Schools -------------------------------------------------------------------------------------


class SchoolIn(In):
    name: Name
    kind: SchoolKind
    county: ShortText
    hub_school_id: Id | None = None
    time_zone: TimeZone = "Asia/Shanghai"


class SchoolPatch(In):
    name: Name | None = None
    kind: SchoolKind | None = None
    county: ShortText | None = None
    hub_school_id: Id | None = None
    time_zone: TimeZone | None = None


class SchoolOut(Out):
    id: int
    name: str
    kind: SchoolKind
    county: str
    hub_school_id: int | None
    time_zone: str
    created_at: datetime


# Classrooms ----------------------------------------------------------------------------------


class ClassroomIn(In):
    school_id: Id
    name: Name


class ClassroomPatch(In):
    name: Name | None = None


class ClassroomOut(Out):
    id: int
    school_id: int
    name: str
    created_at: datetime


# Terminals -----------------------------------------------------------------------------------


class TerminalIn(In):
    classroom_id: Id
    name: Name


class TerminalPatch(In):
    name: Name | None = None


class TerminalOut(Out):
    id: int
    classroom_id: int
    name: str
    has_token: bool
    token_issued_at: datetime | None
    token_revoked_at: datetime | None
    last_seen_at: datetime | None
    created_at: datetime


class TerminalTokenOut(BaseModel):
    """Returned once, when a token is issued; only its hash is kept."""

    terminal_id: int
    token: str


# Sources -------------------------------------------------------------------------------------


class SourceIn(In):
    classroom_id: Id
    name: Name
    kind: SourceKind
    role: SourceRole = SourceRole.teacher
    url: RtspUrl = None
    enabled: bool = True

    @model_validator(mode="after")
    def _url_matches_kind(self) -> Self:
        if self.kind is SourceKind.rtsp and not self.url:
            raise ValueError("an RTSP source needs its rtsp:// URL")
        if self.kind is not SourceKind.rtsp and self.url:
            raise ValueError("only RTSP sources have a URL; RTMP and WHIP push with a stream key")
        return self


class SourcePatch(In):
    name: Name | None = None
    role: SourceRole | None = None
    url: RtspUrl = None
    enabled: bool | None = None


class SourceOut(Out):
    id: int
    classroom_id: int
    name: str
    kind: SourceKind
    role: SourceRole
    url: str | None
    stream_key: str | None
    enabled: bool
    created_at: datetime


# Users ---------------------------------------------------------------------------------------


class UserIn(In):
    username: Username
    display_name: Name
    role: Role
    password: Password
    school_id: Id | None = None
    county: ShortText | None = None
    locale: Locale | None = None
    active: bool = True


class UserPatch(In):
    display_name: Name | None = None
    role: Role | None = None
    password: Password | None = None
    school_id: Id | None = None
    county: ShortText | None = None
    locale: Locale | None = None
    active: bool | None = None


class UserOut(Out):
    id: int
    username: str
    display_name: str
    role: Role
    school_id: int | None
    county: str | None
    locale: str | None
    active: bool
    created_at: datetime


# Courses -------------------------------------------------------------------------------------


class CourseIn(In):
    school_id: Id
    name: Name
    subject: ShortText
    grade: Grade


class CoursePatch(In):
    name: Name | None = None
    subject: ShortText | None = None
    grade: Grade | None = None


class CourseOut(Out):
    id: int
    school_id: int
    name: str
    subject: str
    grade: str
    created_at: datetime


# Timetable -----------------------------------------------------------------------------------


class TimetableEntryIn(In):
    course_id: Id
    teacher_id: Id
    hub_classroom_id: Id
    kind: LessonKind
    weekday: Weekday
    start_time: LocalTime
    end_time: LocalTime
    term_start: date
    term_end: date
    linked_classroom_ids: IdList = []


class TimetableEntryPatch(In):
    course_id: Id | None = None
    teacher_id: Id | None = None
    hub_classroom_id: Id | None = None
    kind: LessonKind | None = None
    weekday: Weekday | None = None
    start_time: LocalTime | None = None
    end_time: LocalTime | None = None
    term_start: date | None = None
    term_end: date | None = None
    linked_classroom_ids: IdList | None = None


class TimetableEntryOut(Out):
    id: int
    course_id: int
    teacher_id: int
    hub_classroom_id: int
    kind: LessonKind
    weekday: int
    start_time: LocalTime
    end_time: LocalTime
    term_start: date
    term_end: date
    linked_classroom_ids: list[int]
    created_at: datetime


# Lessons -------------------------------------------------------------------------------------


class LessonIn(In):
    title: Name
    kind: LessonKind
    host_classroom_id: Id
    planned_start: Instant
    planned_end: Instant
    teacher_id: Id | None = Field(default=None, description="Defaults to the signed-in teacher")
    course_id: Id | None = None
    linked_classroom_ids: IdList = []
    observer_ids: IdList = []
    record: bool | None = Field(default=None, description="Defaults by kind")
    description: Annotated[str, StringConstraints(max_length=5000)] = ""


class LessonPatch(In):
    title: Name | None = None
    kind: LessonKind | None = None
    host_classroom_id: Id | None = None
    planned_start: Instant | None = None
    planned_end: Instant | None = None
    teacher_id: Id | None = None
    course_id: Id | None = None
    linked_classroom_ids: IdList | None = None
    observer_ids: IdList | None = None
    record: bool | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    status: LessonStatus | None = Field(
        default=None, description="Only scheduled <-> cancelled here; live and ended follow the Room"
    )


class LessonOut(Out):
    id: int
    title: str
    kind: LessonKind
    status: LessonStatus
    course_id: int | None
    timetable_entry_id: int | None
    teacher_id: int
    host_classroom_id: int
    linked_classroom_ids: list[int]
    observer_ids: list[int]
    planned_start: datetime
    planned_end: datetime
    actual_start: datetime | None
    actual_end: datetime | None
    record: bool
    description: str
    created_at: datetime


# Holidays ------------------------------------------------------------------------------------


class HolidayIn(In):
    day: date
    name: Name
    school_id: Id | None = Field(default=None, description="For one school; or give county")
    county: ShortText | None = Field(
        default=None, description="For every school of a county; neither means everywhere")
    teaches_weekday: Weekday | None = Field(
        default=None, description="A swapped working day (调休): this weekday's timetable runs")


class HolidayPatch(In):
    day: date | None = None
    name: Name | None = None
    school_id: Id | None = None
    county: ShortText | None = None
    teaches_weekday: Weekday | None = None


class HolidayOut(Out):
    id: int
    day: date
    name: str
    school_id: int | None
    county: str | None
    teaches_weekday: int | None
    created_at: datetime


class Page(BaseModel):
    """One page of a list."""

    items: list[Any]
    total: int
    limit: int
    offset: int
