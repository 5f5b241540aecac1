"""The control plane's records. Import models from here."""

from .attendance import Attendance, LinkSample
from .base import Base, UTCDateTime, utcnow
from .calendar import Holiday
from .enums import (
    JobState,
    LessonKind,
    LessonStatus,
    RecordingState,
    ResourceState,
    Role,
    SchoolKind,
    SourceKind,
    SourceRole,
    Visibility,
)
from .failures import JoinFailure
from .jobs import Job
from .library import Recording, Rendition, Resource
from .org import Classroom, School, Source, Terminal
from .people import ApiToken, AuditEvent, User, UserSession
from .teaching import (
    Course,
    Lesson,
    TimetableEntry,
    lesson_classroom,
    lesson_observer,
    timetable_entry_classroom,
)

__all__ = [
    "ApiToken", "Attendance", "AuditEvent", "Base", "Classroom", "Course", "Holiday", "Job",
    "JobState", "JoinFailure", "Lesson", "LessonKind", "LinkSample",
    "LessonStatus", "Recording", "RecordingState", "Rendition", "Resource", "ResourceState",
    "Role", "School", "SchoolKind", "Source", "SourceKind", "SourceRole", "Visibility",
    "Terminal", "TimetableEntry", "UTCDateTime", "User", "UserSession", "lesson_classroom",
    "lesson_observer", "timetable_entry_classroom", "utcnow",
]
