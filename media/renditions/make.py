"""make_renditions: one source file in, a finished library rendition directory out.

Everything is written into a hidden sibling directory and renamed into place only when all of
it succeeded, so a directory named `out_dir` is always complete; a failure or a cancel removes
the partial work.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import RenditionError
from .hls import AAC_LC, Variant, master_playlist, segment_stats
from .pipeline import CancelCheck, Pass, ProgressCallback
from .plan import plan_ladder
from .probe import MediaFacts, probe
from .stills import Stills

MASTER = "master.m3u8"


@dataclass(frozen=True)
class Rung:
    name: str  # "720p"
    width: int
    height: int
    bandwidth: int  # peak segment bitrate, bits per second (HLS BANDWIDTH)
    average_bandwidth: int
    codecs: str  # e.g. 'avc1.640028,mp4a.40.2'
    playlist: Path
    copied: bool  # the source's video, remuxed
    segments: tuple[float, ...]  # segment durations, seconds


@dataclass(frozen=True)
class RenditionResult:
    directory: Path
    duration: float  # seconds, as transcoded
    master: Path
    rungs: tuple[Rung, ...]  # tallest first
    poster: Path
    sprite: Path
    vtt: Path
    thumbnail_interval: float
    facts: MediaFacts
    elapsed: float  # wall seconds
    speed: float  # × real time


def make_renditions(source: Path, out_dir: Path, on_progress: ProgressCallback | None = None,
                    should_cancel: CancelCheck | None = None) -> RenditionResult:
    """Probe `source`, write its HLS ladder, poster, sprite and WebVTT thumbnails to `out_dir`
    (replacing an older one), and describe them. Blocking and CPU-bound: run it in a worker
    thread or process. Raises RenditionError; then `out_dir` is untouched."""
    started = time.monotonic()
    facts = probe(source)
    plans = plan_ladder(facts)
    out_dir = out_dir.absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        work.chmod(0o755)  # mkdtemp's 0700 would hide the library from a web server's user
        stills = Stills(facts.duration, facts.display_width, facts.height)
        transcode = Pass(source, facts, plans, work, stills, on_progress, should_cancel)
        outputs = transcode.run()
        files = stills.finish(work, fallback=transcode.last_frame)
        variants = []
        for out in outputs:
            stats = segment_stats(out.playlist)
            video_codec = out.codecs[0] if out.codecs else "avc1.640028"
            codecs = f"{video_codec},{AAC_LC}" if out.audio is not None else video_codec
            variants.append((out, Variant(f"{out.plan.name}/{out.playlist.name}", out.plan.width,
                                          out.plan.height, facts.fps, codecs, stats)))
        (work / MASTER).write_text(master_playlist([v for _, v in variants]))
        _replace(work, out_dir)
    except OSError as exc:  # a full disk, a vanished directory
        shutil.rmtree(work, ignore_errors=True)
        raise RenditionError("failed", f"writing the renditions failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    elapsed = time.monotonic() - started
    duration = max(v.stats.duration for _, v in variants)
    rungs = tuple(
        Rung(out.plan.name, out.plan.width, out.plan.height, v.stats.peak_bitrate,
             v.stats.average_bitrate, v.codecs, out_dir / v.playlist, out.plan.copy,
             tuple(v.stats.segments))
        for out, v in variants)
    return RenditionResult(
        directory=out_dir, duration=round(duration, 3), master=out_dir / MASTER, rungs=rungs,
        poster=out_dir / files.poster.name, sprite=out_dir / files.sprite.name,
        vtt=out_dir / files.vtt.name, thumbnail_interval=files.thumbnail_interval, facts=facts,
        elapsed=round(elapsed, 3), speed=round(facts.duration / elapsed, 3) if elapsed else 0.0)


def _replace(work: Path, out_dir: Path) -> None:
    """Rename the finished work into place; an older rendition is moved aside first and only
    deleted once the new one is there."""
    old: Path | None = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
        out_dir.rename(old / out_dir.name)
    try:
        work.rename(out_dir)
    except OSError as exc:
        if old is not None:
            (old / out_dir.name).rename(out_dir)
        raise RenditionError("failed", f"could not move the renditions into {out_dir}: {exc}") \
            from exc
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
