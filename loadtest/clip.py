"""The pre-encoded test clip: 720p30 VP8 at ~1.5 Mbit/s with a moving pattern, plus Opus.

Generated once with PyAV and cached as a small binary file of encoded packets, so the
publisher only paces and sends them. Besides the main video stream (one keyframe per loop),
every frame is also encoded intra-only: when a keyframe is requested (PLI/FIR) the publisher
splices in the intra version of the next frame, as a live encoder would. Subscribers never
decode, so the reference drift this causes does not matter.
"""

from __future__ import annotations

import math
import os
import random
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

WIDTH, HEIGHT, FPS = 1280, 720, 30
VIDEO_BITRATE = 1_500_000
KEYFRAME_BITRATE = 6_000_000  # the intra-only stream: keyframes of a realistic size
AUDIO_RATE, AUDIO_SAMPLES = 48_000, 960  # 20 ms Opus frames
CLIP_SECONDS = 10
FORMAT_VERSION = 1
_RECORD = struct.Struct(">BBqI")  # stream, keyframe, pts, length

MAIN, INTRA, AUDIO = 0, 1, 2
VIDEO_TIME_BASE = Fraction(1, 90_000)
AUDIO_TIME_BASE = Fraction(1, AUDIO_RATE)


@dataclass(frozen=True)
class EncodedPacket:
    pts: int
    keyframe: bool
    data: bytes


@dataclass(frozen=True)
class Clip:
    video: list[EncodedPacket]  # pts in 1/90000
    intra: list[EncodedPacket]  # same frames, every one a keyframe
    audio: list[EncodedPacket]  # pts in 1/48000

    @property
    def seconds(self) -> float:
        return len(self.video) / FPS

    def video_bitrate(self) -> float:
        return sum(len(p.data) for p in self.video) * 8 / self.seconds


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kelian-loadtest"


def clip_path(cache_dir: Path, seconds: int = CLIP_SECONDS) -> Path:
    return cache_dir / f"clip-v{FORMAT_VERSION}-{WIDTH}x{HEIGHT}p{FPS}-{seconds}s.bin"


def load_clip(cache_dir: Path | None = None, seconds: int = CLIP_SECONDS) -> Clip:
    """The cached clip, generating it first when it is missing (~5 s of CPU per clip second)."""
    path = clip_path(cache_dir or default_cache_dir(), seconds)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as out:
            for stream, packets in enumerate(_generate(seconds)):
                for p in packets:
                    out.write(_RECORD.pack(stream, p.keyframe, p.pts, len(p.data)))
                    out.write(p.data)
        tmp.replace(path)
    return _read(path)


def _read(path: Path) -> Clip:
    streams: list[list[EncodedPacket]] = [[], [], []]
    data = path.read_bytes()
    at = 0
    while at < len(data):
        stream, keyframe, pts, length = _RECORD.unpack_from(data, at)
        at += _RECORD.size
        streams[stream].append(EncodedPacket(pts, bool(keyframe), data[at : at + length]))
        at += length
    return Clip(*streams)


# Generation --------------------------------------------------------------------------------


def _video_encoder(bitrate: int, gop: int) -> av.VideoCodecContext:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = WIDTH, HEIGHT
    codec.pix_fmt = "yuv420p"
    codec.time_base = Fraction(1, FPS)
    codec.framerate = Fraction(FPS, 1)
    codec.bit_rate = bitrate
    codec.gop_size = gop
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                     "keyint_min": str(gop),
                     "maxrate": str(bitrate), "bufsize": str(bitrate)}
    codec.thread_count = 2
    return codec  # type: ignore[return-value]


def _frames(seconds: int) -> list[av.VideoFrame]:
    """A pseudo-random texture sliding diagonally, with a flickering noise band (so the encoder
    has real work every frame and spends its bitrate)."""
    rng = random.Random(42)
    tile_w = WIDTH + 2 * FPS * seconds
    texture = bytes(rng.getrandbits(8) // 4 + 96 for _ in range(tile_w))
    rows = [texture[(y * 7) % 97 :] + texture[: (y * 7) % 97] for y in range(64)]
    chroma = bytes([128]) * (WIDTH * HEIGHT // 4)
    frames = []
    for index in range(FPS * seconds):
        shift = 2 * index
        band_top = (index * 8) % (HEIGHT - 48)
        lines = []
        for y in range(HEIGHT):
            if band_top <= y < band_top + 8:
                lines.append(rng.randbytes(WIDTH))
            else:
                row = rows[(y + index) % 64]
                lines.append(row[shift : shift + WIDTH])
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(b"".join(lines))
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = index
        frame.time_base = Fraction(1, FPS)
        frames.append(frame)
    return frames


def _encode_video(frames: list[av.VideoFrame], bitrate: int, gop: int) -> list[EncodedPacket]:
    codec = _video_encoder(bitrate, gop)
    out: list[EncodedPacket] = []
    for frame in [*frames, None]:
        for packet in codec.encode(frame):
            assert packet.pts is not None
            out.append(EncodedPacket(packet.pts * (90_000 // FPS), packet.is_keyframe,
                                     bytes(packet)))
    return out


def _encode_audio(seconds: int) -> list[EncodedPacket]:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 32_000
    codec.time_base = AUDIO_TIME_BASE
    out: list[EncodedPacket] = []
    frames = AUDIO_RATE * seconds // AUDIO_SAMPLES
    for index in range(frames + 1):
        frame = None
        if index < frames:
            start = index * AUDIO_SAMPLES
            samples = b"".join(
                struct.pack("<hh", v, v) for v in
                (int(6000 * math.sin(2 * math.pi * 440 * (start + i) / AUDIO_RATE))
                 for i in range(AUDIO_SAMPLES)))
            frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_SAMPLES)
            frame.planes[0].update(samples)
            frame.sample_rate = AUDIO_RATE
            frame.pts = start
            frame.time_base = AUDIO_TIME_BASE
        for packet in codec.encode(frame):
            if packet.pts is not None and packet.pts >= 0:
                out.append(EncodedPacket(packet.pts, True, bytes(packet)))
    return out


def _generate(seconds: int) -> tuple[list[EncodedPacket], list[EncodedPacket],
                                     list[EncodedPacket]]:
    frames = _frames(seconds)
    main = _encode_video(frames, VIDEO_BITRATE, gop=FPS * seconds)
    intra = _encode_video(frames, KEYFRAME_BITRATE, gop=1)
    return main, intra, _encode_audio(seconds)
