"""The lesson library's pages: the catalogue, the player, editing and deleting a Resource, and the
administrators' view of the library's disk.

- `/library`: search box, filters and result cards, 24 to a page.
- `/library/{id}`: the player (web/static/library/player.js: hls.js from npm, or the browser's
  own HLS), quality and speed, seek-bar thumbnails, resume; processing progress or the failure;
  downloads of each rendition; edit and delete links for its owner and admins.
- `/library/{id}/edit`, `/library/{id}/delete`: forms for its owner and admins.
- `/library/storage`: admins: the library's size and the disk's free space.

The upload page is `library_upload`; the media files and downloads are `library_files`. Every
rule (who sees what, validation) is in `server.library`.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from datetime import date
from typing import Any

from aiohttp import web
from babel.dates import format_skeleton
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.principal import Principal
from ..errors import ErrorCode, KelianError
from ..http import locale
from ..keys import LIBRARY, SESSIONS
from ..library import catalogue
from ..library.access import can_change_resource, can_upload, owns
from ..library.files import download_url, file_url, master_url
from ..library.shapes import ResourceIn, ResourcePatch, split_tags
from ..library.storage import DiskUsage
from ..models import Resource, ResourceState, Role
from .common import N_, Translate, see_other, signed_in_user, translator
from .forms import FormContext, FormField, FormState, Mode, bind, display_value, place_errors, read
from .labels import LESSON_KINDS, RESOURCE_STATES, VISIBILITIES
from .layout import page
from .lookups import NONE_CHOICE, enum_choices, user_choices

PAGE_SIZE = 24
LOW_DISK = 0.10  # warn administrators below this fraction of free space
ANY = N_("Any")

# The metadata form, shared by the upload page (create) and the edit page.
RESOURCE_FIELDS: tuple[FormField, ...] = (
    FormField("title", N_("Title"), required=True),
    FormField("subject", N_("Subject"), hint=N_("For example: music, English, art")),
    FormField("grade", N_("Grade"), hint=N_("For example: grade 3")),
    FormField("lesson_kind", N_("Kind of lesson"), "select", nullable=True,
              choices=enum_choices(LESSON_KINDS, NONE_CHOICE)),
    FormField("taught_on", N_("Taught on"), "date", nullable=True),
    FormField("visibility", N_("Who may watch"), "select", required=True, default="school",
              choices=enum_choices(VISIBILITIES),
              hint=N_("Administrators can always watch. Your own resources are always yours.")),
    FormField("teacher_id", N_("Teacher"), "select", integer=True, admin_only=True,
              choices=user_choices(Role.teacher, NONE_CHOICE),
              hint=N_("Whose teaching the video shows.")),
    FormField("tags", N_("Tags"), hint=N_("Words to find it by, separated by commas or spaces.")),
    FormField("description", N_("Description"), "textarea"),
)
_FREE_TEXT = ("subject", "grade", "description")  # an emptied input clears them


def resource_fields(mode: Mode, who: Principal) -> list[FormField]:
    schema = ResourceIn if mode == "create" else ResourcePatch
    return [f for f in RESOURCE_FIELDS
            if f.name in schema.model_fields and (who.is_admin or not f.admin_only)]


async def read_resource_form(fields: list[FormField], post: Any, ctx: FormContext,
                             mode: Mode) -> tuple[dict[str, Any], FormState]:
    """The form as a payload for ResourceIn / ResourcePatch (tags as a list)."""
    schema = ResourceIn if mode == "create" else ResourcePatch
    payload, state = await read(fields, post, ctx, mode, schema)
    for name in _FREE_TEXT:
        payload[name] = str(state.values.get(name, ""))
    payload["tags"] = split_tags(str(state.values.get("tags", "")))
    return payload, state


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])


# Labels -------------------------------------------------------------------------------------------


def duration_label(seconds: float | None) -> str:
    if not seconds:
        return ""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bytes_label(count: int) -> str:
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


def date_label(request: web.Request, day: date | None) -> str:
    return format_skeleton("yMMMd", day, locale=locale(request)) if day else ""


def _day_of(resource: Resource) -> date | None:
    if resource.taught_on is not None:
        return resource.taught_on
    moment = resource.published_at or resource.created_at
    return moment.date() if moment else None


# The catalogue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceCard:
    id: int
    url: str
    title: str
    poster_url: str | None
    teacher: str
    school: str
    day: str
    duration: str
    kind: str
    kind_label: str
    views: int
    state: str
    state_label: str
    subject: str
    grade: str


def _card(request: web.Request, tr: Translate, r: Resource) -> ResourceCard:
    ready = r.state is ResourceState.ready
    return ResourceCard(
        id=r.id, url=f"/library/{r.id}", title=r.title,
        poster_url=file_url(r, r.poster) if ready else None,
        teacher=r.teacher.display_name if r.teacher else "",
        school=r.school.name if r.school else "",
        day=date_label(request, _day_of(r)), duration=duration_label(r.duration_s),
        kind=r.lesson_kind.value if r.lesson_kind else "",
        kind_label=tr(LESSON_KINDS[r.lesson_kind]) if r.lesson_kind else "",
        views=r.views, state=r.state.value, state_label=tr(RESOURCE_STATES[r.state]),
        subject=r.subject, grade=r.grade,
    )


def _page_no(request: web.Request) -> int:
    try:
        return max(1, min(int(request.query.get("page", "1")), 10_000))
    except ValueError:
        return 1


def _page_link(request: web.Request, page_no: int) -> str:
    query = {k: v for k, v in request.query.items() if k not in ("page", "notice") and v}
    query["page"] = str(page_no)
    return str(request.rel_url.with_query(query))


async def _free_space(request: web.Request) -> DiskUsage | None:
    """The library's disk without its size (no walk over the files): the low-space warning."""
    storage = request.app[LIBRARY]

    def measure() -> DiskUsage:
        storage.root.mkdir(parents=True, exist_ok=True)
        disk = shutil.disk_usage(storage.root)
        return DiskUsage(library_bytes=0, free_bytes=disk.free, total_bytes=disk.total)

    try:
        return await asyncio.to_thread(measure)
    except OSError:
        return None


async def catalogue_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    tr = translator(request)
    query = catalogue.parse_query(request.query, strict=False)
    page_no = _page_no(request)
    async with request.app[SESSIONS]() as db:
        rows, total = await catalogue.list_resources(db, who, query, limit=PAGE_SIZE,
                                                     offset=(page_no - 1) * PAGE_SIZE)
        found = await catalogue.facets(db, who)
    disk = await _free_space(request) if who.is_admin else None
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    filters_open = any(request.query.get(k) for k in catalogue.FILTERS if k != "q")
    return page(request, "library/catalogue.html", {
        "cards": [_card(request, tr, r) for r in rows],
        "total": total,
        "query": query,
        "values": {k: request.query.get(k, "") for k in catalogue.FILTERS},
        "filters_open": filters_open,
        "facets": found,
        "any_label": tr(ANY),
        "kinds": [(k.value, tr(label)) for k, label in LESSON_KINDS.items()],
        "page_no": page_no,
        "pages": pages,
        "prev_url": _page_link(request, page_no - 1) if page_no > 1 else None,
        "next_url": _page_link(request, page_no + 1) if page_no < pages else None,
        "can_upload": can_upload(who),
        "disk_low": disk is not None and disk.free_fraction < LOW_DISK,
        "disk": disk,
        "bytes_label": bytes_label,
    }, title=tr(N_("Lesson library")))


# The player -------------------------------------------------------------------------------------

# Everything the library's scripts may say, by key (web/static/library/*.js call t(key)).
CLIENT_STRINGS: dict[str, str] = {
    "auto": N_("Auto"),
    "auto_now": N_("Auto (%(name)s)"),
    "play": N_("Play"),
    "pause": N_("Pause"),
    "mute": N_("Mute"),
    "unmute": N_("Unmute"),
    "fullscreen": N_("Full screen"),
    "exit_fullscreen": N_("Leave full screen"),
    "resumed": N_("Continuing where you left off (%(time)s)."),
    "start_over": N_("Start from the beginning"),
    "no_player": N_("This browser cannot play the video. Use a current Chrome, Edge, Firefox "
                    "or Safari, or download it below."),
    "load_failed": N_("The video could not be loaded. Check the network and reload the page."),
    "network_retry": N_("The network is unstable; trying again…"),
    "processing": N_("Processing: %(percent)s %%"),
    "processing_speed": N_("Processing: %(percent)s %% (%(speed)s× real time)"),
    "queued": N_("Waiting for the transcoder…"),
    "retrying": N_("Processing is being retried (attempt %(n)s)…"),
    "ready_now": N_("Ready: opening the player…"),
    "failed_now": N_("Processing failed."),
    "progress_unreachable": N_("Cannot reach the server; trying again…"),
    # The upload page
    "upload_too_large": N_("This file is %(size)s; the library accepts at most %(limit)s."),
    "upload_no_file": N_("Choose the video file first."),
    "upload_progress": N_("Uploading… %(percent)s %% (%(sent)s of %(size)s)"),
    "upload_processing": N_("Uploaded. Opening the resource…"),
    "upload_failed": N_("The upload did not work: %(reason)s"),
    "upload_network": N_("The connection broke off during the upload. Try again."),
    "upload_cancelled": N_("The upload was cancelled."),
    "upload_leave": N_("The upload is still running. Leave the page anyway?"),
}


def client_strings(tr: Translate) -> dict[str, str]:
    return {key: tr(msgid) for key, msgid in CLIENT_STRINGS.items()}


@dataclass(frozen=True)
class RenditionRow:
    name: str
    label: str
    height: int
    size: str
    playlist_url: str | None
    download_url: str


def _processing_text(tr: Translate, state: dict[str, Any]) -> str:
    """What the processing panel says before its script polls (the same words as the script)."""
    if state["job_state"] != "running" or state["progress"] is None:
        return tr(CLIENT_STRINGS["queued"])
    return tr(CLIENT_STRINGS["processing"]) % {"percent": round(state["progress"] * 100)}


async def player_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    tr = translator(request)
    resource_id = _id(request)
    async with request.app[SESSIONS]() as db:
        resource = await catalogue.get_resource(db, who, resource_id)
        ready = resource.state is ResourceState.ready
        views = resource.views
        if ready:
            await catalogue.count_view(db, resource_id)
            views += 1
        state = await catalogue.progress(db, who, resource_id)
    renditions = [RenditionRow(
        name=r.name, label=f"{r.width}×{r.height}", height=r.height, size=bytes_label(r.bytes),
        playlist_url=file_url(resource, r.playlist), download_url=download_url(resource, r),
    ) for r in resource.renditions]
    player = {
        "resource": resource.id,
        "master": master_url(resource),
        "thumbnails": file_url(resource, resource.thumbnails),
        "duration": resource.duration_s,
        "renditions": [{"name": r.name, "height": r.height, "playlist": r.playlist_url}
                       for r in renditions],
    }
    return page(request, "library/player.html", {
        "r": resource,
        "card": _card(request, tr, resource),
        "views": views,
        "ready": ready,
        "player": player,
        "poster_url": file_url(resource, resource.poster) if ready else None,
        "renditions": renditions,
        "progress": state,
        "percent": round((state["progress"] or 0) * 100),
        "processing_text": _processing_text(tr, state),
        "visibility_label": tr(VISIBILITIES[resource.visibility]),
        "may_change": can_change_resource(who, resource),
        "is_own": owns(who, resource),
        "strings": client_strings(tr),
        "speeds": ("0.75", "1", "1.25", "1.5", "2"),
    }, title=resource.title)


# Edit and delete ----------------------------------------------------------------------------------


async def _changeable(db: AsyncSession, who: Principal, resource_id: int, verb: str) -> Resource:
    resource = await catalogue.get_resource(db, who, resource_id)
    if not can_change_resource(who, resource):
        raise KelianError(ErrorCode.forbidden, f"You may not {verb} this resource")
    return resource


async def _edit_page(request: web.Request, db: AsyncSession, resource: Resource,
                     state: FormState, status: int = 200) -> web.Response:
    who = signed_in_user(request)
    tr = translator(request)
    fields = await bind(resource_fields("edit", who), state, FormContext(request, db, who), "edit")
    return page(request, "library/edit.html", {
        "r": resource,
        "fields": fields,
        "general_errors": state.general,
        "has_errors": not state.ok,
    }, status=status, title=tr(N_("Change “%(title)s”")) % {"title": resource.title})


async def edit_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    async with request.app[SESSIONS]() as db:
        resource = await _changeable(db, who, _id(request), "change")
        fields = resource_fields("edit", who)
        values = {f.name: display_value(f, getattr(resource, f.name, None), None, "")
                  for f in fields}
        values["tags"] = " ".join(resource.tags or [])
        return await _edit_page(request, db, resource, FormState(values=values))


async def update_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    resource_id = _id(request)
    post = await request.post()
    async with request.app[SESSIONS]() as db:
        resource = await _changeable(db, who, resource_id, "change")
        ctx = FormContext(request, db, who)
        fields = resource_fields("edit", who)
        payload, state = await read_resource_form(fields, post, ctx, "edit")
        status = 422
        if state.ok:
            try:
                await catalogue.update_resource(db, who, resource_id, payload)
            except KelianError as err:
                if err.code is not ErrorCode.invalid:
                    raise
                await db.rollback()
                place_errors(fields, state, err, ctx.tr)
                status = err.status
                resource = await catalogue.get_resource(db, who, resource_id)
            else:
                return see_other(f"/library/{resource_id}?notice=saved")
        return await _edit_page(request, db, resource, state, status=status)


async def confirm_delete_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    tr = translator(request)
    async with request.app[SESSIONS]() as db:
        resource = await _changeable(db, who, _id(request), "delete")
    return page(request, "library/delete.html", {
        "r": resource,
        "card": _card(request, tr, resource),
        "size": bytes_label(resource.bytes),
    }, title=tr(N_("Delete this resource?")))


async def delete_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    async with request.app[SESSIONS]() as db:
        await catalogue.delete_resource(db, who, request.app[LIBRARY], _id(request))
    return see_other("/library?notice=resource_deleted")


# The library's disk -------------------------------------------------------------------------------


async def storage_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    if not who.is_admin:
        raise KelianError(ErrorCode.forbidden, "Only administrators see the library's disk")
    tr = translator(request)
    usage = await asyncio.to_thread(request.app[LIBRARY].usage)
    async with request.app[SESSIONS]() as db:
        rows = await db.execute(select(Resource.state, func.count()).group_by(Resource.state))
        counts = {state: count for state, count in rows}
    used = usage.total_bytes - usage.free_bytes
    return page(request, "library/storage.html", {
        "usage": usage,
        "library": bytes_label(usage.library_bytes),
        "free": bytes_label(usage.free_bytes),
        "total": bytes_label(usage.total_bytes),
        "used_percent": round(100 * used / usage.total_bytes) if usage.total_bytes else 0,
        "library_percent": (round(100 * usage.library_bytes / usage.total_bytes, 1)
                            if usage.total_bytes else 0),
        "free_percent": round(100 * usage.free_fraction),
        "low": usage.free_fraction < LOW_DISK,
        "directory": str(request.app[LIBRARY].root),
        "counts": [(tr(label), counts.get(state, 0)) for state, label in RESOURCE_STATES.items()],
    }, title=tr(N_("Library storage")))


def setup(app: web.Application) -> None:
    r = app.router
    item = r"/library/{id:[0-9]{1,9}}"
    r.add_get("/library", catalogue_view)
    r.add_get("/library/storage", storage_view)
    r.add_get(item, player_view)
    r.add_get(item + "/edit", edit_view)
    r.add_post(item + "/edit", update_view)
    r.add_get(item + "/delete", confirm_delete_view)
    r.add_post(item + "/delete", delete_view)
