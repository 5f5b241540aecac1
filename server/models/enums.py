"""Named kinds and states; the same strings appear in the database, the API and the logs."""

from enum import StrEnum


class SchoolKind(StrEnum):
    hub = "hub"
    teaching_point = "teaching_point"
    school = "school"


class Role(StrEnum):
    admin = "admin"
    teacher = "teacher"
    observer = "observer"
    inspector = "inspector"


class SourceKind(StrEnum):
    rtsp = "rtsp"
    rtmp = "rtmp"
    whip = "whip"


class SourceRole(StrEnum):
    teacher = "teacher"
    students = "students"
    blackboard = "blackboard"
    courseware = "courseware"
    other = "other"


class LessonKind(StrEnum):
    dedicated = "dedicated"
    master_teacher = "master_teacher"
    famous_school = "famous_school"


class LessonStatus(StrEnum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"


class JobState(StrEnum):
    queued = "queued"  # waiting, possibly until `not_before` (retry back-off)
    running = "running"  # held by a worker while its lease lasts
    done = "done"
    failed = "failed"  # permanently: a permanent error, or no attempts left
    cancelled = "cancelled"


class RecordingState(StrEnum):
    recording = "recording"
    stopped = "stopped"  # closed: its segments are complete (or as complete as a crash left them)
    failed = "failed"  # nothing usable was written


class ResourceState(StrEnum):
    processing = "processing"  # the transcode job has not finished
    ready = "ready"  # published in the library
    failed = "failed"  # the job failed for good; `error` says why


class Visibility(StrEnum):
    """Who may find and play a Resource (admins always may)."""

    private = "private"  # its owner (and the teacher it shows)
    school = "school"  # everyone of its school
    county = "county"  # everyone of its county
    everyone = "everyone"  # everyone signed in
