"""Sizes, rates and timeouts of the signalling sockets (one frozen value per app)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 64 * 1024  # larger frames close the socket with 1009
    heartbeat_s: float = 15.0  # a ping this often; no pong within half of it closes the socket
    auth_timeout_s: float = 10.0  # to send `auth` when the handshake carried no credentials
    outbox_size: int = 256  # queued messages per socket before it counts as a slow client
    rate_per_s: float = 50.0  # sustained messages per second per socket
    burst: int = 100  # messages allowed at once above the sustained rate
    close_timeout_s: float = 2.0  # wait this long for the client's close frame


LIMITS = web.AppKey("signalling_limits", Limits)
