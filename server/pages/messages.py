"""Translating the services' English messages for the pages.

Fixed messages are msgids in the catalog as they are. Messages with values in them (a record
kind, an id, a number of seconds) and pydantic's validation messages are matched by pattern and
rebuilt from a translated template, so the reader sees e.g. “没有编号为 7 的教室”.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..models import LessonStatus
from .common import N_, Translate
from .labels import LESSON_STATUSES, kind_noun

# Fixed messages raised by the services and the request plumbing that pages may show.
FIXED = (
    # sign-in
    N_("Wrong username or password"),
    N_("This account is disabled; ask an administrator"),
    N_("Sign in first"),
    N_("This page is for people, not terminals"),
    N_("The form expired or came from another site; reload and try again"),
    N_("Internal server error"),
    # records
    N_("a school cannot be its own hub"),
    N_("a hub school is not led by another hub"),
    N_("an RTSP source needs its rtsp:// URL"),
    N_("only RTSP sources have a URL"),
    N_("only RTSP sources have a URL; RTMP and WHIP push with a stream key"),
    N_("not an IANA time zone such as Asia/Shanghai"),
    N_("must be an rtsp:// or rtsps:// URL"),
    N_("cannot be empty"),
    N_("cannot be null"),
    N_("cannot be null; give a list ([] for none)"),
    N_("an inspector oversees a county; give its name"),
    N_("a teacher belongs to a school"),
    N_("You cannot deactivate yourself or drop your own admin role"),
    N_("You cannot delete your own account"),
    N_("must be after start_time"),
    N_("must not be before term_start"),
    N_("the hub classroom is not linked to itself"),
    N_("name the lesson's teacher"),
    N_("must be after planned_start"),
    N_("the host classroom is not linked to itself"),
    N_("give a school or a county, not both; neither means every school"),
    N_("Only an admin issues terminal tokens"),
    N_("Only an admin revokes terminal tokens"),
    # lessons starting and ending
    N_("Only the lesson's teacher starts or ends it"),
    N_("Only a scheduled lesson can be started"),
    N_("Only a live lesson can be ended"),
    # the lesson library
    N_("Only teachers and admins upload videos"),
    N_("only an admin names another teacher"),
    N_("choose a video file (MP4, MOV, MKV, WebM, TS, FLV, AVI …)"),
    N_("the file is empty"),
    N_("choose the video file to upload"),
    N_("The library's disk has no room for this video; ask an administrator"),
    N_("a tag is one word or phrase without commas or spaces"),
    N_("No such file in the library"),
    N_("Uploading needs JavaScript in the browser"),
    N_("The upload was not a form with a file"),
    N_("Only administrators see the library's disk"),
    N_("is too long"),
    # schema validators
    N_("is out of range once converted to UTC"),
    N_("is a local time in the school's time zone; give it without an offset"),
    N_("must not contain NUL characters"),
)

_KIND = r"(?P<kind>school|classroom|terminal|source|user|course|timetable[ _]entry|lesson|holiday|resource)"


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    msgid: str


def _p(regex: str, msgid: str) -> _Pattern:
    return _Pattern(re.compile(regex), msgid)


PATTERNS: tuple[_Pattern, ...] = (
    # services (records, specs, sign-in)
    _p(rf"^No {_KIND} with id (?P<id>\d+)$", N_("There is no %(kind)s with id %(id)s")),
    _p(rf"^no {_KIND} with id (?P<id>\d+)$", N_("There is no %(kind)s with id %(id)s")),
    _p(rf"^This {_KIND} is still used by other records; remove those first$",
       N_("This %(kind)s is still used by other records; remove or change those first")),
    _p(rf"^A {_KIND} with the same name or key exists already$",
       N_("A %(kind)s with the same name exists already")),
    _p(rf"^This {_KIND} conflicts with other records$",
       N_("This %(kind)s conflicts with other records")),
    _p(rf"^You may not create this {_KIND}$", N_("You may not create this %(kind)s")),
    _p(rf"^You may not change this {_KIND}$", N_("You may not change this %(kind)s")),
    _p(rf"^You may not delete this {_KIND}$", N_("You may not delete this %(kind)s")),
    _p(r"^user (?P<id>\d+) is not a teacher$", N_("User %(id)s is not a teacher")),
    _p(r"^(?P<name>.+) teaches (?P<lessons>\d+) upcoming lesson\(s\) and (?P<entries>\d+) "
       r"timetable entr(?:y|ies): give them to another teacher or cancel them first, or disable "
       r"the account \(it keeps the records and cannot sign in\)$",
       N_("%(name)s teaches %(lessons)s upcoming lessons and has %(entries)s timetable entries: "
          "give them to another teacher or cancel them first, or disable the account (it keeps "
          "the records and cannot sign in)")),
    _p(r"^cannot change from (?P<old>\w+) to (?P<new>\w+) here$",
       N_("A lesson cannot go from “%(old)s” to “%(new)s” here")),
    # booking conflicts (services/conflicts.py)
    _p(r"^classroom “(?P<room>.*)” is taken by lesson (?P<id>\d+) “(?P<title>.*)” on (?P<when>[^”]+)$",
       N_("Classroom “%(room)s” is already used by lesson %(id)s “%(title)s” (%(when)s)")),
    _p(r"^the teacher teaches lesson (?P<id>\d+) “(?P<title>.*)” on (?P<when>[^”]+)$",
       N_("The teacher already teaches lesson %(id)s “%(title)s” (%(when)s)")),
    _p(r"^classroom “(?P<room>.*)” is taken by timetable entry (?P<id>\d+) “(?P<title>.*)” "
       r"at (?P<when>[^”]+) on the same weekday and term$",
       N_("Classroom “%(room)s” is already used by timetable entry %(id)s “%(title)s” at "
          "%(when)s on the same weekday and term")),
    _p(r"^the teacher has timetable entry (?P<id>\d+) “(?P<title>.*)” at (?P<when>[^”]+) "
       r"on the same weekday and term$",
       N_("The teacher already has timetable entry %(id)s “%(title)s” at %(when)s on the "
          "same weekday and term")),
    _p(r"^The video is larger than the limit of (?P<n>\d+) MiB$",
       N_("The video is larger than the limit of %(n)s MiB")),
    _p(r"^Too many failed sign-ins; try again in (?P<seconds>\d+) seconds$",
       N_("Too many failed sign-ins; try again in %(seconds)s seconds")),
    # pydantic's messages, by what they mean
    _p(r"^Field required$", N_("This field is required")),
    _p(r"^String should have at least 1 character$", N_("This field is required")),
    _p(r"^String should have at least (?P<n>\d+) characters$", N_("Use at least %(n)s characters")),
    _p(r"^String should have at most (?P<n>\d+) characters?$", N_("Use at most %(n)s characters")),
    _p(r"^String should match pattern ", N_("This is not in the expected format")),
    _p(r"^Input should be a valid integer", N_("Enter a whole number")),
    _p(r"^Input should be greater than or equal to (?P<n>\d+)$", N_("Enter %(n)s or more")),
    _p(r"^Input should be less than or equal to (?P<n>\d+)$", N_("Enter %(n)s or less")),
    _p(r"^Input should be a valid datetime", N_("Enter a valid date and time")),
    _p(r"^Input should be a valid date", N_("Enter a valid date")),
    _p(r"^Input should be in a valid time format", N_("Enter a valid time")),
    _p(r"^Input should be a valid time", N_("Enter a valid time")),
    _p(r"^Input should have timezone info$", N_("Enter a valid date and time")),
    _p(r"^Input should be a valid boolean", N_("Choose yes or no")),
    _p(r"^Input should be '", N_("Choose one of the options")),
    _p(r"^List should have at most (?P<n>\d+) items?", N_("Choose at most %(n)s")),
    _p(r"^Extra inputs are not permitted$", N_("This field is not accepted here")),
)

_VALUE_ERROR = "Value error, "


def translate_message(tr: Translate, message: str) -> str:
    """The reader's-language form of a service or validation message (English if unknown)."""
    if message.startswith(_VALUE_ERROR):
        message = message[len(_VALUE_ERROR):]
    translated = tr(message)
    if translated != message:
        return translated
    for pattern in PATTERNS:
        match = pattern.regex.match(message)
        if match is None:
            continue
        args = {key: value for key, value in match.groupdict().items() if value is not None}
        if "kind" in args:
            args["kind"] = tr(kind_noun(args["kind"]))
        for key in ("old", "new"):
            if key in args and args[key] in LessonStatus.__members__:
                args[key] = tr(LESSON_STATUSES[LessonStatus(args[key])])
        return tr(pattern.msgid) % args
    return message
