"""Which rungs a source gets, at what size and bitrate, and which one is copied (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from .probe import MediaFacts

# (height, video bits per second): lessons are mostly a slow camera and slides, so these sit
# below the usual entertainment ladders.
LADDER: tuple[tuple[int, int], ...] = ((1080, 4_500_000), (720, 2_500_000), (360, 800_000))
GOP_SECONDS = 2  # keyframe distance and HLS segment length, the same on every rung
MAX_COPY_KEYFRAME_GAP = 4.0  # a copied rung's segments are as long as the source's GOPs
MAX_COPY_BITRATE_FACTOR = 2.0  # copy a source only if it is not wastefully large for its rung
COPYABLE_PIX_FMTS = ("yuv420p", "yuvj420p")  # what every browser's H.264 decoder takes
AUDIO_BITRATE = {1: 64_000, 2: 128_000}


@dataclass(frozen=True)
class RungPlan:
    name: str  # directory and label, e.g. "720p"
    width: int
    height: int
    video_bitrate: int  # the encoder's target; for a copied rung, the source's measured rate
    copy: bool  # remux the source's packets instead of encoding

    @property
    def maxrate(self) -> int:
        return self.video_bitrate * 3 // 2

    @property
    def bufsize(self) -> int:
        return self.video_bitrate * 2


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def plan_ladder(facts: MediaFacts) -> list[RungPlan]:
    """Rungs no taller than the source, tallest first; a source smaller than the lowest rung
    gets one rung at its own size."""
    aspect = facts.display_width / facts.height
    rungs = []
    for height, bitrate in LADDER:
        if height <= facts.height:
            rungs.append((height, _even(height * aspect), bitrate))
    if not rungs:
        lowest_height, lowest_rate = LADDER[-1]
        height = _even(facts.height)
        rungs.append((height, _even(height * aspect),
                      max(200_000, lowest_rate * height // lowest_height)))
    plans = []
    for height, width, bitrate in rungs:
        copy = _copyable(facts, width, height, bitrate)
        plans.append(RungPlan(f"{height}p", width, height,
                              facts.video_bitrate if copy else bitrate, copy))
    return plans


def _copyable(facts: MediaFacts, width: int, height: int, bitrate: int) -> bool:
    return (facts.video_codec == "h264" and (facts.width, facts.height) == (width, height)
            and not facts.size_changes
            and facts.sample_aspect == 1 and facts.pix_fmt in COPYABLE_PIX_FMTS
            and facts.keyframe_gap_max <= MAX_COPY_KEYFRAME_GAP
            and facts.video_bitrate <= bitrate * MAX_COPY_BITRATE_FACTOR)
