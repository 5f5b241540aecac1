"""The live-lesson pages: the teacher console, the observer page and the classroom terminal.

- `/lessons/{id}/live`: the lesson's teacher (or an admin) gets the console (start the lesson,
  preview, camera/microphone/courseware, the grid of linked classrooms, floor, mute, hands,
  chat, end); anyone else who may see the lesson gets the receive-only observer page (comments
  in master-teacher lessons, questions in famous-school lessons). The socket decides the seat;
  the page only shows what the seat allows.
- `/terminal`: the classroom terminal's kiosk page. It carries no credentials itself: the
  terminal token arrives once (`/terminal#token=kt_…`, `?token=kt_…` or typed into its set-up
  form), the page keeps it in localStorage, drops it from the address and speaks to the API and
  the socket with it (web/static/live/terminal.js).

The browser code lives in web/static/live/; its UI text comes from `CLIENT_STRINGS`,
translated here and embedded in the page as JSON.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy import func, select

from ..auth.policy import can_change
from ..cluster.whereabouts import Whereabouts
from ..errors import ErrorCode, KelianError
from ..http import json_response
from ..keys import LIVE, SESSIONS, SETTINGS, WHEREABOUTS
from ..live.presence import classroom_state
from ..models import Lesson, LessonStatus, Terminal, utcnow
from ..services.records import get_record
from ..services.specs import LESSON
from ..templating import render
from .common import N_, Translate, signed_in_user, translator, zone
from .labels import LESSON_KINDS, LESSON_STATUSES
from .layout import page
from .lookups import Names

# Everything the live pages' scripts may say, by key (web/static/live/*.js call t(key)).
CLIENT_STRINGS: dict[str, str] = {
    # Capture and media
    "needs_https": N_("Camera and microphone need HTTPS: open this page at an https:// address "
                      "(or ask the administrator to set up a certificate). Watching and listening "
                      "still work."),
    "no_media_support": N_("This browser cannot use a camera or microphone."),
    "no_webrtc": N_("This browser cannot take part in live lessons (no WebRTC). Use a current "
                    "Chrome, Edge or Firefox."),
    "media_denied": N_("The browser may not use the camera and microphone. Allow them for this "
                       "site (the icon left of the address bar), then reload the page."),
    "no_camera": N_("No camera was found: the class hears you but cannot see you."),
    "no_microphone": N_("No microphone was found: the class sees you but cannot hear you."),
    "no_devices": N_("No camera or microphone was found."),
    "device_busy": N_("The camera or microphone is in use by another program. Close it, then "
                      "reload the page."),
    "media_failed": N_("The camera or microphone could not be started."),
    "screen_cancelled": N_("Courseware sharing was cancelled."),
    "screen_failed": N_("The screen could not be shared."),
    "screen_unsupported": N_("This browser cannot share a screen."),
    "publish_failed": N_("Your camera and microphone could not be sent to the lesson."),
    "receive_failed": N_("The lesson's video could not be received."),
    "video_paused": N_("The network is weak: video is paused, you hear audio only for now."),
    "video_resumed": N_("The network has recovered: video is back."),
    "media_reconnecting": N_("The media connection failed; reconnecting…"),
    "media_unstable": N_("The network is unstable; recovering the connection…"),
    "media_lost": N_("The media connection was lost; reconnecting…"),
    "media_connected": N_("Connected."),
    "recording_failed": N_("Recording stopped by itself; what was recorded is kept."),
    "recording": N_("Recording"),
    "record_start": N_("Start recording"),
    "record_stop": N_("Stop recording"),
    "publication_refused": N_("One of your tracks is not allowed in this lesson and is not sent."),
    "request_disconnected": N_("Not connected to the server; try again in a moment."),
    "request_forbidden": N_("You may not do that in this lesson."),
    "request_failed": N_("That did not work; please try again."),
    "throttled": N_("Too many actions at once; please slow down."),
    "sound_blocked": N_("Tap here to turn the sound on"),
    # Connection and lesson state
    "status_connecting": N_("Connecting…"),
    "status_joining": N_("Entering the classroom…"),
    "status_joined": N_("Connected"),
    "status_reconnecting": N_("Connection lost; reconnecting…"),
    "lesson_ended": N_("This lesson has ended."),
    "lesson_not_live": N_("The lesson is not live."),
    "no_seat": N_("You have no place in this lesson."),
    "replaced": N_("This lesson was opened in another window or on another device; this one "
                   "has left it."),
    "unauthenticated": N_("Your sign-in has expired; sign in again."),
    "start_failed": N_("The lesson could not be started."),
    "end_failed": N_("The lesson could not be ended."),
    "end_confirm": N_("Click again to end the lesson for everyone"),
    "lesson_ending_soon": N_("The lesson's time is nearly over. It ends by itself a few minutes "
                             "after its planned end, unless you are still teaching."),
    "classroom_not_joined": N_("%(name)s has not joined the lesson yet. Check its terminal or "
                               "call the teaching point."),
    "source_unreachable": N_("The camera of %(name)s does not answer. It is tried again and "
                             "again; check its power, its network cable and its RTSP address."),
    "source_reconnecting": N_("The camera of %(name)s dropped; reconnecting…"),
    "source_restored": N_("The camera of %(name)s is back."),
    "source_unsupported": N_("The encoder of %(name)s sends what browsers play badly or not "
                             "at all. Set it to H.264 video without B-frames (baseline "
                             "profile) and AAC audio."),
    # The classroom terminal
    "kiosk_no_token": N_("This terminal is not set up yet. An administrator issues its token "
                         "(Terminals, Issue token) and enters it here once."),
    "kiosk_token_invalid": N_("This terminal's token is unknown or was revoked. Ask an "
                              "administrator to issue a new one."),
    "kiosk_offline": N_("Cannot reach the server; retrying…"),
    "kiosk_none": N_("No more lessons are scheduled for this classroom."),
    "kiosk_starts_by_itself": N_("The lesson opens here by itself when the teacher starts it."),
    "kiosk_waiting_teacher": N_("Waiting for the teacher to start the lesson…"),
    "kiosk_today": N_("today"),
    "kiosk_tomorrow": N_("tomorrow"),
    "kiosk_ended": N_("The lesson has ended. See you next time!"),
    "kiosk_replaced": N_("This classroom joined the lesson from another device."),
    "waiting_for_hub": N_("Waiting for the teacher's picture…"),
    "courseware": N_("Courseware"),
    "this_classroom": N_("This classroom"),
    "speaking": N_("Speaking: %(name)s"),
    "you_have_floor": N_("You have the floor: every classroom hears you"),
    "muted_by_teacher": N_("The teacher has muted this classroom's microphone"),
    "hand_raise": N_("Raise hand"),
    "hand_lower": N_("Lower hand"),
    "hand_raised_note": N_("Hand raised: the teacher has been told"),
    # The teacher console
    "state_live": N_("Live now"),
    "state_ended": N_("Ended"),
    "state_offline": N_("Not connected"),
    "classroom_offline": N_("Not connected"),
    "classroom_waiting": N_("Waiting for the lesson"),
    "classroom_reconnecting": N_("Reconnecting…"),
    "classroom_joining": N_("Joining…"),
    "classroom_in_lesson": N_("In the lesson"),
    "state_online": N_("Connected"),
    "state_hand": N_("Hand raised"),
    "state_floor": N_("Has the floor"),
    "state_muted": N_("Microphone muted"),
    "state_camera_off": N_("Camera off"),
    "give_floor": N_("Give the floor"),
    "take_floor": N_("Take the floor back"),
    "mute": N_("Mute"),
    "unmute": N_("Unmute"),
    "lower_hand": N_("Lower hand"),
    "quality_good": N_("Good link"),
    "quality_fair": N_("Fair link"),
    "quality_poor": N_("Poor link"),
    "camera_on": N_("Turn camera on"),
    "camera_off": N_("Turn camera off"),
    "microphone_on": N_("Turn microphone on"),
    "microphone_off": N_("Turn microphone off"),
    "screen_start": N_("Share courseware"),
    "screen_stop": N_("Stop sharing"),
    "no_hands": N_("No raised hands."),
    "no_chat": N_("No messages yet."),
    "no_participants": N_("Nobody else has joined yet."),
    "invite_stage": N_("Invite on stage"),
    "remove_stage": N_("Back to the audience"),
    "on_stage": N_("On stage"),
    "answer": N_("Answer"),
    "highlight": N_("Highlight"),
    "unhighlight": N_("Remove highlight"),
    "answer_placeholder": N_("Your answer…"),
    "answered": N_("Answer: %(answer)s"),
    "no_questions": N_("No questions yet."),
    "kiosk_question": N_("Question from %(who)s"),
    "you": N_("You"),
    "camera_main": N_("Main camera"),
    "camera_sent": N_("Sent"),
    "camera_held": N_("Not sent"),
    "camera_make_main": N_("Show this one"),
    "camera_show_all": N_("Send all cameras"),
}


def client_strings(tr: Translate) -> dict[str, str]:
    return {key: tr(text) for key, text in CLIENT_STRINGS.items()}


def _lesson_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise KelianError(ErrorCode.not_found, "No such page") from None


def _lesson_context(request: web.Request, lesson: Lesson, names: Names) -> dict[str, Any]:
    tr = translator(request)
    tz = zone(names.zone_of(lesson.host_classroom_id), request.app[SETTINGS].time_zone)
    return {
        "lesson": {
            "id": lesson.id,
            "title": lesson.title,
            "kind": lesson.kind.value,
            "kind_label": tr(LESSON_KINDS[lesson.kind]),
            "status": lesson.status.value,
            "status_label": tr(LESSON_STATUSES[lesson.status]),
            "starts": f"{lesson.planned_start.astimezone(tz):%H:%M}",
            "ends": f"{lesson.planned_end.astimezone(tz):%H:%M}",
            "date": f"{lesson.planned_start.astimezone(tz):%Y-%m-%d}",
            "host": names.classroom(lesson.host_classroom_id),
            "teacher": names.user(lesson.teacher_id),
            "linked": [names.classroom(i) for i in lesson.linked_classroom_ids],
            "actual_start": lesson.actual_start.isoformat() if lesson.actual_start else "",
        },
        "strings": client_strings(tr),
    }


async def live_lesson(request: web.Request) -> web.StreamResponse:
    """The console for the lesson's teacher (or an admin); the observer page for others."""
    who = signed_in_user(request)
    async with request.app[SESSIONS]() as db:
        lesson: Lesson = await get_record(db, who, LESSON, _lesson_id(request))
        names = await Names.load(db, [lesson], request.app[SETTINGS].time_zone)
    ctx = _lesson_context(request, lesson, names)
    hosting = can_change(who, LESSON.kind, lesson)
    ctx["hosting"] = hosting
    ctx["startable"] = hosting and lesson.status is LessonStatus.scheduled
    template = "live/console.html" if hosting else "live/watch.html"
    return page(request, template, ctx, title=lesson.title)


async def classroom_states(request: web.Request) -> web.StreamResponse:
    """The console's view of its linked classrooms (polled): in the lesson, reconnecting,
    waiting on their kiosk, or offline."""
    who = signed_in_user(request)
    lesson_id = _lesson_id(request)
    async with request.app[SESSIONS]() as db:
        lesson: Lesson = await get_record(db, who, LESSON, lesson_id)
        if not can_change(who, LESSON.kind, lesson):
            raise KelianError(ErrorCode.forbidden, "Only the lesson's teacher sees this")
        names = await Names.load(db, [lesson], request.app[SETTINGS].time_zone)
        seen = dict((await db.execute(
            select(Terminal.classroom_id, func.max(Terminal.last_seen_at))
            .where(Terminal.classroom_id.in_(lesson.linked_classroom_ids),
                   Terminal.token_revoked_at.is_(None))
            .group_by(Terminal.classroom_id))).all())
    where = await _whereabouts(request.app, lesson_id)
    now = utcnow()
    states = [{"label": names.classroom(i),
               "state": classroom_state(names.classroom(i), where.present, where.dropped,
                                        seen.get(i), now).value}
              for i in lesson.linked_classroom_ids]
    return json_response({"classrooms": states}, headers={"Cache-Control": "no-store"})


async def _whereabouts(app: web.Application, lesson_id: int) -> Whereabouts:
    """The lesson's classrooms in this node's Room and, with several nodes, in the others'
    (a cascade's edges, or the origin when this node holds nothing of the lesson)."""
    here = Whereabouts.of_room(app[LIVE].get(lesson_id))
    shared = app.get(WHEREABOUTS)
    if shared is None:
        return here
    try:
        return here.merged(await shared.read(lesson_id))
    except (RedisError, OSError):
        return here  # Redis down: what this node knows


async def terminal(request: web.Request) -> web.StreamResponse:
    """The kiosk page; a token in the address is read by the script, never by the server."""
    response = render(request, "live/kiosk.html", {
        "strings": client_strings(translator(request)),
    })
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the first load carries the token
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/lessons/{id}/live", live_lesson)
    app.router.add_get("/lessons/{id}/classrooms.json", classroom_states)
    app.router.add_get("/terminal", terminal)
