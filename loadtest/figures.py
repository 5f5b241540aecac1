"""Turning what the processes measured into one run's figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .subscriber import SubscriberFigures


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


@dataclass
class RunFigures:
    scenario: str
    target: str
    subscribers: int
    subscribers_measured: int
    window_s: float
    packets_forwarded: int  # received by all subscribers in the window
    server_packets_forwarded: int | None  # the server's own count, when it keeps one
    cpu_us_per_packet: float | None
    cpu_ms_per_subscriber_s: float | None  # server CPU ms per subscriber per second
    kbps_per_subscriber: float | None  # what a subscriber received (RTP, audio + video)
    server_cpu_cores: float  # server CPU seconds per wall second in the window
    subscribers_per_core: float | None
    loss_pct: float | None  # mean over subscribers
    loss_pct_max: float | None
    delay_p50_ms: float | None
    delay_p99_ms: float | None
    delay_matched_pct: float | None
    join_p50_ms: float | None
    join_p99_ms: float | None
    joins_without_keyframe: int
    rss_mb_per_subscriber: float | None
    server_rss_mb: float
    keyframe_requests_at_publisher: int
    keyframe_requests_in_window: int
    generator_cpu_cores: float  # subscriber workers + publisher, per wall second
    publisher_packets_sent: int
    loadavg: tuple[float, float, float]
    errors: list[str]
    # Datagrams the kernel dropped in the window (full receive buffers, /proc/net/udp) on the
    # server's sockets and on the publisher's and subscribers'.
    server_udp_drops: int | None = None
    generator_udp_drops: int | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def summarise(*, scenario: str, target: str, subscribers: int, window_s: float,
              figures: list[SubscriberFigures], server_cpu_s: float,
              server_rss_base: int, server_rss_end: int, server_forwarded: int | None,
              keyframe_requests: list[float], t0: float, t1: float, generator_cpu_s: float,
              publisher_packets_sent: int, loadavg: tuple[float, float, float],
              errors: list[str], server_udp_drops: int | None = None,
              generator_udp_drops: int | None = None) -> RunFigures:
    forwarded = sum(f.packets for f in figures)
    losses = [100 * (1 - f.packets / f.expected) if f.expected else 100.0 for f in figures]
    losses += [100.0] * (subscribers - len(figures))  # a subscriber that never joined lost it all
    delays = [d for f in figures for d in f.delays_ms]
    unmatched = sum(f.unmatched for f in figures)
    joins = [f.join_s * 1000 for f in figures if f.join_s is not None]
    cores = server_cpu_s / window_s
    return RunFigures(
        scenario=scenario, target=target, subscribers=subscribers,
        subscribers_measured=len(figures), window_s=round(window_s, 2),
        packets_forwarded=forwarded, server_packets_forwarded=server_forwarded,
        cpu_us_per_packet=_r(server_cpu_s * 1e6 / forwarded if forwarded else None),
        cpu_ms_per_subscriber_s=_r(cores * 1000 / subscribers if subscribers else None),
        kbps_per_subscriber=_r(sum(f.octets for f in figures) * 8 / 1000 / window_s / len(figures)
                               if figures else None, 0),
        server_cpu_cores=round(cores, 3),
        subscribers_per_core=_r(subscribers / cores if cores > 0 else None, 1),
        loss_pct=_r(sum(losses) / len(losses) if losses else None, 3),
        loss_pct_max=_r(max(losses) if losses else None, 3),
        delay_p50_ms=_r(percentile(delays, 50)), delay_p99_ms=_r(percentile(delays, 99)),
        delay_matched_pct=_r(100 * len(delays) / (len(delays) + unmatched)
                             if delays or unmatched else None, 1),
        join_p50_ms=_r(percentile(joins, 50), 0), join_p99_ms=_r(percentile(joins, 99), 0),
        joins_without_keyframe=len(figures) - len(joins),
        rss_mb_per_subscriber=_r((server_rss_end - server_rss_base) / 2**20 / subscribers
                                 if subscribers else None, 3),
        server_rss_mb=round(server_rss_end / 2**20, 1),
        keyframe_requests_at_publisher=len(keyframe_requests),
        keyframe_requests_in_window=sum(1 for t in keyframe_requests if t0 <= t < t1),
        generator_cpu_cores=round(generator_cpu_s / window_s, 3),
        publisher_packets_sent=publisher_packets_sent,
        loadavg=loadavg, errors=errors[:20], server_udp_drops=server_udp_drops,
        generator_udp_drops=generator_udp_drops)
