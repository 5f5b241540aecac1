"""A private network namespace whose loopback address Janus can gather ICE candidates on.

Janus never gathers on an interface flagged IFF_LOOPBACK (src/ice.c skips them), so on a
normal host it would only offer the machine's real addresses. For its runs the coordinator's
thread moves into a fresh network namespace (its children, Janus and the load generators,
inherit it): `lo`, plus a veth pair whose first end also carries 127.0.0.1/32. Janus sees that
end as an ordinary interface, so its candidates are 127.0.0.1 and every packet stays on
loopback, apart from the machine's interfaces. The namespace disappears with its last process.
Needs CAP_SYS_ADMIN (root) and `ip` (iproute2).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
INTERFACE = "kelian-lt0"  # the end Janus gathers on
_PEER = "kelian-lt1"  # only there so the first end has a carrier (IFF_RUNNING)


class NamespaceError(Exception):
    pass


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def available() -> str | None:
    """None when private_network() can work here, otherwise why not."""
    if os.geteuid() != 0:
        return "needs root (CAP_SYS_ADMIN) for a private network namespace"
    if shutil.which("ip") is None:
        return "needs `ip` (iproute2)"
    return None


@contextlib.contextmanager
def private_network() -> Iterator[str]:
    """Run the body (and every process it starts) in a new network namespace; yields the
    interface name for Janus's ICE. The calling thread returns to its namespace afterwards."""
    reason = available()
    if reason:
        raise NamespaceError(reason)
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise NamespaceError(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
        try:
            _ip("link", "set", "lo", "up")
            _ip("link", "add", INTERFACE, "type", "veth", "peer", "name", _PEER)
            _ip("addr", "add", "127.0.0.1/32", "dev", INTERFACE)
            _ip("link", "set", INTERFACE, "up")
            _ip("link", "set", _PEER, "up")
            yield INTERFACE
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise NamespaceError(f"setns back: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(home)
