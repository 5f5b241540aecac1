"""ICE servers for the pages: configured STUN, and TURN with short-lived per-participant credentials.

The relay has a public address and needs no TURN; browsers behind a school firewall that blocks
UDP do, through TURN over TLS on 443. Credentials follow the TURN REST API scheme coturn checks
with `use-auth-secret` / `static-auth-secret`: the username is `<unix expiry>:<identity>` and
the credential is base64(HMAC-SHA1(secret, username)). The TURN server recomputes the credential
from the secret it shares with us and refuses it after the expiry, so nothing is stored and a
leaked credential dies on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Literal, TypedDict

from ..config import Settings, ice_urls

IcePolicy = Literal["all", "relay"]


class IceServer(TypedDict, total=False):
    """One entry of RTCConfiguration.iceServers."""

    urls: list[str]
    username: str
    credential: str


def turn_credentials(secret: str, identity: str, ttl_s: int, now: float | None = None
                     ) -> tuple[str, str]:
    """The (username, credential) pair for `identity`, valid for `ttl_s` seconds from `now`."""
    expiry = int(time.time() if now is None else now) + ttl_s
    username = f"{expiry}:{identity}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(settings: Settings, identity: str, now: float | None = None) -> list[IceServer]:
    """The iceServers for one participant (`identity` names it in the TURN server's log)."""
    servers: list[IceServer] = []
    stun = ice_urls(settings.stun_urls)
    if stun:
        servers.append({"urls": stun})
    turn = ice_urls(settings.turn_urls)
    if turn:
        username, credential = turn_credentials(settings.turn_secret, identity,
                                                settings.turn_ttl_s, now)
        servers.append({"urls": turn, "username": username, "credential": credential})
    return servers


def ice_transport_policy(settings: Settings) -> IcePolicy:
    """RTCConfiguration.iceTransportPolicy: `relay` where a site must force TURN."""
    return "relay" if settings.ice_relay_only else "all"


def ice_links(servers: list[IceServer]) -> list[str]:
    """The same servers as RFC 9725 §4.6 `Link: <url>; rel="ice-server"` values, for WHIP/WHEP."""
    links: list[str] = []
    for server in servers:
        for url in server.get("urls", []):
            link = f'<{url}>; rel="ice-server"'
            if "username" in server:
                link += (f'; username="{server["username"]}"; '
                         f'credential="{server["credential"]}"; credential-type="password"')
            links.append(link)
    return links
