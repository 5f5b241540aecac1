"""The admin page's "Test" on a Source: a snapshot and what the camera or encoder sends.

RTSP cameras are opened for a few seconds (server/ingest/probe.py); an RTMP encoder is read from
its feed while it pushes to this node; for WHIP the page says whether an encoder publishes now.
The page shows the stream keys, so only those who may change the Source (admins) get it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from aiohttp import web

from ..auth.policy import Kind, can_change
from ..errors import ErrorCode, KelianError
from ..ingest.probe import ProbeError, SourceProbe, probe_feed, probe_rtsp
from ..ingest.rtmp import APP, RTMP
from ..ingest.sessions import INGEST, SessionKind
from ..ingest.standby import STANDBY
from ..keys import SESSIONS, SETTINGS
from ..models import SourceKind
from ..services.records import get_record
from .common import N_, Translate, signed_in_user, translator
from .kinds import ADMIN_KINDS
from .labels import SOURCE_KINDS
from .layout import page
from .lookups import Names

# How the page names codecs PyAV reports; others are shown as PyAV names them.
CODEC_NAMES = {"h264": "H.264", "hevc": "H.265", "mjpeg": "MJPEG", "mpeg4": "MPEG-4",
               "aac": "AAC", "mp3": "MP3", "opus": "Opus", "pcm_alaw": "G.711 A-law",
               "pcm_mulaw": "G.711 µ-law", "adpcm_g726": "G.726"}


@dataclass(frozen=True)
class SourceFacts:
    """What the test page shows: a picture, a facts table, or why there is none."""

    facts: list[tuple[str, str]] = field(default_factory=list)
    snapshot: str | None = None  # a data: URL
    error: str | None = None
    state: str | None = None  # a sentence on an encoder's connection
    address: str | None = None  # where the encoder pushes


def _codec(name: str | None) -> str:
    return CODEC_NAMES.get(name, name.upper()) if name else "—"


def _facts(probe: SourceProbe, tr: Translate) -> SourceFacts:
    size = f"{probe.width} × {probe.height}" if probe.width and probe.height else "—"
    fps = tr(N_("%(fps)s frames/s")) % {"fps": f"{probe.fps:.1f}"} if probe.fps else "—"
    kbps = f"{probe.kbps:,.0f} kbit/s" if probe.kbps else "—"
    audio = _codec(probe.audio) if probe.audio else tr(N_("No audio"))
    snapshot = ("data:image/jpeg;base64," + base64.b64encode(probe.snapshot).decode()
                if probe.snapshot else None)
    return SourceFacts(
        facts=[(tr(N_("Codec")), _codec(probe.video)), (tr(N_("Resolution")), size),
               (tr(N_("Frame rate")), fps), (tr(N_("Bitrate")), kbps),
               (tr(N_("Audio")), audio)],
        snapshot=snapshot,
        error=None if snapshot or probe.video is None
        else tr(N_("The camera sent no picture that could be decoded.")))


def _host(request: web.Request) -> str:
    """The host the admin reached this page at: encoders on the same network reach it too."""
    host = request.url.host or "127.0.0.1"
    return f"[{host}]" if ":" in host else host


async def _rtsp(url: str, tr: Translate) -> SourceFacts:
    try:
        return _facts(await probe_rtsp(url), tr)
    except ProbeError as err:
        return SourceFacts(error=tr(N_("The camera does not answer: %(reason)s"))
                           % {"reason": err})


async def _rtmp(request: web.Request, source_id: int, key: str, tr: Translate) -> SourceFacts:
    port = request.app[SETTINGS].rtmp_port
    listener = request.app.get(RTMP)
    if not port or listener is None:
        return SourceFacts(state=tr(N_("RTMP is turned off on this server (rtmp_port is 0).")))
    address = f"rtmp://{_host(request)}:{port}/{APP}/{key}"
    feed = listener.feeds.get(source_id)
    if feed is None or not feed.connected:
        return SourceFacts(state=tr(N_("The encoder is not connected. Set it to push to:")),
                           address=address)
    try:
        facts = _facts(await probe_feed(feed), tr)
    except ProbeError as err:
        facts = SourceFacts(error=tr(N_("The encoder's picture cannot be read: %(reason)s"))
                            % {"reason": err})
    return SourceFacts(facts=facts.facts, snapshot=facts.snapshot, error=facts.error,
                       state=tr(N_("The encoder is connected and pushing to:")), address=address)


def _whip(request: web.Request, source_id: int, key: str, tr: Translate) -> SourceFacts:
    address = f"{request.scheme}://{request.host}/whip/{key}"
    registry, standby = request.app.get(INGEST), request.app.get(STANDBY)
    principal = f"source:{source_id}"
    if standby is not None and standby.waiting(principal):
        return SourceFacts(state=tr(N_("A WHIP encoder of this source is connected and waits "
                                       "for a lesson of its classroom. It publishes to:")),
                           address=address)
    if registry is not None and registry.active(SessionKind.whip, principal):
        return SourceFacts(state=tr(N_("A WHIP encoder of this source is publishing now to:")),
                           address=address)
    return SourceFacts(state=tr(N_("No WHIP encoder of this source is publishing now. "
                                   "Encoders publish to:")), address=address)


async def probe_source_view(request: web.Request) -> web.StreamResponse:
    who = signed_in_user(request)
    record_id = int(request.match_info["id"])
    ak = ADMIN_KINDS["sources"]
    async with request.app[SESSIONS]() as db:
        source = await get_record(db, who, ak.spec, record_id)
        if not can_change(who, Kind.source, source):
            raise KelianError(ErrorCode.forbidden, f"You may not change this {ak.spec.name}")
        names = await Names.load(db, [source], request.app[SETTINGS].time_zone)
        name, kind, enabled = source.name, source.kind, source.enabled
        url, key = source.url or "", source.stream_key or ""
        classroom = names.classroom(source.classroom_id)
    # The database session is closed: an RTSP test takes seconds.
    tr = translator(request)
    if kind is SourceKind.rtsp:
        result = await _rtsp(url, tr)
    elif kind is SourceKind.rtmp:
        result = await _rtmp(request, record_id, key, tr)
    else:
        result = _whip(request, record_id, key, tr)
    return page(request, "admin/source_test.html", {
        "source_id": record_id,
        "name": name,
        "classroom": classroom,
        "kind_label": tr(SOURCE_KINDS[kind]),
        "enabled": enabled,
        "result": result,
    }, title=tr(N_("Test of “%(name)s”")) % {"name": name})
