"""HTTP plumbing shared by the WHIP and WHEP endpoints: CORS, SDP bodies, plain-text errors.

Encoders, players and browser pages on other origins call these endpoints, so every answer
(errors too) carries the CORS headers RFC 9725 asks for, and errors are short plain text an
encoder's log can show.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from ..keys import SETTINGS
from ..live.ice import ice_links, ice_servers
from ..signalling.codes import SignalError, SignalErrorCode
from .sdp import MediaSection, media_sections

SDP = "application/sdp"
TRICKLE_SDPFRAG = "application/trickle-ice-sdpfrag"
MAX_SDP_BYTES = 64 * 1024  # real offers are a few kilobytes; simulcast with many codecs ~20 KB

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Accept-Patch, Accept-Post",
}
ALLOW_HEADERS = "Authorization, Content-Type, If-Match"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class IngestError(Exception):
    """Refuse the request with `status` and a one-line reason."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


_SIGNAL_STATUS = {
    SignalErrorCode.bad_sdp: 400,
    SignalErrorCode.media_failed: 400,  # e.g. no codec the relay can forward
    SignalErrorCode.unauthenticated: 401,
    SignalErrorCode.forbidden: 403,  # the lesson-kind rules
    SignalErrorCode.not_found: 404,
    SignalErrorCode.lesson_not_live: 409,
    SignalErrorCode.not_joined: 409,  # the lesson ended meanwhile
}


def signal_status(err: SignalError) -> tuple[int, str]:
    """The HTTP status and message of a refusal by the live Room or the admission rules."""
    return _SIGNAL_STATUS.get(err.code, 500), err.message


def unauthorized(message: str) -> IngestError:
    return IngestError(401, message, {"WWW-Authenticate": 'Bearer realm="kelian"'})


def reply(status: int, text: str | None = None, headers: Mapping[str, str] | None = None,
          content_type: str = "text/plain") -> web.Response:
    return web.Response(status=status, text=text, content_type=content_type if text else None,
                        charset="utf-8" if text and content_type == "text/plain" else None,
                        headers={**CORS, **(headers or {})})


def endpoint(handler: Handler) -> Handler:
    """Answer an `IngestError` as plain text with the CORS headers."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except IngestError as err:
            return reply(err.status, err.message + "\n", err.headers)
    return wrapped


def preflight(methods: str, extra: Mapping[str, str] | None = None) -> Handler:
    """The OPTIONS answer: CORS preflight for pages on other origins, and what the path takes."""
    async def options(request: web.Request) -> web.StreamResponse:
        return reply(204, headers={
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "86400",
            "Allow": methods,
            **(extra or {}),
        })
    return options


def bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def offered_media(offer: str, publishing: bool) -> list[MediaSection]:
    """The offer's media sections; 400 when it is malformed, or when nothing in it goes the way
    the endpoint needs (sent by a WHIP publisher, received by a WHEP player)."""
    try:
        sections = media_sections(offer)
    except ValueError as err:
        raise IngestError(400, f"malformed SDP offer: {err}") from None
    if publishing and not any(section.sends for section in sections):
        raise IngestError(400, "the offer sends no audio or video (its m-lines must be "
                               "sendonly)")
    if not publishing and not any(section.receives for section in sections):
        raise IngestError(400, "the offer receives no audio or video (its m-lines must be "
                               "recvonly)")
    return sections


async def read_sdp(request: web.Request) -> str:
    """The request's SDP offer: 415 for another content type, 413 over the limit, 400 if it
    is not UTF-8 text."""
    if request.content_type != SDP:
        raise IngestError(415, f"the body must be {SDP}, not {request.content_type or 'empty'}",
                          {"Accept-Post": SDP})
    if request.content_length is not None and request.content_length > MAX_SDP_BYTES:
        raise IngestError(413, f"the offer is over {MAX_SDP_BYTES} bytes")
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > MAX_SDP_BYTES:
            raise IngestError(413, f"the offer is over {MAX_SDP_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise IngestError(400, "the offer is not UTF-8 text") from None


def created(answer_sdp: str, location: str, etag: str, links: Sequence[str] = ()) -> web.Response:
    """201 with the relay's answer, where the session lives, its entity tag and ICE servers."""
    headers = {"Location": location, "ETag": etag}
    if links:
        headers["Link"] = ", ".join(links)
    return reply(201, answer_sdp, headers, content_type=SDP)


def ice_server_links(request: web.Request, identity: str) -> list[str]:
    """RFC 9725 §4.6 `Link` values: the configured STUN/TURN servers, with `identity`'s own
    TURN credentials, for a client behind a firewall (empty on a plain LAN)."""
    return ice_links(ice_servers(request.app[SETTINGS], identity))


def patch_not_supported(request: web.Request) -> web.Response:
    """Neither trickle ICE nor ICE restarts: RFC 9725 answers such a session's PATCH with 405.
    Our answers carry every candidate the relay has, and clients re-POST to reconnect."""
    return reply(405, "trickle ICE and ICE restarts are not supported; send every candidate "
                      "in the offer, and POST again to reconnect\n",
                 {"Allow": "DELETE, OPTIONS"})
