"""`/library/upload`: teachers and admins upload a lesson video with its metadata.

The page's script (web/static/library/upload.js) sends the form as a multipart stream with the
CSRF token in its header, shows the upload's progress and answers JSON errors next to the
inputs. The metadata comes before the file in the stream, so a form that cannot be saved is
refused before any of the video arrives; the video goes straight to disk (never into memory),
at most `max_upload_mb` of it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import BodyPartReader, web
from multidict import MultiDict, MultiDictProxy

from ..auth.principal import Principal
from ..errors import ErrorCode, FieldError, KelianError
from ..http import CSRF_HEADER, json_response
from ..keys import JOBS, LIBRARY, SESSIONS, SETTINGS
from ..library.access import can_upload
from ..library.processing import TRANSCODE
from ..library.uploads import (
    MIB,
    VIDEO_SUFFIXES,
    ReceivedFile,
    check_metadata,
    check_room,
    create_uploaded,
    receive,
    too_large,
)
from ..services.records import invalid
from .common import N_, see_other, signed_in_user, translator
from .forms import FormContext, FormState, bind, default_values
from .layout import page
from .library import bytes_label, client_strings, read_resource_form, resource_fields
from .messages import translate_message

FORM_ALLOWANCE = 1 * MIB  # the metadata and multipart framing around the video
MAX_FIELD_BYTES = 20_000


def _forbid_unless_uploader(who: Principal) -> None:
    if not can_upload(who):
        raise KelianError(ErrorCode.forbidden, "Only teachers and admins upload videos")


async def upload_form(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    _forbid_unless_uploader(who)
    async with request.app[SESSIONS]() as db:
        ctx = FormContext(request, db, who)
        fields = resource_fields("create", who)
        bound = await bind(fields, FormState(values=default_values(fields, ctx)), ctx, "create")
    limit = request.app[SETTINGS].max_upload_mb * MIB
    tr = translator(request)
    return page(request, "library/upload.html", {
        "fields": bound,
        "limit_bytes": limit,
        "limit_label": bytes_label(limit),
        "accept": ",".join(["video/*", *sorted(VIDEO_SUFFIXES)]),
        "strings": client_strings(tr),
    }, title=tr(N_("Upload a lesson video")))


async def _field_text(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(8192):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise invalid(part.name or "form", "is too long")
    return data.decode("utf-8", errors="replace")


def _form_error(state: FormState) -> KelianError:
    details = [FieldError(name, message) for name, messages in state.errors.items()
               for message in messages]
    details += [FieldError("form", message) for message in state.general]
    return KelianError(ErrorCode.invalid, "Invalid input", details)


async def _receive_and_create(request: web.Request, who: Principal) -> int:
    _forbid_unless_uploader(who)
    if CSRF_HEADER not in request.headers:  # a plain form post: its body was read already
        raise KelianError(ErrorCode.bad_request, "Uploading needs JavaScript in the browser")
    if request.content_type != "multipart/form-data":
        raise KelianError(ErrorCode.bad_request, "The upload was not a form with a file")
    limit = request.app[SETTINGS].max_upload_mb * MIB
    expected = request.content_length
    if expected is not None and expected > limit + FORM_ALLOWANCE:
        raise too_large(limit)  # before receiving any of it
    storage = request.app[LIBRARY]
    await asyncio.to_thread(check_room, storage, min(expected or 0, limit))
    reader = await request.multipart()
    fields: MultiDict[str] = MultiDict()
    received: ReceivedFile | None = None
    try:
        async with request.app[SESSIONS]() as db:
            ctx = FormContext(request, db, who)
            form_fields = resource_fields("create", who)
            data: dict[str, Any] = {}
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name != "file":
                    fields.add(part.name or "", await _field_text(part))
                    continue
                if received is not None:
                    raise invalid("file", "choose the video file to upload")
                payload, state = await read_resource_form(form_fields, MultiDictProxy(fields),
                                                          ctx, "create")
                if not state.ok:
                    raise _form_error(state)
                data = check_metadata(who, payload)
                received = await receive(part, storage, limit)
            if received is None:
                raise invalid("file", "choose the video file to upload")
            resource = await create_uploaded(db, who, storage, data, received)
    except BaseException:
        if received is not None:  # the Resource was not made: keep nothing of the upload
            storage.remove(received.relative)
        raise
    await request.app[JOBS].notify(TRANSCODE)
    return resource.id


def _json_error(request: web.Request, err: KelianError) -> web.Response:
    tr = translator(request)
    message = (tr(N_("The form was not saved.")) if err.code is ErrorCode.invalid
               else translate_message(tr, err.message))
    details = [{"field": d.field.split(".", 1)[0], "message": translate_message(tr, d.message)}
               for d in err.details]
    return json_response({"error": {"code": err.code.value, "message": message,
                                    "details": details}}, status=err.status)


async def upload(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        resource_id = await _receive_and_create(request, who)
    except KelianError as err:
        if not wants_json:
            raise
        return _json_error(request, err)
    url = f"/library/{resource_id}?notice=uploaded"
    if wants_json:
        return json_response({"id": resource_id, "url": url}, status=201)
    return see_other(url)


def setup(app: web.Application) -> None:
    app.router.add_get("/library/upload", upload_form)
    app.router.add_post("/library/upload", upload)
