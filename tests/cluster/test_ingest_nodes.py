"""Classroom encoders and players with two real nodes (shared PostgreSQL and Redis): a WHIP
encoder waiting on one node gets its classroom's lesson placed there when the lesson starts
through the other node; WHIP and WHEP requests reaching the node that does not hold the lesson
are passed to the one that does, and so are their DELETEs. Real aiortc peers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiortc import RTCPeerConnection, RTCSessionDescription
from redis.asyncio import Redis

from loadtest.api import Api, lesson_times, sign_in
from loadtest.kelian import KelianServer, Target
from loadtest.seed import admin_token
from tests.ingest.conftest import received_packets, sdp_headers, whep_offer, whip_offer

from .nodes import Member, node_cluster, node_id, placed, print_state
from .test_nodes import _until

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]


@pytest.fixture
async def two_nodes(db_url: str, redis_url: str, tmp_path: Path
                    ) -> AsyncIterator[tuple[list[KelianServer], str, str]]:
    async with node_cluster(2, db_url, redis_url, tmp_path) as cluster:
        yield cluster


PASSWORD = "teacher-pass-123"


@dataclass(frozen=True)
class Seeded:
    hub: int  # the hub school
    hub_room: int
    point_room: int
    point_camera: dict[str, Any]  # the teaching point's WHIP Source, with its stream key
    lesson_id: int  # a dedicated lesson from hub_room to point_room, not started
    teacher: str  # its teacher's user name (password PASSWORD)


async def _seed(api: Api, tag: str) -> Seeded:
    hub = await api.create("schools", name=f"{tag} 中心校", kind="hub", county="测试县")
    point = await api.create("schools", name=f"{tag} 教学点", kind="teaching_point",
                             county="测试县")
    hub_room = await api.create("classrooms", school_id=hub, name="直播教室")
    point_room = await api.create("classrooms", school_id=point, name="教学点教室")
    point_camera = await api.call("POST", "sources", {
        "classroom_id": point_room, "name": "教学点编码器", "kind": "whip",
        "role": "students"}, 201)
    teacher = await api.create("users", username=f"{tag}-teacher", display_name="老师",
                               role="teacher", password=PASSWORD, school_id=hub)
    lesson_id = await api.create("lessons", title="编码器课", kind="dedicated",
                                 host_classroom_id=hub_room, teacher_id=teacher,
                                 linked_classroom_ids=[point_room], **lesson_times())
    return Seeded(hub, hub_room, point_room, point_camera, lesson_id, f"{tag}-teacher")


async def _post(http: ClientSession, url: str, pc: RTCPeerConnection, token: str
                ) -> tuple[int, str, str]:
    """POST the peer's offer; on 201 apply the answer. Status, Location and body."""
    async with http.post(url, data=pc.localDescription.sdp,
                         headers=sdp_headers(token)) as response:
        body = await response.text()
        location = response.headers.get("Location", "")
        assert response.headers.get("Access-Control-Allow-Origin") == "*"
    if response.status == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    return response.status, location, body


async def test_encoders_and_players_reach_the_lesson_through_either_node(
        two_nodes: tuple[list[KelianServer], str, str], loopback_peers: None) -> None:
    nodes, url, prefix = two_nodes
    first, second = nodes
    redis = Redis.from_url(url)
    target = Target(first.target.url, first.target.admin_password)
    async with Api(first.target.url, await admin_token(target)) as api:
        seeded = await _seed(api, "ingest")
        hub, hub_room, point_room = seeded.hub, seeded.hub_room, seeded.point_room
        point_camera, lesson_id = seeded.point_camera, seeded.lesson_id
        hub_camera = await api.call("POST", "sources", {
            "classroom_id": hub_room, "name": "讲台编码器", "kind": "whip"}, 201)
        terminals = [await api.create("terminals", classroom_id=point_room, name=f"电视 {i}")
                     for i in range(2)]
        tokens = [await api.terminal_token(t) for t in terminals]
        # Another hub classroom's lesson at the same time, its encoder on the other node.
        other_room = await api.create("classrooms", school_id=hub, name="录播教室")
        other_camera = await api.call("POST", "sources", {
            "classroom_id": other_room, "name": "录播编码器", "kind": "whip"}, 201)
        teacher2 = await api.create("users", username="ingest-teacher-2", display_name="老师二",
                                    role="teacher", password=PASSWORD, school_id=hub)
        other_lesson = await api.create("lessons", title="另一节课", kind="dedicated",
                                        host_classroom_id=other_room, teacher_id=teacher2,
                                        linked_classroom_ids=[], **lesson_times())
    whip, whep = f"/whip/{hub_camera['stream_key']}", f"/whep/{lesson_id}"

    peers: list[RTCPeerConnection] = []
    async with ClientSession() as http:
        tv = Member(http, [first.target.url], tokens[0], lesson_id, [], "tv")
        try:
            # 1. Before the lessons: the hub's encoder reaches the second node and waits there,
            # the other classroom's the first node.
            for node, path, camera, room in (
                    (second, whip, hub_camera, hub_room),
                    (first, f"/whip/{other_camera['stream_key']}", other_camera, other_room)):
                encoder = await whip_offer()
                peers.append(encoder)
                status, _, body = await _post(http, node.target.url + path, encoder,
                                              camera["stream_key"])
                assert status == 201, body
                await _until(lambda r=room: redis.get(f"{prefix}waiting:{r}"), 10,
                             "the waiting encoder noted")

            # 2. The teacher starts both lessons through the first node: each is placed where
            # its classroom's encoder waits (not both on the least loaded node), and the
            # encoder goes into it.
            for teacher_token, started in ((await sign_in(first.target.url, "ingest-teacher",
                                                          PASSWORD), lesson_id),
                                           (await sign_in(first.target.url, "ingest-teacher-2",
                                                          PASSWORD), other_lesson)):
                async with Api(first.target.url, teacher_token) as teacher_api:
                    await teacher_api.start_lesson(started)
            assert await placed(redis, prefix, lesson_id) == node_id(second)
            assert await placed(redis, prefix, other_lesson) == node_id(first)

            # 3. The point's TV connects through the first node: it gets the hub's encoder.
            tv.start()
            await _until(lambda: tv.receiving(["audio", "video"]), 30, "the TV receiving")

            # 4. A player reaching the first node is passed to the second; so is its DELETE.
            player = await whep_offer()
            peers.append(player)
            status, location, body = await _post(http, first.target.url + whep, player,
                                                  tokens[1])
            assert status == 201, body
            assert location.startswith(f"{whep}/")

            async def playing() -> bool:
                return all(n > 0 for n in await received_packets(player))

            await _until(playing, 20, "the WHEP player receiving")
            async with http.delete(first.target.url + location,
                                   headers={"Authorization": f"Bearer {tokens[1]}"}) as response:
                assert response.status == 200, await response.text()

            # 5. The point's own encoder reaching the first node is passed to the second too,
            # publishes into the lesson, and its DELETE through the first node ends it.
            point_encoder = await whip_offer()
            peers.append(point_encoder)
            point_whip = f"/whip/{point_camera['stream_key']}"
            status, location, body = await _post(http, first.target.url + point_whip,
                                                  point_encoder, point_camera["stream_key"])
            assert status == 201, body
            key_header = {"Authorization": f"Bearer {point_camera['stream_key']}"}
            async with http.delete(first.target.url + location,
                                   headers=key_header) as response:
                assert response.status == 200, await response.text()
            async with http.delete(first.target.url + location,
                                   headers=key_header) as response:
                assert response.status == 404  # gone everywhere
            log = second.log_tail(200_000)
            assert f"source {point_camera['id']} publishes" in log, log[-3000:]
            passed = first.log_tail(200_000)
            assert "passed to node" in passed
            for key in (hub_camera["stream_key"], point_camera["stream_key"]):
                assert key not in passed and key not in second.log_tail(200_000)
        finally:
            await tv.stop()
            for pc in peers:
                await pc.close()
            await redis.aclose()


async def test_a_teaching_points_waiting_encoder_is_pushed_to_the_node_holding_its_lesson(
        two_nodes: tuple[list[KelianServer], str, str], loopback_peers: None) -> None:
    """A teaching point's encoder waits on one node; its lesson opens on the other (the hub
    decides where). The waiting node pushes the encoder there over one link: the teacher
    receives its camera and microphone; the encoder stopping ends the push, and so does the
    lesson ending."""
    nodes, url, prefix = two_nodes
    waiting_on, holder = nodes
    redis = Redis.from_url(url)
    async with Api(waiting_on.target.url,
                   await admin_token(Target(waiting_on.target.url,
                                            waiting_on.target.admin_password))) as api:
        seeded = await _seed(api, "pushed")
    key = seeded.point_camera["stream_key"]
    teacher_token = await sign_in(waiting_on.target.url, seeded.teacher, PASSWORD)
    encoder = await whip_offer()
    async with ClientSession() as http:
        teacher = Member(http, [waiting_on.target.url], teacher_token, seeded.lesson_id, [],
                         "teacher")
        try:
            status, location, body = await _post(http, f"{waiting_on.target.url}/whip/{key}",
                                                  encoder, key)
            assert status == 201, body
            # The lesson goes to the other node (as if the hub's encoder waited there).
            await redis.set(f"{prefix}room:{seeded.lesson_id}", node_id(holder))
            async with Api(waiting_on.target.url, teacher_token) as teacher_api:
                await teacher_api.start_lesson(seeded.lesson_id)
            teacher.start()
            # (its microphone too, heard once the teacher gives the point the floor)
            await _until(lambda: teacher.receiving(["video"]), 30,
                         "the teacher receiving the pushed encoder")
            assert await placed(redis, prefix, seeded.lesson_id) == node_id(holder)
            assert "pushed to the node holding it" in waiting_on.log_tail(200_000)

            # The encoder stops: the push ends, and its publications leave the lesson.
            async with http.delete(waiting_on.target.url + location,
                                   headers={"Authorization": f"Bearer {key}"}) as response:
                assert response.status == 200, await response.text()
            await _until(lambda: not _receives_anything(teacher), 15,
                         "the pushed publications gone")
        except BaseException:
            await print_state([teacher], nodes)
            raise
        finally:
            await teacher.stop()
            await encoder.close()
            await redis.aclose()


def _receives_anything(member: Member) -> bool:
    return bool(member.media and member.media.active_kinds())
