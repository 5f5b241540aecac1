"""WebSocket signalling at /ws: one socket per participant, one typed schema (see
docs/signalling.md).

- `codes`: error codes, close codes and reasons.
- `schema`: the messages, both directions, and their JSON Schema.
- `limits`: sizes, rates and timeouts; `ratelimit`: the per-socket token bucket.
- `connection`: one socket: authentication, reading, the bounded outbox, closing.
- `handlers`: the dispatch table, message type to handler.
"""

from aiohttp import web


def setup(app: web.Application) -> None:
    from .connection import setup as setup_connection

    setup_connection(app)
