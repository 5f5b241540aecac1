"""WHIP and WHEP refuse bad requests with the right status, a plain-text reason and the CORS
headers, and leave nothing behind: no participant, no session, no Transport."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from server.ingest.common import MAX_SDP_BYTES
from server.ingest.sessions import INGEST
from server.keys import LIVE
from server.models import SourceKind, SourceRole
from tests.helpers import eventually
from tests.live.conftest import Starter
from tests.live.world import World

from .conftest import SDP, SourceMaker, post_sdp, sdp_headers, whep_offer, whip_offer

# Enough of an offer to pass the endpoints' own reading; the relay refuses it.
NO_ICE = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" \
         "a=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"


async def _post(client: TestClient, path: str, body: str | bytes, token: str | None,
                content_type: str = SDP) -> tuple[int, str, dict[str, str]]:
    headers = sdp_headers(token)
    headers["Content-Type"] = content_type
    async with client.post(path, data=body, headers=headers) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


def _nothing_left(client: TestClient, lesson_id: int) -> None:
    room = client.app[LIVE].get(lesson_id)
    assert room is not None
    assert room.participants == {} and room.publications == {}
    assert room.media.stats().subscriptions == {} and room.media.publications() == []
    assert len(client.app[INGEST]) == 0


async def test_whip_refuses_bad_credentials(live_app: TestClient, start: Starter,
                                            make_source: SourceMaker) -> None:
    lesson_id = await start("dedicated")
    encoder = await make_source("hub")
    rtmp = await make_source("pa", kind=SourceKind.rtmp)
    disabled = await make_source("pb", enabled=False)
    path = f"/whip/{encoder.key}"
    for token in (None, "not-the-key", rtmp.key):
        status, text, headers = await _post(live_app, path, NO_ICE, token)
        assert status == 401, text
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert headers["Access-Control-Allow-Origin"] == "*"
    status, text, _ = await _post(live_app, f"/whip/{rtmp.key}", NO_ICE, rtmp.key)
    assert status == 401 and "no WHIP source" in text  # an RTMP key publishes nothing here
    status, text, _ = await _post(live_app, f"/whip/{disabled.key}", NO_ICE, disabled.key)
    assert status == 403 and "disabled" in text
    _nothing_left(live_app, lesson_id)


async def test_whip_refuses_bad_bodies(live_app: TestClient, start: Starter,
                                       make_source: SourceMaker) -> None:
    lesson_id = await start("dedicated")
    encoder = await make_source("hub")
    path = f"/whip/{encoder.key}"
    status, text, headers = await _post(live_app, path, NO_ICE, encoder.key, "text/plain")
    assert status == 415 and headers["Accept-Post"] == SDP
    status, text, _ = await _post(live_app, path, "v=0\r\n" + "a=x\r\n" * MAX_SDP_BYTES,
                                  encoder.key)
    assert status == 413, text
    for body in ("", "hello", "v=0\r\nthis is not sdp\r\n", b"v=0\r\n\xff\xfe"):
        status, text, _ = await _post(live_app, path, body, encoder.key)
        assert status == 400 and text.strip(), body
    recvonly = NO_ICE.replace("a=sendonly", "a=recvonly")
    status, text, _ = await _post(live_app, path, recvonly, encoder.key)
    assert status == 400 and "sends no audio or video" in text
    # Readable, but the relay cannot apply it (no ICE credentials, no fingerprint).
    status, text, _ = await _post(live_app, path, NO_ICE, encoder.key)
    assert status == 400 and "could not be applied" in text, text
    _nothing_left(live_app, lesson_id)


async def test_whip_without_a_live_lesson_or_against_the_rules(
        live_app: TestClient, world: World, start: Starter, make_source: SourceMaker) -> None:
    far = await make_source("far")
    pc = await whip_offer()
    try:
        # Without a live lesson it connects and waits (test_whip_standby.py); an offer that
        # sends nothing is refused all the same, and leaves nothing waiting.
        silent = await whep_offer()
        try:
            status, _, text = await post_sdp(live_app, f"/whip/{far.key}", silent, far.key)
        finally:
            await silent.close()
        assert status == 400 and len(live_app.app[INGEST]) == 0
        # A famous-school broadcast: a receiving classroom's encoder may not publish.
        lesson_id = await start("famous")
        point = await make_source("pa", role=SourceRole.students)
        status, _, text = await post_sdp(live_app, f"/whip/{point.key}", pc, point.key)
        assert status == 403 and "receiving_classroom" in text
        _nothing_left(live_app, lesson_id)
    finally:
        await pc.close()


async def test_whip_resources(live_app: TestClient, start: Starter,
                              make_source: SourceMaker) -> None:
    await start("dedicated")
    encoder = await make_source("hub")
    auth = {"Authorization": f"Bearer {encoder.key}"}
    resource = f"/whip/{encoder.key}/no-such-session"
    async with live_app.delete(resource, headers=auth) as resp:
        assert resp.status == 404
    async with live_app.delete(resource, headers={"Authorization": "Bearer wrong"}) as resp:
        assert resp.status == 401
    pc = await whip_offer(audio=False)
    try:
        status, headers, _ = await post_sdp(live_app, f"/whip/{encoder.key}", pc, encoder.key)
        assert status == 201
        async with live_app.patch(headers["Location"], data="a=end-of-candidates\r\n", headers={
                **auth, "Content-Type": "application/trickle-ice-sdpfrag",
                "If-Match": headers["ETag"]}) as resp:
            assert resp.status == 405 and "DELETE" in resp.headers["Allow"]
    finally:
        await pc.close()


@pytest.mark.parametrize("path", ["/whip/somekey", "/whip/somekey/someresource",
                                  "/whep/1", "/whep/1/someresource"])
async def test_cors_preflight(live_app: TestClient, path: str) -> None:
    async with live_app.options(path, headers={
            "Origin": "https://player.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"}) as resp:
        assert resp.status == 204
        h = resp.headers
        assert h["Access-Control-Allow-Origin"] == "*"
        methods = {m.strip() for m in h["Access-Control-Allow-Methods"].split(",")}
        assert methods == ({"DELETE", "OPTIONS"} if path.count("/") == 3 else {"POST", "OPTIONS"})
        allowed = {x.strip().lower() for x in h["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "if-match"} <= allowed
        exposed = {x.strip().lower() for x in h["Access-Control-Expose-Headers"].split(",")}
        assert {"location", "etag", "link"} <= exposed


async def test_whep_refusals(live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    player = await whep_offer()
    sender = await whip_offer(audio=False)
    try:
        path = f"/whep/{lesson_id}"
        for token in (None, "kt_not-a-token"):
            status, headers, text = await post_sdp(live_app, path, player, token)  # type: ignore[arg-type]
            assert status == 401 and headers["Access-Control-Allow-Origin"] == "*", text
        status, _, text = await post_sdp(live_app, f"/whep/{world['later']}", player,
                                         world.tokens["pa_tv"])
        assert status == 409 and "not live" in text
        status, _, _ = await post_sdp(live_app, path, player, world.tokens["far_tv"])
        assert status in (403, 404)  # a classroom not in the lesson
        status, _, _ = await post_sdp(live_app, "/whep/999999", player, world.tokens["admin"])
        assert status == 404
        status, _, text = await post_sdp(live_app, path, sender, world.tokens["pa_tv"])
        assert status == 400 and "receives no audio or video" in text
        status, _, text = await post_sdp(live_app, f"{path}?publication=pub-nope", player,
                                         world.tokens["pa_tv"])
        assert status == 404 and "pub-nope" in text
        status, text, _ = await _post(live_app, path, "garbage", world.tokens["pa_tv"])
        assert status == 400
        status, text, _ = await _post(live_app, path, "v=0", world.tokens["pa_tv"], "text/plain")
        assert status == 415
        async with live_app.delete(f"{path}/nope", headers={
                "Authorization": f"Bearer {world.tokens['pa_tv']}"}) as resp:
            assert resp.status == 404
        _nothing_left(live_app, lesson_id)
    finally:
        await player.close()
        await sender.close()


async def test_whep_session_is_ended_only_by_its_owner(live_app: TestClient, world: World,
                                                       start: Starter) -> None:
    lesson_id = await start("dedicated")
    player = await whep_offer()
    try:
        status, headers, _ = await post_sdp(live_app, f"/whep/{lesson_id}", player,
                                            world.tokens["pa_tv"])
        assert status == 201
        location = headers["Location"]
        async with live_app.delete(location, headers={
                "Authorization": f"Bearer {world.tokens['pb_tv']}"}) as resp:
            assert resp.status == 403
        async with live_app.delete(location) as resp:
            assert resp.status == 401
        # Ending the lesson ends the session.
        async with live_app.post(f"/api/v1/lessons/{lesson_id}/end", headers={
                "Authorization": f"Bearer {world.tokens['teacher']}"}) as resp:
            assert resp.status == 200
        assert len(live_app.app[INGEST]) == 0
        async with live_app.delete(location, headers={
                "Authorization": f"Bearer {world.tokens['pa_tv']}"}) as resp:
            assert resp.status == 404
    finally:
        await player.close()


async def test_revoked_credentials_end_their_sessions(
        live_app: TestClient, world: World, start: Starter, make_source: SourceMaker) -> None:
    lesson_id = await start("dedicated")
    encoder = await make_source("hub")
    player, sender = await whep_offer(), await whip_offer(audio=False)
    sessions = live_app.app[INGEST]
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    try:
        status, _, _ = await post_sdp(live_app, f"/whip/{encoder.key}", sender, encoder.key)
        assert status == 201
        status, _, _ = await post_sdp(live_app, f"/whep/{lesson_id}", player,
                                      world.tokens["pa_tv"])
        assert status == 201 and len(sessions) == 2
        # The terminal's token is revoked: its player stops at once.
        async with live_app.delete(f"/api/v1/terminals/{world['pa_tv']}/token",
                                   headers=admin) as resp:
            assert resp.status == 204
        await eventually(lambda: len(sessions) == 1)
        # The Source is deleted: its encoder's publication ends.
        async with live_app.delete(f"/api/v1/sources/{encoder.source_id}",
                                   headers=admin) as resp:
            assert resp.status == 204
        await eventually(lambda: len(sessions) == 0)
        _nothing_left(live_app, lesson_id)
    finally:
        await player.close()
        await sender.close()
