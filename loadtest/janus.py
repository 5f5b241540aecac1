"""The `janus` target: the Janus WebRTC gateway (C) with its streaming plugin, as Debian ships it.

`JanusServer` writes a minimal configuration into a temporary folder (only the HTTP transport
and the streaming plugin are loadable: their folders hold just those two libraries), starts
`janus` on it and waits for its HTTP API. The one mountpoint (`MOUNTPOINT_ID`) takes plain RTP
on 127.0.0.1: Opus and VP8 on their own ports, plus a video RTCP port on which Janus learns
where to send its keyframe requests (PLI) once the source has sent it a packet. Those sockets
get a 4 MiB receive buffer, as Kelian's relay's do (loadtest/rcvbuf.py says why and how).
Subscribers join through the HTTP API (loadtest/janus_client.py); the publisher sends plain
RTP (loadtest/plainrtp.py). CPU and memory come from /proc/PID, as for `kelian serve`.

Janus's ICE must gather on loopback, which it refuses to do on `lo`: fanout runs it inside
loadtest/netns.py's private network namespace and passes that interface here.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from .kelian import free_port, usage_of
from .media_peer import RECEIVE_BUFFER
from .plainrtp import AUDIO_PT, VIDEO_PT, RtpDestination
from .rcvbuf import udp_socket_fds, widen

MOUNTPOINT_ID = 1
# Target name -> Janus's `event_loops`: None is its default (a thread per handle, i.e. per
# viewer); "janus-loops" shares one loop per core among all handles, as its config suggests
# for many viewers.
TARGETS: dict[str, int | None] = {"janus": None, "janus-loops": os.cpu_count() or 1}
BINARIES = ("/usr/bin/janus", "/usr/sbin/janus", "/usr/local/bin/janus", "/opt/janus/bin/janus")
LIBRARY_DIRS = ("/usr/lib/*/janus", "/usr/lib/janus", "/usr/local/lib/janus", "/opt/janus/lib/janus")
PR_SET_PDEATHSIG = 1


class JanusError(Exception):
    pass


def janus_binary() -> str | None:
    found = shutil.which("janus")
    if found:
        return found
    return next((path for path in BINARIES if os.access(path, os.X_OK)), None)


def janus_version() -> str:
    """"1.1.2", from the banner `janus --help` prints; "unknown" when it cannot be read."""
    binary = janus_binary()
    if binary is None:
        return "unknown"
    try:
        banner = subprocess.run([binary, "--help"], capture_output=True, text=True,
                                timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    for line in banner.splitlines():
        if line.startswith("Janus version:") and "(" in line:
            return line.rsplit("(", 1)[1].rstrip(")")
    return "unknown"


def report_notes() -> list[str]:
    """What report.md says about the janus rows."""
    return [
        f"- janus: Janus {janus_version()} (the distribution's package) with only its HTTP "
        "transport and streaming plugin loaded, one `rtp` mountpoint (Opus + VP8), default "
        "threading (each viewer's handle has its own thread, which encrypts its SRTP; the "
        "mountpoint's thread receives and hands packets out). It takes the clip as plain RTP "
        "(same payloads, same frame timing, no SRTP/ICE/DTLS on the way in), so its CPU has "
        "no decryption of the publisher's stream, which Kelian pays once per incoming packet.",
        "- janus keyframes: Janus asks the source for a keyframe (PLI) when a viewer starts, at "
        "most once a second, on the mountpoint's video RTCP port, which it learns from the "
        "publisher's sender reports; the publisher answers as it does for Kelian (the intra "
        "version of the next frame), so join → keyframe compares. Without that port Janus "
        "could not ask, and joins would wait for the clip's own keyframe (once per loop, 10 s).",
        "- janus networking: Janus gathers ICE candidates on no loopback interface, so its "
        "runs (Janus, publisher, subscribers) happen in a private network namespace where "
        "127.0.0.1 is also on a veth interface; all traffic is still to 127.0.0.1. Its "
        "mountpoint's sockets get a 4 MiB receive buffer (pidfd_getfd + SO_RCVBUF), as "
        "Kelian's relay's ICE sockets and the subscribers' do: with the kernel's 208 KiB "
        "default, the clip's ~390 KB loop keyframe, sent as one burst of ~320 packets, was "
        "dropped in part on every loop (loadtest/rcvbuf.py).",
        "- janus CPU includes its HTTP API: each subscriber's `keepalive` every 20 s.",
        f"- janus-loops: the same, with `event_loops = {TARGETS['janus-loops']}` (one media "
        "loop per core shared by all handles instead of a thread per viewer), the setting "
        "Janus's own configuration suggests for many handles; fewer threads to wake per packet.",
    ]


def _library_dir() -> Path:
    for pattern in LIBRARY_DIRS:
        for match in sorted(glob.glob(pattern)):
            if Path(match, "plugins", "libjanus_streaming.so").exists():
                return Path(match)
    raise JanusError("Janus's streaming plugin (libjanus_streaming.so) was not found")


def _free_udp_ports(count: int) -> list[int]:
    """Distinct free ports: all are held until every one is chosen."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the coordinator dies, even by SIGKILL."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _config(general: dict[str, object], **sections: dict[str, object]) -> str:
    """libconfig text (Janus's .jcfg): `name: { key = value … }` per section."""
    def block(name: str, items: dict[str, object]) -> str:
        body = "".join(f"\t{key} = {json.dumps(value)}\n" for key, value in items.items())
        return f"{name}: {{\n{body}}}\n"

    return "".join(block(name, items) for name, items in {"general": general, **sections}.items())


class JanusServer:
    """A `janus` child process on a generated configuration; `close()` stops it (SIGTERM, then
    SIGKILL) and removes the folder. It also dies with the coordinator (PR_SET_PDEATHSIG)."""

    def __init__(self, ice_interface: str, event_loops: int | None = None,
                 start_timeout: float = 30.0):
        binary = janus_binary()
        if binary is None:
            raise JanusError("janus is not installed (Debian: apt-get install janus)")
        self.dir = Path(tempfile.mkdtemp(prefix="kelian-loadtest-janus-"))
        self.log_path = self.dir / "janus.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.server_pid: int | None = None
        http_port = free_port()
        self.url = f"http://127.0.0.1:{http_port}/janus"
        self.destination = RtpDestination("127.0.0.1", *_free_udp_ports(3))
        try:
            self._write_config(_library_dir(), http_port, ice_interface, event_loops)
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [binary, "--config", str(self.dir / "janus.jcfg"),
                     "--configs-folder", str(self.dir)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C reaches us, and we stop it in order
                    preexec_fn=_die_with_parent)
            self.server_pid = self.process.pid
            self._wait_ready(start_timeout)
            self._widen_ingress()
        except BaseException:
            self.close()
            raise

    def _write_config(self, library: Path, http_port: int, ice_interface: str,
                      event_loops: int | None) -> None:
        # Folders holding only what is needed, so nothing else is loaded.
        for kind, name in (("plugins", "libjanus_streaming.so"), ("transports", "libjanus_http.so")):
            (self.dir / kind).mkdir()
            (self.dir / kind / name).symlink_to(library / kind / name)
        (self.dir / "none").mkdir()
        general: dict[str, object] = {
            "configs_folder": str(self.dir), "plugins_folder": str(self.dir / "plugins"),
            "transports_folder": str(self.dir / "transports"),
            "events_folder": str(self.dir / "none"), "loggers_folder": str(self.dir / "none"),
            "log_to_stdout": True, "debug_level": 3,  # warnings and errors only
            "debug_colors": False, "interface": "127.0.0.1", "session_timeout": 60,
            "hide_dependencies": True}
        if event_loops is not None:
            general["event_loops"] = event_loops
        (self.dir / "janus.jcfg").write_text(_config(
            general,
            certificates={},  # Janus makes a self-signed DTLS certificate at start
            media={}, nat={"ice_enforce_list": ice_interface, "nice_debug": False},
            plugins={}, transports={}, events={"broadcast": False}, loggers={}))
        (self.dir / "janus.transport.http.jcfg").write_text(_config(
            {"json": "plain", "base_path": "/janus", "http": True, "port": http_port,
             "ip": "127.0.0.1", "https": False},
            admin={"admin_http": False, "admin_https": False}))
        rtp = self.destination
        (self.dir / "janus.plugin.streaming.jcfg").write_text(_config(
            {"events": False},
            **{"kelian-loadtest": {
                "type": "rtp", "id": MOUNTPOINT_ID, "description": "Kelian load test clip",
                "audio": True, "audioport": rtp.audio_port, "audioiface": rtp.host,
                "audiopt": AUDIO_PT, "audiocodec": "opus",
                "video": True, "videoport": rtp.video_port, "videortcpport": rtp.video_rtcp_port,
                "videoiface": rtp.host, "videopt": VIDEO_PT, "videocodec": "vp8"}}))

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/info", timeout=2) as response:
                    if "janus.plugin.streaming" in json.load(response).get("plugins", {}):
                        return
            except (OSError, ValueError):
                pass
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise JanusError(f"janus did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def _widen_ingress(self) -> None:
        """The mountpoint's sockets get the generators' receive buffer (see loadtest/rcvbuf.py)."""
        assert self.server_pid is not None
        rtp = self.destination
        ports = {rtp.audio_port, rtp.video_port, rtp.video_rtcp_port}
        found = udp_socket_fds(self.server_pid, ports)
        if set(found) != ports:
            raise JanusError(f"the mountpoint's sockets were not found: {sorted(found)}")
        try:
            for fd in found.values():
                widen(self.server_pid, fd, RECEIVE_BUFFER)
        except OSError as exc:
            raise JanusError(f"could not widen Janus's RTP receive buffers: {exc}") from exc

    def stats(self) -> dict[str, float]:
        """The same shape as the control server's /stats, from /proc (Janus is not asked)."""
        assert self.server_pid is not None
        usage = usage_of(self.server_pid)
        return {"pid": self.server_pid, "cpu_s": usage.cpu_s, "rss_bytes": usage.rss_bytes}

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def log_errors(self, limit: int = 10) -> list[str]:
        """Janus's [ERR] lines (a run should have none)."""
        return [line[:300] for line in self.log_tail(200_000).splitlines()
                if "[ERR]" in line][:limit]

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
