"""A subscriber's side of Janus's HTTP API (the streaming plugin), for fanout's workers.

One session and one handle per subscriber: `create`, `attach` janus.plugin.streaming,
`watch` the mountpoint, long-poll the session until the plugin's event carries Janus's JSEP
offer (Janus sends it once its ICE gathering is done, so no trickle is needed either way),
answer it with `start`. Sessions are kept alive with `keepalive` requests, well within Janus's
60 s session timeout.
"""

from __future__ import annotations

import secrets
import time

from aiohttp import ClientSession, ClientTimeout

KEEPALIVE_S = 20.0
PLUGIN = "janus.plugin.streaming"


class JanusApiError(Exception):
    pass


class JanusSession:
    def __init__(self, http: ClientSession, base_url: str):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.session_id: int | None = None
        self.handle_id: int | None = None

    async def _post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        body = {**body, "transaction": secrets.token_hex(6)}
        async with self.http.post(self.base_url + path, json=body,
                                  timeout=ClientTimeout(total=30)) as response:
            response.raise_for_status()
            reply = await response.json(content_type=None)
        if reply.get("janus") == "error" or "error" in reply.get("plugindata", {}).get("data", {}):
            raise JanusApiError(f"{body.get('janus')}: {reply}")
        return reply

    async def open(self) -> None:
        created = await self._post("", {"janus": "create"})
        self.session_id = int(created["data"]["id"])  # type: ignore[index]
        attached = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": PLUGIN})
        self.handle_id = int(attached["data"]["id"])  # type: ignore[index]

    async def message(self, body: dict[str, object], jsep: dict[str, str] | None = None) -> None:
        request: dict[str, object] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        await self._post(f"/{self.session_id}/{self.handle_id}", request)

    async def wait_for_jsep(self, timeout: float = 30.0) -> dict[str, str]:
        """Long-poll the session's events until one carries a JSEP."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with self.http.get(f"{self.base_url}/{self.session_id}",
                                     params={"maxev": "5", "rid": str(time.time_ns())},
                                     timeout=ClientTimeout(total=40)) as response:
                response.raise_for_status()
                events = await response.json(content_type=None)
            for event in events if isinstance(events, list) else [events]:
                data = event.get("plugindata", {}).get("data", {})
                if "error" in data or event.get("janus") == "hangup":
                    raise JanusApiError(f"while waiting for the offer: {event}")
                if event.get("jsep"):
                    return dict(event["jsep"])
        raise JanusApiError(f"no JSEP within {timeout:.0f}s")

    async def keepalive(self) -> None:
        await self._post(f"/{self.session_id}", {"janus": "keepalive"})
