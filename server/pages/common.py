"""Small helpers every page module uses: translation, redirects, the signed-in user, time zones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from babel.dates import format_skeleton

from ..auth.principal import Principal, PrincipalKind
from ..errors import ErrorCode, KelianError
from ..http import locale, principal
from ..keys import SETTINGS, TRANSLATOR

Translate = Callable[[str], str]


def N_(message: str) -> str:
    """Marks a string for the catalog; it is translated later, where the request is known."""
    return message


def translator(request: web.Request) -> Translate:
    translations = request.app[TRANSLATOR].get(locale(request))
    return translations.gettext


def redirect(location: str, status: int = 302) -> web.Response:
    """A redirect as a plain response (aiohttp deprecates returning HTTPException objects)."""
    return web.Response(status=status, headers={"Location": location})


def see_other(location: str) -> web.Response:
    """The answer to a successful form POST: GET the next page."""
    return redirect(location, status=303)


def safe_next(value: str | None, default: str = "/") -> str:
    """`value` when it is a path on this site, else `default`: no open redirects."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="/")


def signed_in_user(request: web.Request) -> Principal:
    """The signed-in person; a terminal or an anonymous caller gets an error page."""
    who = principal(request)
    if not who.is_authenticated:
        raise KelianError(ErrorCode.unauthenticated, "Sign in first")
    if who.kind is not PrincipalKind.user:
        raise KelianError(ErrorCode.forbidden, "This page is for people, not terminals")
    return who


def zone(name: str | None, fallback: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def default_zone(request: web.Request) -> ZoneInfo:
    return zone(None, request.app[SETTINGS].time_zone)


def format_day(request: web.Request, when: datetime) -> str:
    """A day as people say it: 6月2日周二 / Tue, June 2."""
    return format_skeleton("MMMMEEEEd", when, locale=locale(request))


def format_moment(request: web.Request, when: datetime | None, tz: ZoneInfo) -> str:
    """A stored (UTC) moment as local date and time, e.g. 2026-06-02 08:30."""
    if when is None:
        return ""
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


NOTICES = {
    "created": N_("Saved: the record was created."),
    "saved": N_("Saved."),
    "deleted": N_("The record was deleted."),
    "revoked": N_("The terminal's token was revoked; the terminal is signed out."),
    "signed_out": N_("You have signed out."),
    "lesson_created": N_("The lesson was created."),
    "lesson_started": N_("The lesson has started: its classrooms can join now."),
    "lesson_ended": N_("The lesson has ended."),
    "uploaded": N_("The video was uploaded. It is being processed and appears in the library "
                   "when it is ready."),
    "resource_deleted": N_("The resource and its files were deleted."),
}


def notice(request: web.Request) -> str | None:
    """A one-line confirmation named in the query string (?notice=saved) after a redirect."""
    key = request.query.get("notice", "")
    return translator(request)(NOTICES[key]) if key in NOTICES else None
