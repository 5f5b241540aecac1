"""What the pages call each named value: record kinds, roles, lesson kinds, statuses, weekdays.

Every label is an English msgid; pages translate it for the reader's language.
"""

from __future__ import annotations

from ..auth.policy import Kind
from ..models import (
    LessonKind,
    LessonStatus,
    ResourceState,
    Role,
    SchoolKind,
    SourceKind,
    SourceRole,
    Visibility,
)
from .common import N_

# A record kind as a noun inside a sentence ("No %(kind)s with id 3", "New %(kind)s").
# Keys are the spellings the services use: the Kind value and its spaced form.
KIND_NOUNS: dict[str, str] = {
    "school": N_("school"),
    "classroom": N_("classroom"),
    "terminal": N_("terminal"),
    "source": N_("source"),
    "user": N_("user"),
    "course": N_("course"),
    "timetable entry": N_("timetable entry"),
    "timetable_entry": N_("timetable entry"),
    "lesson": N_("lesson"),
    "holiday": N_("holiday"),
    "resource": N_("resource"),
}


def kind_noun(kind: Kind | str) -> str:
    key = kind.value if isinstance(kind, Kind) else kind
    return KIND_NOUNS.get(key, key)


ROLES: dict[Role, str] = {
    Role.admin: N_("Administrator"),
    Role.teacher: N_("Teacher"),
    Role.observer: N_("Observing teacher"),
    Role.inspector: N_("Inspector"),
}

SCHOOL_KINDS: dict[SchoolKind, str] = {
    SchoolKind.hub: N_("Hub school"),
    SchoolKind.teaching_point: N_("Teaching point"),
    SchoolKind.school: N_("School"),
}

LESSON_KINDS: dict[LessonKind, str] = {
    LessonKind.dedicated: N_("Dedicated classroom"),
    LessonKind.master_teacher: N_("Master-teacher classroom"),
    LessonKind.famous_school: N_("Famous-school network classroom"),
}

LESSON_STATUSES: dict[LessonStatus, str] = {
    LessonStatus.scheduled: N_("Scheduled"),
    LessonStatus.live: N_("Live now"),
    LessonStatus.ended: N_("Ended"),
    LessonStatus.cancelled: N_("Cancelled"),
}

SOURCE_KINDS: dict[SourceKind, str] = {
    SourceKind.rtsp: N_("RTSP camera (pulled)"),
    SourceKind.rtmp: N_("RTMP encoder (pushes)"),
    SourceKind.whip: N_("WHIP encoder or OBS (pushes)"),
}

SOURCE_ROLES: dict[SourceRole, str] = {
    SourceRole.teacher: N_("Teacher camera"),
    SourceRole.students: N_("Student camera"),
    SourceRole.blackboard: N_("Blackboard camera"),
    SourceRole.courseware: N_("Courseware"),
    SourceRole.other: N_("Other"),
}

VISIBILITIES: dict[Visibility, str] = {
    Visibility.private: N_("Only me"),
    Visibility.school: N_("My school"),
    Visibility.county: N_("My county"),
    Visibility.everyone: N_("Everyone signed in"),
}

RESOURCE_STATES: dict[ResourceState, str] = {
    ResourceState.processing: N_("Processing"),
    ResourceState.ready: N_("Ready"),
    ResourceState.failed: N_("Processing failed"),
}

WEEKDAYS: dict[int, str] = {
    1: N_("Monday"),
    2: N_("Tuesday"),
    3: N_("Wednesday"),
    4: N_("Thursday"),
    5: N_("Friday"),
    6: N_("Saturday"),
    7: N_("Sunday"),
}

LOCALE_CHOICES: dict[str, str] = {
    "zh_CN": N_("Simplified Chinese"),
    "en": N_("English"),
}
