"""Small charts as inline SVG, drawn on the server: no script, nothing to download.

Colours are SVG presentation attributes, not inline styles, so the pages' Content Security
Policy (no inline styles) lets them through. Every text is escaped here; the result is Markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

GRADE_COLOURS = {"good": "#2e9e5b", "fair": "#d99a00", "poor": "#c8372d", None: "#d5dbe3"}
BAND_COLOURS = {"good": "#e7f5ed", "fair": "#fdf3dc", "poor": "#fdecea"}
LINE_COLOURS = ("#0b5a8a", "#c8372d")


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float | None]]  # (x, y); None breaks the line
    dashed: bool = False


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    grade: str  # good | fair | poor


@dataclass(frozen=True)
class Mark:
    x: float
    label: str


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def line_chart(series: Sequence[Series], x_max: float, y_max: float, *, title: str, unit: str,
               bands: Sequence[Band] = (), marks: Sequence[Mark] = (),
               ticks: Sequence[Mark] = (), width: int = 720, height: int = 200) -> Markup:
    """Lines over shaded grade bands; `marks` are labelled vertical rules (planned start and
    end), `ticks` the x-axis labels. y is clipped at `y_max`."""
    left, right, top, bottom = 44, 12, 22, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max, y_max = max(x_max, 1e-9), max(y_max, 1e-9)

    def x(v: float) -> float:
        return left + plot_w * min(max(v, 0.0), x_max) / x_max

    def y(v: float) -> float:
        return top + plot_h * (1 - min(max(v, 0.0), y_max) / y_max)

    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>"]
    for band in bands:
        low, high = y(band.low), y(min(band.high, y_max))
        if band.low < y_max:
            out.append(f'<rect x="{left}" y="{_f(high)}" width="{plot_w}" '
                       f'height="{_f(low - high)}" fill="{BAND_COLOURS[band.grade]}"/>')
    for value in (0.0, y_max / 2, y_max):
        out.append(f'<text x="{left - 6}" y="{_f(y(value) + 4)}" text-anchor="end" '
                   f'font-size="11" fill="#4a5566">{_f(value)}</text>')
    out.append(f'<text x="{left - 6}" y="12" text-anchor="end" font-size="11" '
               f'fill="#4a5566">{escape(unit)}</text>')
    out.append(f'<line x1="{left}" y1="{_f(y(0))}" x2="{left + plot_w}" y2="{_f(y(0))}" '
               f'stroke="#aeb8c5"/>')
    for tick in ticks:
        out.append(f'<text x="{_f(x(tick.x))}" y="{height - 6}" text-anchor="middle" '
                   f'font-size="11" fill="#4a5566">{escape(tick.label)}</text>')
    for mark in marks:
        at_right = x(mark.x) > left + plot_w * 0.8  # label on the inner side of the rule
        out.append(f'<line x1="{_f(x(mark.x))}" y1="{top}" x2="{_f(x(mark.x))}" '
                   f'y2="{_f(y(0))}" stroke="#4a5566" stroke-dasharray="2 3"/>'
                   f'<text x="{_f(x(mark.x) + (-3 if at_right else 3))}" y="{top + 10}" '
                   f'text-anchor="{"end" if at_right else "start"}" font-size="11" '
                   f'fill="#4a5566">{escape(mark.label)}</text>')
    for i, line in enumerate(series):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        for run in _runs(line.points):
            if len(run) == 1:
                out.append(f'<circle cx="{_f(x(run[0][0]))}" cy="{_f(y(run[0][1]))}" r="2" '
                           f'fill="{colour}"/>')
            else:
                path = " ".join(f"{_f(x(a))},{_f(y(b))}" for a, b in run)
                out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                           f'stroke-width="2"{dash}/>')
    legend_x = left + 8
    for i, line in enumerate(series):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        out.append(f'<line x1="{legend_x}" y1="{top - 8}" x2="{legend_x + 18}" y2="{top - 8}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/>'
                   f'<text x="{legend_x + 22}" y="{top - 4}" font-size="11" '
                   f'fill="#18212c">{escape(line.label)}</text>')
        legend_x += 200
    out.append("</svg>")
    return Markup("".join(out))


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """The points split where a value is missing."""
    runs: list[list[tuple[float, float]]] = [[]]
    for px, py in points:
        if py is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((px, py))
    return [run for run in runs if run]


@dataclass(frozen=True)
class Cell:
    x: float  # minutes from the strip's start
    grade: str | None
    tip: str


def grade_strip(cells: Sequence[Cell], x_max: float, *, title: str, width: int = 240,
                height: int = 16) -> Markup:
    """One coloured cell per minute (grey: no figures), each with its figures as a tooltip."""
    x_max = max(x_max, 1.0)
    cell_w = max(1.0, width / x_max)
    out = [f'<svg class="strip" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f3f5f8"/>']
    for cell in cells:
        cx = width * min(max(cell.x, 0.0), x_max) / x_max
        out.append(f'<rect x="{_f(cx)}" y="0" width="{_f(min(cell_w, width - cx))}" '
                   f'height="{height}" fill="{GRADE_COLOURS[cell.grade]}">'
                   f"<title>{escape(cell.tip)}</title></rect>")
    out.append("</svg>")
    return Markup("".join(out))


@dataclass(frozen=True)
class Bar:
    label: str  # under the group, e.g. a week's first day
    values: Sequence[int]  # one per series, side by side


BAR_COLOURS = ("#aeb8c5", "#0b5a8a")


def bar_chart(bars: Sequence[Bar], series: Sequence[str], *, title: str, width: int = 720,
              height: int = 220) -> Markup:
    """Grouped bars, one group per label and one bar per series; each bar's count is written
    above it, so the chart reads without an axis scale."""
    left, right, top, bottom = 12, 12, 28, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = max((v for bar in bars for v in bar.values), default=0) or 1
    group_w = plot_w / max(1, len(bars))
    bar_w = min(28.0, group_w * 0.7 / max(1, len(series)))
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>"]
    base = top + plot_h
    out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" '
               f'stroke="#aeb8c5"/>')
    for i, bar in enumerate(bars):
        centre = left + group_w * (i + 0.5)
        x0 = centre - bar_w * len(bar.values) / 2
        for j, value in enumerate(bar.values):
            h = plot_h * value / y_max
            bx = x0 + j * bar_w
            colour = BAR_COLOURS[j % len(BAR_COLOURS)]
            out.append(f'<rect x="{_f(bx + 1)}" y="{_f(base - h)}" width="{_f(bar_w - 2)}" '
                       f'height="{_f(h)}" fill="{colour}"><title>{escape(series[j])}: '
                       f'{value}</title></rect>'
                       f'<text x="{_f(bx + bar_w / 2)}" y="{_f(base - h - 3)}" '
                       f'text-anchor="middle" font-size="10" fill="#18212c">{value}</text>')
        out.append(f'<text x="{_f(centre)}" y="{height - 6}" text-anchor="middle" '
                   f'font-size="11" fill="#4a5566">{escape(bar.label)}</text>')
    legend_x = left + 8
    for j, name in enumerate(series):
        out.append(f'<rect x="{legend_x}" y="{top - 18}" width="12" height="10" '
                   f'fill="{BAR_COLOURS[j % len(BAR_COLOURS)]}"/>'
                   f'<text x="{legend_x + 16}" y="{top - 9}" font-size="11" '
                   f'fill="#18212c">{escape(name)}</text>')
        legend_x += 140
    out.append("</svg>")
    return Markup("".join(out))
