"""Keep every load-test peer on 127.0.0.1.

aioice gathers host candidates on every interface except loopback; the load test wants the
opposite (traffic only to 127.0.0.1), so each load-test process (the control server, the
publisher, the subscriber workers) calls `use_loopback_only()` before making peers.
"""

from __future__ import annotations

import aioice.ice


def _loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []


def use_loopback_only() -> None:
    aioice.ice.get_host_addresses = _loopback  # type: ignore[assignment]
