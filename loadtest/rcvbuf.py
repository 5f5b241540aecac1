"""Widen another process's UDP receive buffers from outside (pidfd_getfd + SO_RCVBUF).

Janus's streaming plugin takes the kernel's default buffer (net.core.rmem_default, 208 KiB)
for its RTP sockets and has no setting for it; the clip's loop keyframe (~390 KB, ~320
packets sent back to back) overflows that before Janus's thread drains it, so the loss would
be the sysctl's, not the relay's. An operator would raise the sysctl; here the host's must
stay untouched (and a namespace's copy is read-only), so the socket itself is duplicated into
this process (Linux >= 5.6, same rights as ptrace) and given the 4 MiB that Kelian's relay
asks for its ICE sockets (media/relay/glue.py). The socket is shared: the duplicate is closed
right away.
"""

from __future__ import annotations

import ctypes
import os
import socket
from pathlib import Path

SYS_PIDFD_GETFD = 438  # the same number on every architecture


def udp_socket_fds(pid: int, ports: set[int]) -> dict[int, int]:
    """port -> file descriptor in `pid` of its IPv4 UDP sockets bound to those ports."""
    inodes: dict[str, int] = {}
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        port = int(fields[1].rsplit(":", 1)[1], 16)
        if port in ports:
            inodes[fields[9]] = port
    found: dict[int, int] = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            found[inodes[link[8:-1]]] = int(fd.name)
    return found


def widen(pid: int, fd: int, size: int) -> int:
    """Ask for a `size` receive buffer on `pid`'s descriptor `fd`; what the kernel granted
    (doubled, capped by net.core.rmem_max)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copy = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if copy < 0:
            raise OSError(ctypes.get_errno(), f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(pidfd)
    with socket.socket(fileno=copy) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
