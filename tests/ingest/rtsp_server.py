"""A test IP camera: GStreamer's RTSP server on loopback, run with Debian's /usr/bin/python3
(which has `gi`; the venv's Python does not).

    /usr/bin/python3 tests/ingest/rtsp_server.py --port 8554

Mounts:
- /h264: 640x360 H.264 (constrained baseline, no B-frames, a keyframe every 2 s) and PCMA
  audio, as most classroom IP cameras send;
- /mjpeg: MJPEG video only, which the relay cannot forward and Kelian transcodes once.

Prints READY once it listens; SIGTERM or SIGINT stops it (that is a camera dropping).
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

H264 = ("( videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,"
        "framerate=25/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=50 "
        "bitrate=600 ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 "
        "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 ! alawenc ! "
        "rtppcmapay name=pay1 pt=8 )")
MJPEG = ("( videotestsrc is-live=true pattern=smpte ! video/x-raw,format=I420,width=320,"
         "height=240,framerate=15/1 ! jpegenc quality=60 ! rtpjpegpay name=pay0 pt=26 )")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for path, launch in (("/h264", H264), ("/mjpeg", MJPEG)):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)  # one encoder however many clients, like a camera
        mounts.add_factory(path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        sys.exit(1)
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print("READY", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
