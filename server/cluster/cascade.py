"""The cascade: a broadcast with more receivers than one node serves goes on on other nodes.

The node holding the lesson's Room is its origin. When it serves `room_max_receivers`
receivers, further receivers are routed to an edge node (routing.py). The edge opens a Room of
its own for the lesson (no recording: the origin records) in which one participant stands for
the origin: the edge's relay pulls the main programme (the teacher's camera, courseware once
shown, and microphone) from the origin once, over WebRTC through the origin's WHEP code
(`POST /cluster/lessons/{id}/edge`, authenticated with the nodes' shared secret), and forwards
it to its own receivers. Keyframe requests and NACKs of the edge's receivers go up the link as
a player's do.

Questions (the only text a broadcast's classroom sends) keep one list, the origin's: a question
asked on an edge goes to the origin (`POST /cluster/lessons/{id}/questions`), and every
question event of the origin's Room comes back to each edge (`POST …/mirror`; the questions
asked before the edge opened first, then each event in order, tried again while the edge cannot
be reached), which tells its receivers: the teacher sees every classroom's questions, every
classroom the answers.

When the link drops (the origin ended the lesson, drained or died) the edge's Room closes: with
4410 if the lesson ended, else with 4307, and its receivers are routed again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

from aiohttp import ClientError, ClientTimeout, web
from pydantic import TypeAdapter, ValidationError
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from media.interface import MediaError, SourceLabel

from ..ingest.common import IngestError, bearer, endpoint, offered_media, read_sdp
from ..ingest.sessions import INGEST
from ..ingest.whep import attach_player
from ..keys import LIVE, PLACEMENT, SESSIONS
from ..live import actions
from ..live.lessons import LiveLessons
from ..live.participant import Participant
from ..live.room import LessonInfo, LiveRoom
from ..live.rules import Action, ParticipantRole
from ..models import Lesson, LessonStatus
from ..signalling import schema as wire
from ..signalling.codes import CloseCode, LeaveReason, NoticeCode, SignalError, SignalErrorCode
from ..signalling.schema import MAX_TEXT
from .routing import Placement

log = logging.getLogger("kelian.cluster.cascade")

NODE_HEADER = "X-Kelian-Node"  # the node asking, for the logs and the participant's name
# The main programme, as WHEP plays it: camera, courseware (only once shown), microphone.
PULLED = [SourceLabel.camera, SourceLabel.screen, SourceLabel.microphone]
LINK_TIMEOUT_S = 10.0
MIRROR_RETRY_S = (0.5, 1.0, 2.0, 4.0)  # then the edge is taken as gone (its link fails too)
MAX_NODE_JSON = 16 * 1024
_QUESTION_EVENT: TypeAdapter[actions.QuestionEvent] = TypeAdapter(actions.QuestionEvent)


# The origin's side -----------------------------------------------------------------------------


@endpoint
async def serve_edge(request: web.Request) -> web.StreamResponse:
    """An edge node's receive-only offer: answered as a WHEP player's, with the programme."""
    placement, room = await _node_room(request, edge=False)
    node = request.headers.get(NODE_HEADER, "?")[:200]
    offer = await read_sdp(request)
    offered_media(offer, publishing=False)
    edge_url = next((n.url for n in await placement.registry.nodes() if n.node_id == node), None)
    if edge_url is None:
        raise IngestError(403, f"no live node {node!r} in the registry")
    # An inspector's seat: unlisted, it receives what it is given (the programme).
    session, answer = await attach_player(request.app[INGEST], room, f"node:{node}",
                                          f"edge {node}", ParticipantRole.inspector, None, offer,
                                          identity=f"edge:{node}")
    relay = _QuestionRelay(placement, edge_url, room.lesson.lesson_id,
                           room.questions.values())
    session.relay, session.on_end = relay, relay.end
    request.app[EDGES].spawn(relay.run())
    log.info("lesson %d: edge node %s pulls the programme", room.lesson.lesson_id, node,
             extra={"lesson_id": room.lesson.lesson_id, "node": node,
                    "session": session.resource_id})
    return web.Response(status=201, text=answer, content_type="application/sdp")


async def _node_room(request: web.Request, edge: bool) -> tuple[Placement, LiveRoom]:
    """A request another node makes (it shows the nodes' secret), and the Room it is about:
    held here, or (`edge`) this node's edge of it."""
    placement = request.app.get(PLACEMENT)
    if placement is None or not await placement.is_node(bearer(request)):
        raise IngestError(401, "only the nodes of this deployment ask this")
    raw = request.match_info["lesson_id"]
    room = request.app[LIVE].get(int(raw)) if raw.isdigit() and len(raw) < 19 else None
    if room is None or room.edge is not edge:
        raise IngestError(404, "this node does not hold that lesson"
                          if not edge else "this node is no edge of that lesson")
    return placement, room


async def _node_request(request: web.Request, edge: bool) -> tuple[LiveRoom, dict[str, Any]]:
    """The Room a node's JSON request is about, and the request's JSON object."""
    _, room = await _node_room(request, edge)
    if (request.content_length or 0) > MAX_NODE_JSON:
        raise IngestError(413, "too large")
    try:
        body = json.loads(await request.text())
    except ValueError:
        raise IngestError(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise IngestError(400, "the body is not a JSON object")
    return room, body


@endpoint
async def edge_question(request: web.Request) -> web.StreamResponse:
    """A question asked on an edge (its node checked the rules): asked here, for everyone."""
    room, body = await _node_request(request, edge=False)
    name, text, classroom = body.get("name"), body.get("text"), body.get("classroom")
    if not isinstance(name, str) or not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT \
            or not isinstance(classroom, str | None):
        raise IngestError(400, "a question needs a name and a text of 1 to 500 characters")
    question_id = actions.ask_for(room, f"edge:{body.get('participant_id', '?')}"[:64],
                                  name[:100], classroom[:200] if classroom else None, text)
    return web.json_response({"question_id": question_id}, status=201)


@endpoint
async def mirror(request: web.Request) -> web.StreamResponse:
    """A question event of the origin's Room, for this edge's receivers."""
    room, body = await _node_request(request, edge=True)
    try:
        event = _QUESTION_EVENT.validate_python(body)
    except ValidationError as err:
        raise IngestError(400, f"not a question event: {err.error_count()} error(s)") from None
    actions.mirror_question(room, event)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_post("/cluster/lessons/{lesson_id}/edge", serve_edge)
    app.router.add_post("/cluster/lessons/{lesson_id}/questions", edge_question)
    app.router.add_post("/cluster/lessons/{lesson_id}/mirror", mirror)


class _QuestionRelay:
    """On the origin, an edge's link participant's events: question events go to the edge, the
    questions asked before it came first, one at a time in order, each tried again a few times
    while the edge cannot be reached (a moment's outage must not cost its receivers a
    question). Runs until the link's Session ends."""

    def __init__(self, placement: Placement, edge_url: str, lesson_id: int,
                 questions: Iterable[wire.QuestionOut]):
        self.placement, self.edge_url, self.lesson_id = placement, edge_url, lesson_id
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        for question in questions:
            self._queue.put_nowait(wire.to_wire(wire.QuestionAsked(question=question)))

    def __call__(self, event: wire.Event) -> None:
        if isinstance(event, actions.QuestionEvent):
            self._queue.put_nowait(wire.to_wire(event))

    async def end(self, _session: object, _reason: LeaveReason) -> None:
        self._queue.put_nowait(None)

    async def run(self) -> None:
        while (body := await self._queue.get()) is not None:
            for delay in (*MIRROR_RETRY_S, None):
                if await self._post(body) or delay is None:
                    break
                await asyncio.sleep(delay)

    async def _post(self, body: str) -> bool:
        """True when done with the event: taken, or refused for good (the edge has no such
        Room any more, or finds it garbled)."""
        try:
            async with self.placement.http.post(
                    f"{self.edge_url}/cluster/lessons/{self.lesson_id}/mirror", data=body,
                    headers={**await self.placement.node_headers(),
                             "Content-Type": "application/json"},
                    timeout=ClientTimeout(total=LINK_TIMEOUT_S)) as response:
                if response.status == 204:
                    return True
                log.warning("lesson %d: the edge at %s refused a question event: %s",
                            self.lesson_id, self.edge_url, (await response.text())[:200])
                return response.status < 500
        except (ClientError, OSError, TimeoutError, RedisError) as exc:
            log.warning("lesson %d: a question event did not reach the edge at %s: %r",
                        self.lesson_id, self.edge_url, exc)
            return False


# The edge's side -------------------------------------------------------------------------------


class _OriginLink:
    """The Outbox of the participant standing for the origin: its link dropping ends the edge's
    Room (the relay tells it `transport_failed`)."""

    def __init__(self, edges: Edges, lesson_id: int):
        self.edges = edges
        self.lesson_id = lesson_id

    def send(self, message: wire.Ok | wire.Error | wire.Event) -> None:
        if isinstance(message, wire.Notice) and message.code is NoticeCode.transport_failed:
            self.edges.spawn(self.edges.lost(self.lesson_id))

    def close(self, code: CloseCode, reason: LeaveReason) -> None:
        pass


class Edges:
    """This node's edge Rooms."""

    def __init__(self, app: web.Application, placement: Placement):
        self.app = app
        self.placement = placement
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._origins: dict[int, str] = {}  # lesson id -> its origin's URL

    @property
    def live(self) -> LiveLessons:
        return self.app[LIVE]

    async def ensure(self, lesson: LessonInfo) -> LiveRoom:
        """The lesson's Room on this node, opened as an edge of its origin if need be."""
        async with self._lock:
            room = self.live.get(lesson.lesson_id)
            if room is not None:
                return room
            origin = await self.placement.registry.where(lesson.lesson_id)
            if origin is None or origin.node_id == self.placement.node_id:
                return await self.live.ensure(lesson)  # its origin is gone: this node is it
            room = await self.live.ensure(lesson, edge=True)
            self._origins[lesson.lesson_id] = origin.url
            try:
                await self._pull(room, origin.url)
            except BaseException:
                await self.live.move_away([lesson.lesson_id], let_go=False)
                raise
            log.info("lesson %d: edge of node %s", lesson.lesson_id, origin.node_id,
                     extra={"lesson_id": lesson.lesson_id, "origin": origin.node_id})
            return room

    async def _pull(self, room: LiveRoom, origin_url: str) -> None:
        lesson_id = room.lesson.lesson_id
        async with self.app[SESSIONS]() as db:
            lesson = await db.scalar(select(Lesson).where(Lesson.id == lesson_id)
                                     .options(selectinload(Lesson.teacher)))
            teacher = lesson.teacher.display_name if lesson is not None else "?"
        # It stands for the teacher, a person: shown by name, as on the origin.
        origin = Participant(identity=f"origin:{lesson_id}", name=teacher,
                             role=ParticipantRole.host, classroom=None,
                             outbox=_OriginLink(self, lesson_id), reception=frozenset)
        await room.join(origin)
        try:
            offer = await room.media.pull(origin.participant_id, PULLED)
            async with self.placement.http.post(
                    f"{origin_url}/cluster/lessons/{lesson_id}/edge", data=offer,
                    headers={**await self.placement.node_headers(),
                             "Content-Type": "application/sdp",
                             NODE_HEADER: self.placement.node_id},
                    timeout=ClientTimeout(total=LINK_TIMEOUT_S)) as response:
                answer = await response.text()
                if response.status != 201:
                    raise SignalError(SignalErrorCode.lesson_not_live,
                                      f"the lesson's origin refused the edge: {answer[:200]}")
            await room.media.pull_answer(origin.participant_id, answer)
        except (ClientError, OSError, TimeoutError, MediaError) as exc:
            raise SignalError(SignalErrorCode.media_failed,
                              f"the lesson's origin cannot be reached: {exc!r}") from None

    async def ask(self, room: LiveRoom, asker: Participant, text: str) -> str:
        """A question asked here goes to the origin, which tells everyone (this edge's
        receivers too, through `mirror`); its id there."""
        actions.require(room, asker, Action.ask_question, "ask questions")
        origin = self._origins.get(room.lesson.lesson_id)
        if origin is None:
            raise SignalError(SignalErrorCode.lesson_not_live, "The lesson's origin is gone")
        try:
            async with self.placement.http.post(
                    f"{origin}/cluster/lessons/{room.lesson.lesson_id}/questions",
                    json={"participant_id": asker.participant_id, "name": asker.name,
                          "classroom": asker.classroom, "text": text},
                    headers=await self.placement.node_headers(),
                    timeout=ClientTimeout(total=LINK_TIMEOUT_S)) as response:
                if response.status != 201:
                    raise SignalError(SignalErrorCode.internal, "The question was not taken: "
                                      + (await response.text())[:200])
                return str((await response.json())["question_id"])
        except (ClientError, OSError, TimeoutError, RedisError, ValueError, KeyError) as exc:
            raise SignalError(SignalErrorCode.internal,
                              f"The question did not reach the lesson: {exc!r}") from None

    async def lost(self, lesson_id: int) -> None:
        """The link to the origin dropped: end the edge Room, for good if the lesson ended."""
        room = self.live.get(lesson_id)
        if room is None or not room.edge:
            return
        async with self.app[SESSIONS]() as db:
            status = await db.scalar(select(Lesson.status).where(Lesson.id == lesson_id))
        if status is LessonStatus.live:
            log.info("lesson %d: the origin's link dropped; receivers go elsewhere", lesson_id)
            await self.live.move_away([lesson_id], let_go=False)
        else:
            await self.live.end(lesson_id, here_only=True)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


EDGES = web.AppKey("edges", Edges)  # this node's cascade edges; absent without Redis
