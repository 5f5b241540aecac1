"""A signalling socket whose lesson is held by another node: a pipe to that node's /ws.

The socket authenticated here. The other node gets the same credentials — the `auth` message
again (its reply is dropped here), or the browser's session cookie with its Origin and Host —
then the `join`, and from then on every frame goes through unchanged, both ways. When the other
node closes the pipe (the lesson ended, the node drains, shuts down or dies) this socket closes
with its code, so the client does what it would do if it were connected there: reconnect, or
not after 4410.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping

from aiohttp import ClientError, ClientSession, ClientWebSocketResponse, WSMsgType

from .codes import CloseCode

log = logging.getLogger("kelian.signalling.forward")

# A socket another node routed here (the nodes' secret, and "origin" or "edge"): served as it
# says, not routed again.
SECRET_HEADER = "X-Kelian-Node-Secret"
SERVE_HEADER = "X-Kelian-Serve"
FORWARDED_AUTH = "kelian-forwarded-auth"  # the id of the replayed `auth`, whose reply is ours
CONNECT_TIMEOUT_S = 5.0
_KNOWN_CODES = {code.value for code in CloseCode}


def socket_url(node_url: str) -> str:
    """The /ws address of a node from its registry URL (http://host:port)."""
    return node_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/ws"


def replayed_auth(auth_text: str) -> str:
    """The client's `auth` message under our own request id."""
    message = json.loads(auth_text)
    message["id"] = FORWARDED_AUTH
    return json.dumps(message)


class ForwardFailed(Exception):
    """The node holding the lesson could not be reached."""


class Upstream:
    """The socket to the node holding the lesson."""

    def __init__(self, ws: ClientWebSocketResponse, node_id: str):
        self.ws = ws
        self.node_id = node_id

    @classmethod
    async def open(cls, http: ClientSession, node_id: str, node_url: str,
                   headers: Mapping[str, str], auth_text: str | None, join_text: str,
                   max_message_bytes: int) -> Upstream:
        """Connect, authenticate as the client did and send its `join`. ForwardFailed."""
        try:
            ws = await asyncio.wait_for(http.ws_connect(
                socket_url(node_url), headers=dict(headers), autoping=True,
                max_msg_size=max_message_bytes), CONNECT_TIMEOUT_S)
        except (ClientError, OSError, TimeoutError) as exc:
            raise ForwardFailed(f"node {node_id} at {node_url}: {exc!r}") from None
        try:
            if auth_text is not None:
                await ws.send_str(replayed_auth(auth_text))
            await ws.send_str(join_text)
        except (ClientError, OSError, ConnectionError) as exc:
            await ws.close()
            raise ForwardFailed(f"node {node_id} at {node_url}: {exc!r}") from None
        return cls(ws, node_id)

    async def send(self, text: str) -> None:
        try:
            await self.ws.send_str(text)
        except (ClientError, OSError, ConnectionError):
            pass  # the pump sees the socket close and closes the client's

    async def pump(self, deliver: Callable[[str], bool]) -> CloseCode:
        """Hand the other node's frames to `deliver` (False: stop) until it closes; the code
        to close the client's socket with. A dropped connection (the node died) is 1001: the
        client reconnects, and its lesson is placed again."""
        async for frame in self.ws:
            if frame.type is WSMsgType.TEXT:
                if not deliver(frame.data):
                    break
            elif frame.type is WSMsgType.ERROR:
                break
        code = self.ws.close_code
        return CloseCode(code) if code in _KNOWN_CODES else CloseCode.going_away

    async def close(self) -> None:
        await self.ws.close()


def is_forwarded_auth_reply(text: str) -> tuple[bool, bool]:
    """(whether the frame is the reply to our replayed `auth`, whether it said ok)."""
    if FORWARDED_AUTH not in text:
        return False, False
    try:
        message = json.loads(text)
    except ValueError:
        return False, False
    if not isinstance(message, dict) or message.get("id") != FORWARDED_AUTH:
        return False, False
    return True, message.get("type") == "ok"
