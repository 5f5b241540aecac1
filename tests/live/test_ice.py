"""ICE servers for the pages: the TURN REST API credentials, the settings, the `join` reply."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import time

import pytest
from aiohttp.test_utils import TestClient

from server.config import ConfigError, Settings, load_settings
from server.live.ice import ice_links, ice_servers, ice_transport_policy, turn_credentials

from .conftest import SQLITE_ONLY, Starter
from .world import World
from .wsclient import connect

TURN = "turn:turn.example:3478?transport=udp,turns:turn.example:443?transport=tcp"
NOW = 1_700_000_000


def test_credentials_follow_the_turn_rest_api_scheme() -> None:
    username, credential = turn_credentials("north-wind", "terminal:7", 3600, now=NOW + 0.9)
    assert username == "1700003600:terminal:7"
    # coturn recomputes it from its static-auth-secret: base64(HMAC-SHA1(secret, username)).
    expected = base64.b64encode(
        hmac.new(b"north-wind", b"1700003600:terminal:7", hashlib.sha1).digest()).decode()
    assert credential == expected == "3JzDqop0T33RgEVEuOF7QKI/oVk="


def test_the_expiry_is_ttl_seconds_ahead() -> None:
    username, _ = turn_credentials("s", "user:1", 600)
    assert abs(int(username.split(":", 1)[0]) - (time.time() + 600)) < 5


def test_ice_servers_for_a_participant() -> None:
    settings = load_settings(env={"KELIAN_STUN_URLS": "stun:stun.example:3478",
                                  "KELIAN_TURN_URLS": TURN, "KELIAN_TURN_SECRET": "s",
                                  "KELIAN_TURN_TTL_S": "120"})
    stun, turn = ice_servers(settings, "user:3", now=NOW)
    assert stun == {"urls": ["stun:stun.example:3478"]}
    assert turn["urls"] == ["turn:turn.example:3478?transport=udp",
                            "turns:turn.example:443?transport=tcp"]
    assert turn["username"] == f"{NOW + 120}:user:3"
    assert turn["credential"] == turn_credentials("s", "user:3", 120, now=NOW)[1]
    assert ice_transport_policy(settings) == "all"
    links = ice_links([stun, turn])
    assert links[0] == '<stun:stun.example:3478>; rel="ice-server"'
    assert links[2] == (f'<turns:turn.example:443?transport=tcp>; rel="ice-server"; '
                        f'username="{NOW + 120}:user:3"; credential="{turn["credential"]}"; '
                        f'credential-type="password"')
    assert ice_servers(load_settings(env={}), "user:3") == []


@pytest.mark.parametrize(("env", "named", "why"), [
    ({"KELIAN_STUN_URLS": "http://stun.example"}, "KELIAN_STUN_URLS", "is not a stun: URL"),
    ({"KELIAN_STUN_URLS": "stun:a:3478?transport=udp"}, "KELIAN_STUN_URLS", "no ?transport"),
    ({"KELIAN_TURN_URLS": "stun:a:3478", "KELIAN_TURN_SECRET": "s"}, "KELIAN_TURN_URLS",
     "is not a turn: or turns: URL"),
    ({"KELIAN_TURN_URLS": "turn:a:70000", "KELIAN_TURN_SECRET": "s"}, "KELIAN_TURN_URLS",
     "is not a port"),
    ({"KELIAN_TURN_URLS": "turn:a?transport=sctp", "KELIAN_TURN_SECRET": "s"},
     "KELIAN_TURN_URLS", "is not a turn:"),
    ({"KELIAN_TURN_URLS": TURN}, "KELIAN_TURN_SECRET", "needs the TURN server's shared secret"),
    ({"KELIAN_TURN_TTL_S": "10"}, "KELIAN_TURN_TTL_S", "at least 60"),
    ({"KELIAN_ICE_RELAY_ONLY": "yes"}, "KELIAN_ICE_RELAY_ONLY", "needs TURN_URLS"),
])


def test_bad_ice_settings_are_named(env: dict[str, str], named: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    assert named in str(info.value) and why in str(info.value)


def test_good_ice_settings() -> None:
    settings = load_settings(env={"KELIAN_STUN_URLS": " stun:[::1]:3478 , stun:b.example ",
                                  "KELIAN_TURN_URLS": TURN, "KELIAN_TURN_SECRET": "s",
                                  "KELIAN_ICE_RELAY_ONLY": "on"})
    assert ice_servers(settings, "x")[0] == {"urls": ["stun:[::1]:3478", "stun:b.example"]}
    assert ice_transport_policy(settings) == "relay"


@pytest.fixture


def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, turn_urls=TURN, turn_secret="shared",
                               ice_relay_only=True)


@SQLITE_ONLY
async def test_the_join_reply_carries_each_participants_own_credentials(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    replies = []
    for name in ("teacher", "pa_tv"):
        client = await connect(live_app, world.tokens[name], name)
        replies.append(await client.ok("join", lesson_id=lesson_id))
        await client.close()
    users = []
    for reply in replies:
        assert reply["ice_transport_policy"] == "relay"
        [turn] = reply["ice_servers"]
        assert turn["urls"] == TURN.split(",")
        users.append(turn["username"])
        expected = hmac.new(b"shared", turn["username"].encode(), hashlib.sha1).digest()
        assert turn["credential"] == base64.b64encode(expected).decode()
    assert users[0].split(":", 1)[1] == f"user:{world['teacher']}"
    assert users[1].split(":", 1)[1].startswith("terminal:")


@SQLITE_ONLY
async def test_a_whep_answer_names_the_ice_servers_in_link_headers(
        live_app: TestClient, world: World, start: Starter) -> None:
    from tests.ingest.conftest import post_sdp, whep_offer

    lesson_id = await start("dedicated")
    player = await whep_offer()
    try:
        status, headers, answer = await post_sdp(live_app, f"/whep/{lesson_id}", player,
                                                 world.tokens["pa_tv"])
        assert status == 201, answer
        links = headers["Link"].split(", ")
        assert [link.split(">")[0] for link in links] == [f"<{url}" for url in TURN.split(",")]
        assert all('rel="ice-server"' in link and 'credential-type="password"' in link
                   and f':terminal:{world["pa_tv"]}"' in link for link in links)
        assert "Link" in headers["Access-Control-Expose-Headers"]
    finally:
        await player.close()
