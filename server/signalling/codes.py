"""Every signalling failure and every close has a name; the same strings in replies and logs."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class SignalErrorCode(StrEnum):
    """The `code` of an `error` reply. Codes shared with the HTTP API keep its strings."""

    bad_json = "bad_json"  # the frame is not JSON text
    bad_request = "bad_request"  # not a JSON object, a binary frame, no `type`
    unsupported_version = "unsupported_version"  # `v` is not 1
    unknown_type = "unknown_type"  # no such message type
    invalid = "invalid"  # the message does not match its schema
    unauthenticated = "unauthenticated"  # no, wrong, expired or revoked credentials
    already_authenticated = "already_authenticated"
    forbidden = "forbidden"  # this participant may not do that (the lesson-kind rules)
    not_found = "not_found"  # no such lesson, participant, publication or question
    not_joined = "not_joined"  # join a lesson first
    already_joined = "already_joined"
    lesson_not_live = "lesson_not_live"  # the lesson is scheduled, ended or cancelled
    bad_sdp = "bad_sdp"  # the media plane refused the SDP
    unexpected_answer = "unexpected_answer"  # an answer when no offer is waiting
    media_failed = "media_failed"  # any other refusal by the media plane
    throttled = "throttled"  # too many messages; the socket closes next (4429)
    internal = "internal"


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (4xxx mirror HTTP statuses)."""

    normal = 1000  # the participant left
    going_away = 1001  # the server shuts down; reconnect later
    too_large = 1009  # a message over the size limit
    internal = 1011
    unauthenticated = 4401  # no valid credentials in time
    slow_client = 4408  # the client did not read its messages fast enough
    moved = 4307  # the node drains: reconnect now, the lesson goes on on another node
    replaced = 4409  # the same principal joined the lesson on another socket
    lesson_ended = 4410  # the lesson ended; do not reconnect
    flood = 4429  # too many messages


class LeaveReason(StrEnum):
    """Why a participant left its Room (in `event.participant.left` and the logs)."""

    left = "left"
    disconnected = "disconnected"  # socket closed or heartbeat missed
    replaced = "replaced"
    slow_client = "slow_client"
    flood = "flood"
    lesson_ended = "lesson_ended"
    shutdown = "shutdown"
    revoked = "revoked"  # its token was revoked or its account disabled (closed with 4401)
    moved = "moved"  # its node drained; it reconnects to the lesson on another node (4307)


class NoticeCode(StrEnum):
    """What an `event.notice` tells one participant."""

    video_paused = "video_paused"  # the link cannot carry video: audio only for now
    video_resumed = "video_resumed"
    transport_failed = "transport_failed"  # media transport lost: publish again
    publication_refused = "publication_refused"  # a published track the rules do not allow
    recording_failed = "recording_failed"  # the recording stopped by itself (e.g. disk full)
    lesson_ending_soon = "lesson_ending_soon"  # to the host: the lesson's planned time runs out
    # A classroom's RTSP camera (server/ingest/rtsp.py) or RTMP encoder (rtmp.py); the message
    # names it.
    source_unreachable = "source_unreachable"  # to the host: it does not answer; still retried
    source_reconnecting = "source_reconnecting"  # to its receivers and the host: it dropped
    source_restored = "source_restored"  # ... and is back: its video resumes by itself
    source_unsupported = "source_unsupported"  # to the host: an encoder setting to change
    # To the host: a linked classroom has not joined `join_alarm_min` after the lesson went live.
    classroom_not_joined = "classroom_not_joined"


class SignalError(Exception):
    """A request refused with a code; the connection answers it as an `error` reply."""

    def __init__(self, code: SignalErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
