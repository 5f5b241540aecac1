"""FFmpeg's WHIP muxer (PyAV's FFmpeg 8) publishing a test picture and silence, paced in real
time: `python -m tests.ingest.whip_encoder URL KEY SECONDS CERT KEY_FILE`. A process of its own: PyAV holds
the interpreter while FFmpeg does its HTTP and ICE, so it cannot share the server's loop."""

from __future__ import annotations

import sys
import time
from fractions import Fraction

import av

WIDTH, HEIGHT, FPS = 320, 180, 25


def _picture(index: int) -> av.VideoFrame:
    """A grey picture whose brightness changes each frame (so every frame differs)."""
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    luma = bytes([(index * 7) % 200 + 20]) * (frame.planes[0].line_size * HEIGHT)
    frame.planes[0].update(luma)
    for plane in frame.planes[1:]:
        plane.update(bytes([128]) * (plane.line_size * plane.height))
    frame.pts, frame.time_base = index, Fraction(1, FPS)
    return frame


def _sound(index: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
    frame.planes[0].update(bytes(960 * 4))
    frame.sample_rate = 48_000
    frame.pts, frame.time_base = index * 960, Fraction(1, 48_000)
    return frame


def publish(url: str, key: str, seconds: float, cert: str, private_key: str) -> None:
    # Its own certificate: FFmpeg's GnuTLS build (PyAV's) makes one it never loads, and then
    # fails every handshake; with a certificate file it works (cert_file/key_file).
    options = {"authorization": key, "cert_file": cert, "key_file": private_key}
    output = av.open(url, "w", format="whip", options=options, timeout=(10.0, 10.0))
    video = output.add_stream("libx264", rate=FPS, options={
        "preset": "ultrafast", "tune": "zerolatency", "profile": "baseline", "g": str(FPS),
        "bf": "0"})
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    audio = output.add_stream("libopus", rate=48_000, layout="stereo")
    started = time.monotonic()
    index = 0
    try:
        while index < seconds * FPS:
            for packet in video.encode(_picture(index)):
                output.mux(packet)
            for n in (2 * index, 2 * index + 1):  # two 20 ms sound frames per picture
                for packet in audio.encode(_sound(n)):
                    output.mux(packet)
            index += 1
            time.sleep(max(0.0, started + index / FPS - time.monotonic()))
    finally:
        output.close()


if __name__ == "__main__":
    av.logging.set_level(av.logging.VERBOSE)  # FFmpeg's own account, for a failing test
    publish(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5])


