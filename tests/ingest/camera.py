"""The test IP camera (tests/ingest/rtsp_server.py) for the RTSP tests: GStreamer's RTSP
server run by Debian's /usr/bin/python3, started and stopped by the tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from pathlib import Path

from tests.conftest import skip_or_fail

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).with_name("rtsp_server.py")
REQUIRE = "KELIAN_TEST_REQUIRE_RTSP"
PACKAGES = ("python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
            "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gstreamer_missing() -> str | None:
    """Why the test camera cannot run here, or None."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} is missing"
    probe = ("import gi; gi.require_version('Gst', '1.0'); "
             "gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "missing = [e for e in ('videotestsrc', 'x264enc', 'rtph264pay', 'alawenc', "
             "'rtppcmapay', 'jpegenc', 'rtpjpegpay') if not Gst.ElementFactory.find(e)]; "
             "assert not missing, f'no GStreamer element {missing}'")
    done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True,
                          check=False)
    if done.returncode == 0:
        return None
    return (done.stderr.strip().splitlines() or ["?"])[-1]


def require_gstreamer() -> None:
    """Skip (or fail, with KELIAN_TEST_REQUIRE_RTSP=1) without GStreamer's RTSP server."""
    missing = gstreamer_missing()
    if missing is not None:
        skip_or_fail(f"GStreamer's RTSP server is not installed (apt-get install {PACKAGES}): "
                     f"{missing}", REQUIRE)


class Camera:
    """The test RTSP server; stopping and starting it again is a camera dropping and
    returning."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, mount: str = "h264") -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def start_now(self) -> None:
        self.process = subprocess.Popen([SYSTEM_PYTHON, str(SERVER), "--port", str(self.port)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # READY once it listens
        assert line.strip() == b"READY", line

    def stop_now(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            process.wait(10)
            if process.stdout is not None:
                process.stdout.close()

    async def start(self) -> None:
        await asyncio.to_thread(self.start_now)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_now)
