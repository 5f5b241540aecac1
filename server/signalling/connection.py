"""One signalling socket: its credentials, its read loop, its bounded outbox, its closing.

Reading: every text frame is rate-limited, parsed, checked against the schema and handed to
the dispatch table; whatever goes wrong is answered with an `error` (the socket stays open),
except floods (4429) and oversized frames (1009, by aiohttp). Writing: one writer task drains
a bounded queue; a client that lets it fill up is closed (4408) instead of buffered without
bound. The socket leaves its Room in every case (left, closed, heartbeat missed, replaced).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from pydantic import TypeAdapter, ValidationError
from redis.exceptions import RedisError

from .. import audit
from ..audit import AuditTag
from ..auth.principal import ANONYMOUS, Principal
from ..errors import ErrorCode, KelianError
from ..http import principal
from ..ingest.sessions import INGEST
from ..keys import PLACEMENT, SESSIONS
from ..live.participant import Participant
from ..live.room import LiveRoom
from ..live.rules import ParticipantRole
from .codes import CloseCode, LeaveReason, SignalError, SignalErrorCode
from .forward import (
    SECRET_HEADER,
    SERVE_HEADER,
    ForwardFailed,
    Upstream,
    is_forwarded_auth_reply,
)
from .handlers import HANDLERS
from .limits import LIMITS, Limits
from .ratelimit import TokenBucket
from .schema import CLIENT_TYPES, VERSION, ClientMessage, Error, Event, Ok, to_wire

if TYPE_CHECKING:
    from ..cluster.load import NodeLoad

log = logging.getLogger("kelian.signalling")

_CLIENT_MESSAGE: TypeAdapter[Any] = TypeAdapter(ClientMessage)
_SERVICE_CODES = {
    ErrorCode.unauthenticated: SignalErrorCode.unauthenticated,
    ErrorCode.forbidden: SignalErrorCode.forbidden,
    ErrorCode.not_found: SignalErrorCode.not_found,
    ErrorCode.conflict: SignalErrorCode.lesson_not_live,  # the lesson is not live any more
}


class Closing(NamedTuple):
    code: CloseCode
    reason: str


class Sockets:
    """The open signalling sockets of this app, closed with GOING_AWAY on shutdown."""

    def __init__(self) -> None:
        self.open: set[Connection] = set()
        self.closing: set[asyncio.Task[None]] = set()  # connections leaving their Rooms

    async def close_all(self) -> None:
        connections = list(self.open)
        self.close_all_now(CloseCode.going_away, LeaveReason.shutdown)
        patience = max((c.limits.close_timeout_s for c in connections), default=0) + 2
        deadline = asyncio.get_running_loop().time() + patience
        while (self.open or self.closing) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)

    def close_all_now(self, code: CloseCode, reason: LeaveReason) -> int:
        """Close every open socket with `code` (the node drains: 4307). Returns how many."""
        connections = list(self.open)
        for connection in connections:
            connection.close(code, reason)
        return len(connections)

    def revoke(self, audit_name: str) -> int:
        """That principal's credentials no longer hold (a terminal token revoked or reissued, an
        account disabled or deleted): close its sockets now with 4401, which ends their part in
        any Room. Returns how many were open."""
        found = [c for c in self.open if c.principal.audit_name == audit_name]
        for connection in found:
            connection.close(CloseCode.unauthenticated, LeaveReason.revoked)
        if found:
            log.info("%s: credentials revoked; %d socket(s) closed", audit_name, len(found))
        return len(found)


SOCKETS = web.AppKey("signalling_sockets", Sockets)


def revoke_principal(app: web.Application, kind: str, record_id: int) -> None:
    """After a user, terminal or source was deleted, disabled or had its token changed."""
    if kind in ("user", "terminal"):
        app[SOCKETS].revoke(f"{kind}:{record_id}")
    if kind in ("user", "terminal", "source") and INGEST in app:  # WHIP and WHEP sessions
        app[INGEST].revoke(f"{kind}:{record_id}")


def _request_id(raw: dict[str, Any]) -> int | str | None:
    rid = raw.get("id")
    if isinstance(rid, bool) or not isinstance(rid, int | str):
        return None
    if isinstance(rid, str) and len(rid) > 64 or isinstance(rid, int) and not 0 <= rid <= 2**53:
        return None
    return rid


def _summary(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in e["loc"][1:]) or "message"  # loc[0] is the type tag
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


class Connection:
    """One participant's socket; also its Room's `Outbox`."""

    def __init__(self, app: web.Application, ws: web.WebSocketResponse, who: Principal,
                 limits: Limits, peer: str, transport: asyncio.Transport | None = None,
                 credentials: Mapping[str, str] | None = None):
        self.app = app
        # Forwarded to the node holding the lesson, when that is another node (forward.py).
        self.credentials = dict(credentials or {})  # Cookie, Origin, Host of a browser
        self.auth_text: str | None = None  # the client's accepted `auth` message
        self.current_text = ""  # the message being handled
        self.upstream: Upstream | None = None
        self.routed: str | None = None  # "origin" or "edge": another node sent it here as that
        self.counted: int | None = None  # the broadcast whose receivers here count it (cascade)
        self._pump: asyncio.Task[None] | None = None
        self.transport = transport
        self.sockets = app[SOCKETS]
        self.ws = ws
        self.principal = who
        self.limits = limits
        self.peer = peer
        self.room: LiveRoom | None = None
        self.participant: Participant | None = None
        self._queue: asyncio.Queue[str | Closing] = asyncio.Queue()
        self._bucket = TokenBucket(limits.rate_per_s, limits.burst)
        self._closing: Closing | None = None
        self._leave_reason = LeaveReason.disconnected
        self._auth_sent = False
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    # Outbox ------------------------------------------------------------------------------------

    def send(self, message: Ok | Error | Event) -> None:
        self._enqueue(to_wire(message))

    def _enqueue(self, text: str) -> bool:
        """False when the socket is closing, or now closes because the client is too slow."""
        if self._closing is not None:
            return False
        if self._queue.qsize() >= self.limits.outbox_size:
            log.warning("%s: %d messages unread; closing a slow client", self.who,
                        self._queue.qsize())
            self._abort(CloseCode.slow_client, LeaveReason.slow_client)
            return False
        self._queue.put_nowait(text)
        return True

    def close(self, code: CloseCode, reason: LeaveReason) -> None:
        """Flush what is queued, then close with `code` (from the Room or the server)."""
        self._leave_reason = reason
        self._close(code, reason.value)

    def _close(self, code: CloseCode, reason: str) -> None:
        if self._closing is None:
            self._closing = Closing(code, reason)
            self._queue.put_nowait(self._closing)

    def _abort(self, code: CloseCode, reason: LeaveReason) -> None:
        """Close now without flushing: the client is not reading."""
        self._leave_reason = reason
        self._closing = Closing(code, reason.value)
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.create_task(self._close_stuck(self._closing))

    async def _close_stuck(self, closing: Closing) -> None:
        """The close frame waits behind unread data: give the client `close_timeout_s` to read
        up to it, then drop the TCP connection (asyncio would keep it to flush forever)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.close_timeout_s
        try:
            await asyncio.wait_for(self._close_socket(closing, drain=False),
                                   self.limits.close_timeout_s)
        except TimeoutError:
            pass
        transport = self.transport
        if transport is None:
            return
        while transport.get_write_buffer_size() and loop.time() < deadline:
            await asyncio.sleep(0.05)  # the client may still read up to the close frame
        transport.abort()

    async def _close_socket(self, closing: Closing, drain: bool = True) -> None:
        try:
            await self.ws.close(code=closing.code, message=closing.reason.encode(), drain=drain)
        except (ConnectionError, RuntimeError):
            pass

    async def _write(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, Closing):
                    await self._close_socket(item)
                    return
                await self.ws.send_str(item)
        except (ConnectionError, RuntimeError) as exc:  # the socket went away under us
            log.debug("%s: writing failed: %r", self.who, exc)

    # Reading -----------------------------------------------------------------------------------

    @property
    def who(self) -> str:
        pid = self.participant.participant_id if self.participant else "-"
        return f"{self.peer} {self.principal.audit_name} {pid}"

    def reply(self, request_id: int | str | None, reply: Ok | None) -> None:
        if reply is not None:
            self.send(reply.model_copy(update={"id": request_id}))

    def fail(self, request_id: int | str | None, code: SignalErrorCode, message: str) -> None:
        log.info("%s: %s: %s", self.who, code.value, message)
        self.send(Error(id=request_id, code=code, message=message))

    async def run(self) -> None:
        self._writer = asyncio.create_task(self._write())
        timer = None
        if not self.principal.is_authenticated:
            timer = asyncio.get_running_loop().call_later(self.limits.auth_timeout_s,
                                                          self._auth_expired)
        try:
            async for frame in self.ws:
                if self._closing is not None:
                    break
                if frame.type is WSMsgType.TEXT:
                    await self._on_text(frame.data)
                    # Frames already buffered are read without yielding; let the writers
                    # (this socket's and the Room's others) send what this one caused.
                    await asyncio.sleep(0)
                elif frame.type is WSMsgType.BINARY:
                    self.fail(None, SignalErrorCode.bad_request,
                              "Binary frames are not accepted; send JSON text")
                elif frame.type is WSMsgType.ERROR:
                    log.info("%s: socket error: %r", self.who, frame.data)
        finally:
            if timer is not None:
                timer.cancel()
            # The handler task may be cancelled when the client goes (aiohttp's
            # handler_cancellation); leaving the Room must happen all the same.
            cleanup = asyncio.create_task(self._cleanup())
            self.sockets.closing.add(cleanup)
            cleanup.add_done_callback(self.sockets.closing.discard)
            await asyncio.shield(cleanup)

    async def _cleanup(self) -> None:
        if self.upstream is not None:
            await self.upstream.close()
        if self._pump is not None:
            await asyncio.gather(self._pump, return_exceptions=True)
        try:
            await self._leave(self._leave_reason)
        except Exception:
            log.exception("%s: leaving the room failed", self.who)
        await self._finish_writing()
        self.sockets.open.discard(self)

    def _auth_expired(self) -> None:
        if not self.principal.is_authenticated and not self._auth_sent and self._closing is None:
            self.fail(None, SignalErrorCode.unauthenticated,
                      f"Authenticate within {self.limits.auth_timeout_s:g} s: "
                      "send {\"type\": \"auth\", \"token\": ...}")
            self._close(CloseCode.unauthenticated, "unauthenticated")

    async def _on_text(self, text: str) -> None:
        if not self._bucket.take():
            self.fail(None, SignalErrorCode.throttled,
                      f"More than {self.limits.rate_per_s:g} messages per second; closing")
            self._leave_reason = LeaveReason.flood
            self._close(CloseCode.flood, "flood")
            return
        if self.upstream is not None:  # the node holding the lesson reads it
            await self.upstream.send(text)
            return
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError):
            self.fail(None, SignalErrorCode.bad_json, "The message is not valid JSON")
            return
        if not isinstance(raw, dict):
            self.fail(None, SignalErrorCode.bad_request, "A message is a JSON object")
            return
        rid = _request_id(raw)
        kind = raw.get("type")
        if raw.get("v") != VERSION:
            self.fail(rid, SignalErrorCode.unsupported_version,
                      f"This server speaks version {VERSION}: send \"v\": {VERSION}")
            return
        if not isinstance(kind, str):
            self.fail(rid, SignalErrorCode.bad_request, "A message needs a string \"type\"")
            return
        if kind not in CLIENT_TYPES:
            self.fail(rid, SignalErrorCode.unknown_type,
                      f"Unknown message type {kind[:40]!r}; see docs/signalling.md")
            return
        if not self.principal.is_authenticated and kind != "auth":
            self.fail(rid, SignalErrorCode.unauthenticated, "Send \"auth\" first")
            self._close(CloseCode.unauthenticated, "unauthenticated")
            return
        self._auth_sent = self._auth_sent or kind == "auth"  # in time, however long checking takes
        try:
            message = _CLIENT_MESSAGE.validate_python(raw)
        except ValidationError as err:
            self.fail(rid, SignalErrorCode.invalid, f"Invalid {kind}: {_summary(err)}")
            return
        self.current_text = text
        try:
            self.reply(rid, await HANDLERS[kind](self, message))
            if kind == "auth":
                self.auth_text = text
        except SignalError as err:
            self.fail(rid, err.code, err.message)
        except KelianError as err:  # from the services (lesson.end)
            self.fail(rid, _SERVICE_CODES.get(err.code, SignalErrorCode.internal), err.message)
        except Exception:
            log.exception("%s: %s failed", self.who, kind)
            self.fail(rid, SignalErrorCode.internal, "Internal server error")
        if not self.principal.is_authenticated and self._closing is None:  # a failed auth
            self._close(CloseCode.unauthenticated, "unauthenticated")

    # Forwarding --------------------------------------------------------------------------------

    async def forward(self, node: NodeLoad, edge: bool = False) -> bool:
        """Make this socket a pipe to `node`, which holds the lesson this `join` asks for; it
        answers the join. If that node cannot be reached (False), close with 1001: the client
        comes back, and by then the lesson may be placed on a live node."""
        placement = self.app[PLACEMENT]
        headers = dict(self.credentials)
        try:
            headers[SECRET_HEADER] = await placement.secret()  # served there, not routed again
            headers[SERVE_HEADER] = "edge" if edge else "origin"
            self.upstream = await Upstream.open(
                placement.http, node.node_id, node.url, headers, self.auth_text,
                self.current_text, self.limits.max_message_bytes)
        except (ForwardFailed, RedisError, OSError) as err:
            log.warning("%s: cannot reach the lesson's node: %s", self.who, err)
            self._close(CloseCode.going_away, "the lesson's node is unreachable")
            return False
        log.info("%s: forwarded to node %s", self.who, node.node_id)
        self._pump = asyncio.create_task(self._from_upstream(self.upstream))
        return True

    async def _from_upstream(self, upstream: Upstream) -> None:
        def deliver(text: str) -> bool:
            ours, ok = is_forwarded_auth_reply(text)
            if not ours:
                return self._enqueue(text)
            if not ok:  # valid here, refused there: the credentials were revoked meanwhile
                self._close(CloseCode.unauthenticated, "unauthenticated")
            return ok

        code = await upstream.pump(deliver)
        self._close(code, "closed by the lesson's node")

    # Leaving -----------------------------------------------------------------------------------

    async def _leave(self, reason: LeaveReason) -> None:
        room, participant = self.room, self.participant
        self.room = self.participant = None
        if room is None or participant is None:
            return
        await room.leave(participant.participant_id, reason)
        placement = self.app.get(PLACEMENT)
        if self.counted is not None and placement is not None:
            await placement.uncount(self.counted, placement.node_id)
        if participant.role is ParticipantRole.inspector:
            async with self.app[SESSIONS]() as db:
                audit.record(db, AuditTag.inspection_ended, self.principal,
                             f"lesson:{room.lesson.lesson_id}", reason=reason.value)
                await db.commit()

    async def _finish_writing(self) -> None:
        if self._closing is None:
            self._close(CloseCode.normal, "closed")
        tasks = [t for t in (self._writer, self._closer) if t is not None]
        _, stuck = await asyncio.wait(tasks, timeout=self.limits.close_timeout_s + 1)
        for task in stuck:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not self.ws.closed:
            await self._close_socket(self._closing or Closing(CloseCode.normal, "closed"), False)
        if stuck and self.transport is not None:
            self.transport.abort()  # a client that reads nothing would hold the socket forever


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return bool(origin) and urlsplit(origin).netloc.lower() == request.host.lower()


async def handle(request: web.Request) -> web.StreamResponse:
    """GET /ws: upgrade, then serve one participant until either side closes."""
    who = principal(request)
    if who.via_cookie:
        if "Origin" in request.headers and not _same_origin(request):
            raise KelianError(ErrorCode.forbidden, "A signalling socket must come from this site")
        if not _same_origin(request):
            who = ANONYMOUS  # no Origin: not a browser, so it authenticates with a token
    limits = request.app[LIMITS]
    ws = web.WebSocketResponse(max_msg_size=limits.max_message_bytes,
                               heartbeat=limits.heartbeat_s, timeout=limits.close_timeout_s)
    await ws.prepare(request)
    credentials = {name: request.headers[name] for name in ("Cookie", "Origin", "Host")
                   if who.via_cookie and name in request.headers}
    connection = Connection(request.app, ws, who, limits, request.remote or "?",
                            request.transport, credentials)  # type: ignore[arg-type]
    placement = request.app.get(PLACEMENT)
    serve = request.headers.get(SERVE_HEADER)
    if placement is not None and serve in ("origin", "edge") \
            and await placement.is_node(request.headers.get(SECRET_HEADER)):
        connection.routed = serve
    request.app[SOCKETS].open.add(connection)  # until it has left its Room and closed
    await connection.run()
    return ws


async def _close_sockets(app: web.Application) -> None:
    await app[SOCKETS].close_all()


def setup(app: web.Application) -> None:
    app[LIMITS] = Limits()  # tests may replace it before the app starts
    app[SOCKETS] = Sockets()
    app.router.add_get("/ws", handle, name="signalling")
    app.on_shutdown.append(_close_sockets)
