"""Plots as inline SVG text (standard library only): what the model card page draws its figures with.

Why not matplotlib (measured here, December 2026, with ``python3 -m pip install --no-compile -t
/tmp/mpl matplotlib==3.11.2``, numpy's folders removed, then ``python3 scripts/trim_layer.py /tmp/mpl``):
matplotlib with what it needs beyond numpy is 79.8 MiB installed and 45.9 MiB after the layers' own
trims, more than the 29.2 MiB the training layer's functions have left of Lambda's 250 MiB
(BENCHMARKS.md). It would fit beside Evaluate's serving layer or in a layer of Promote's own, but as
one more layer to build, lock and trim, and `import matplotlib.pyplot` took 1.6-2.4 s here. SVG text
needs nothing, so Promote renders the page with the layer it has; the plots scale, stay searchable,
and the card's JSON keeps every number they are drawn from.

Each function returns one ``<svg>`` element with a viewBox (it scales to its container), a <title>
for screen readers, axes with ticks, and data drawn as <polyline>, <path>, <rect> and <circle>
elements. Every text that comes from data (labels, names) is escaped here; callers pass plain text.
Values that are None are gaps: a line breaks there, a bar is not drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise

WIDTH, HEIGHT = 440, 320
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 28, 48
INK, GRID, MUTED = "#1f2933", "#d9dee3", "#7b8794"
PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df")
LABEL_CHARS = 22  # longer labels are cut in the plot; the <title> of each mark keeps the full text


def _t(text: object) -> str:
    return escape(str(text), quote=True)


def fmt(value: float | None) -> str:
    """A number as a plot or table shows it: 4 significant digits, thousands apart; None as a dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:,.4g}" if abs(value) >= 1000 else f"{value:.4g}"


def short(label: str, chars: int = LABEL_CHARS) -> str:
    return label if len(label) <= chars else label[: chars - 1] + "\u2026"


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (steps of 1, 2 or 5 times a power of ten) within [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    return [round(i * step, 12) for i in range(first, math.floor(high / step + 1e-9) + 1)]


def padded(values: Sequence[float | None], include: Sequence[float] = ()) -> tuple[float, float]:
    """A range holding every value and `include`, with 5% room; a unit range around a single value."""
    present = [v for v in values if v is not None and math.isfinite(v)] + list(include)
    if not present:
        return 0.0, 1.0
    low, high = min(present), max(present)
    if high == low:
        return low - 0.5, high + 0.5
    room = (high - low) * 0.05
    return low - room, high + room


@dataclass(frozen=True)
class Canvas:
    """The data ranges and the pixel box they map to."""

    x_range: tuple[float, float]
    y_range: tuple[float, float]
    left: float = LEFT
    right: float = WIDTH - RIGHT
    top: float = TOP
    bottom: float = HEIGHT - BOTTOM

    def x(self, value: float) -> float:
        low, high = self.x_range
        return self.left + (value - low) / (high - low) * (self.right - self.left)

    def y(self, value: float) -> float:
        low, high = self.y_range
        return self.bottom - (value - low) / (high - low) * (self.bottom - self.top)


def _svg(title: str, body: list[str], width: int = WIDTH, height: int = HEIGHT) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{_t(title)}" font-family="sans-serif" font-size="11">'
            f'<title>{_t(title)}</title>' + "".join(body) + "</svg>")


def _x_grid(frame: Canvas) -> list[str]:
    """A vertical grid line and a label at each round value of the x range."""
    out = []
    for value in ticks(*frame.x_range):
        x = frame.x(value)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top:.1f}" y2="{frame.bottom:.1f}" stroke="{GRID}"/>'
                   f'<text x="{x:.1f}" y="{frame.bottom + 16:.1f}" text-anchor="middle" fill="{MUTED}">'
                   f"{_t(fmt(value))}</text>")
    return out


def _x_label(frame: Canvas, text: str, y: float) -> str:
    return (f'<text x="{(frame.left + frame.right) / 2:.1f}" y="{y:.1f}" text-anchor="middle" fill="{INK}">'
            f"{_t(text)}</text>")


def _axes(frame: Canvas, x_label: str, y_label: str) -> list[str]:
    """Grid lines and labels on both axes, the plot's frame and the axes' names."""
    out = _x_grid(frame)
    for value in ticks(*frame.y_range):
        y = frame.y(value)
        out.append(f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
                   f'<text x="{frame.left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
                   f"{_t(fmt(value))}</text>")
    out.append(f'<rect x="{frame.left:.1f}" y="{frame.top:.1f}" width="{frame.right - frame.left:.1f}" '
               f'height="{frame.bottom - frame.top:.1f}" fill="none" stroke="{INK}"/>')
    out.append(_x_label(frame, x_label, HEIGHT - 10))
    middle = (frame.top + frame.bottom) / 2
    out.append(f'<text x="14" y="{middle:.1f}" text-anchor="middle" fill="{INK}" '
               f'transform="rotate(-90 14 {middle:.1f})">{_t(y_label)}</text>')
    return out


@dataclass(frozen=True)
class Series:
    name: str
    xs: Sequence[float | None]
    ys: Sequence[float | None]
    dashed: bool = False
    dots: bool = False  # a circle at each point (binned values) besides the line
    line: bool = True  # False: the dots alone (events in time), with a dot in the legend
    color: str | None = None  # None: the palette's, by the series' place


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Whisker:
    """A vertical range at x (e.g. the 10%-90% spread of a bin)."""

    x: float
    low: float
    high: float


def _runs(xs: Sequence[float | None], ys: Sequence[float | None]) -> list[list[tuple[float, float]]]:
    """The points as runs without gaps (a None on either axis ends a run)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys):
        if x is None or y is None:
            runs.append([])
        else:
            runs[-1].append((x, y))
    return [r for r in runs if r]


def line_plot(title: str, series: Sequence[Series], *, x_label: str, y_label: str,
              x_range: tuple[float, float], y_range: tuple[float, float], markers: Sequence[Marker] = (),
              whiskers: Sequence[Whisker] = (), legend: str = "lower right") -> str:
    """Lines (one <polyline> per run of each series) in the given ranges, with a legend in the corner
    `legend` names ("lower right", "lower left", "upper left"), where the curves leave room."""
    frame = Canvas(x_range, y_range)
    legend_x = frame.right - 150 if legend.endswith("right") else frame.left + 10
    legend_y = frame.bottom - 14 * len(series) - 4 if legend.startswith("lower") else frame.top + 10
    body = _axes(frame, x_label, y_label)
    for w in whiskers:
        x = frame.x(w.x)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.y(w.low):.1f}" y2="{frame.y(w.high):.1f}" '
                    f'stroke="{MUTED}" stroke-width="1.5"/>')
    for i, s in enumerate(series):
        color = s.color or (MUTED if s.dashed else PALETTE[i % len(PALETTE)])
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        for run in _runs(s.xs, s.ys):
            points = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in run)
            if s.line:
                body.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"{dash}>'
                            f'<title>{_t(s.name)}</title></polyline>')
            if s.dots or not s.line:
                body.extend(f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="{3 if s.line else 4}" '
                            f'fill="{color}"/>' for x, y in run)
        y = legend_y + 4 + 14 * i
        sample = (f'<line x1="{legend_x:.1f}" x2="{legend_x + 18:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" '
                  f'stroke-width="2"{dash}/>' if s.line else
                  f'<rect x="{legend_x + 5:.1f}" y="{y - 4:.1f}" width="8" height="8" rx="4" fill="{color}"/>')
        body.append(f'{sample}<text x="{legend_x + 22:.1f}" y="{y + 4:.1f}" fill="{INK}">{_t(short(s.name, 24))}</text>')
    for m in markers:
        body.append(f'<circle cx="{frame.x(m.x):.1f}" cy="{frame.y(m.y):.1f}" r="5" fill="{PALETTE[1]}" stroke="white">'
                    f'<title>{_t(m.label)}</title></circle>')
    return _svg(title, body)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], errors: Sequence[float | None],
              *, x_label: str) -> str:
    """Horizontal bars from zero, one row per label (top to bottom), each with a +/- error whisker."""
    left = 170
    rows = max(len(labels), 1)
    height = TOP + 18 * rows + BOTTOM
    ends = [v + s * (e or 0.0) for v, e in zip(values, errors) if v is not None for s in (-1, 1)]
    frame = Canvas(padded(ends, include=[0.0]), (0.0, float(rows)), left=left, bottom=height - BOTTOM)
    body = _x_grid(frame)
    zero = frame.x(0.0)
    for i, (label, value, error) in enumerate(zip(labels, values, errors)):
        y = frame.top + 18 * i
        body.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" fill="{INK}">{_t(short(label))}'
                    f'<title>{_t(label)}</title></text>')
        if value is None:
            continue
        x0, x1 = sorted((zero, frame.x(value)))
        body.append(f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 0.5):.1f}" height="12" fill="{PALETTE[0]}">'
                    f'<title>{_t(label)}: {_t(fmt(value))} \u00b1 {_t(fmt(error))}</title></rect>')
        if error:
            body.append(f'<line x1="{frame.x(value - error):.1f}" x2="{frame.x(value + error):.1f}" y1="{y + 9}" '
                        f'y2="{y + 9}" stroke="{INK}" stroke-width="1.5"/>')
    body.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{frame.top}" y2="{frame.bottom}" stroke="{INK}"/>')
    body.append(_x_label(frame, x_label, height - 10))
    return _svg(title, body, height=height)


def histogram(title: str, edges: Sequence[float], counts: Sequence[int], *, x_label: str, y_label: str = "rows",
              mark: float | None = None) -> str:
    """Bars over the bins between consecutive `edges`; a dashed vertical line at `mark` (e.g. zero)."""
    frame = Canvas((edges[0], edges[-1]), (0.0, max(max(counts, default=0), 1) * 1.05))
    body = _axes(frame, x_label, y_label)
    for (low, high), count in zip(pairwise(edges), counts):
        x0, x1, top = frame.x(low), frame.x(high), frame.y(count)
        body.append(f'<rect x="{x0:.1f}" y="{top:.1f}" width="{max(x1 - x0 - 1, 0.5):.1f}" '
                    f'height="{frame.bottom - top:.1f}" fill="{PALETTE[0]}"><title>[{_t(fmt(low))}, {_t(fmt(high))}): '
                    f'{_t(fmt(count))}</title></rect>')
    if mark is not None and edges[0] <= mark <= edges[-1]:
        x = frame.x(mark)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top}" y2="{frame.bottom}" stroke="{PALETTE[1]}" '
                    'stroke-dasharray="5 4" stroke-width="1.5"/>')
    return _svg(title, body)


def heatmap(title: str, rows: Sequence[str], columns: Sequence[str], counts: Sequence[Sequence[int]], *,
            x_label: str, y_label: str) -> str:
    """A matrix of counts: each cell's shade is its share of its row, its count written in it."""
    n = max(len(rows), 1)
    cell = max(16.0, min(80.0, 360.0 / n))
    left, top = 150, 24
    width = int(left + cell * len(columns) + 16)
    height = int(top + cell * n + 80)
    body = []
    for i, (label, row) in enumerate(zip(rows, counts)):
        total = sum(row) or 1
        y = top + cell * i
        body.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end" fill="{INK}">'
                    f'{_t(short(label))}<title>{_t(label)}</title></text>')
        for j, count in enumerate(row):
            share = count / total
            x = left + cell * j
            shade = f"rgba(31,111,235,{0.06 + 0.94 * share:.3f})"
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" fill="{shade}" '
                        f'stroke="white"><title>true {_t(label)}, answered {_t(columns[j])}: {count:,} '
                        f'({share:.1%} of the row)</title></rect>')
            if cell >= 24:
                body.append(f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" '
                            f'fill="{"white" if share > 0.55 else INK}">{count:,}</text>')
    for j, label in enumerate(columns):
        x = left + cell * j + cell / 2
        y = top + cell * n + 8
        body.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="end" fill="{INK}" '
                    f'transform="rotate(-45 {x:.1f} {y:.1f})">{_t(short(label, 14))}<title>{_t(label)}</title></text>')
    body.append(f'<text x="{left + cell * len(columns) / 2:.1f}" y="{height - 8}" text-anchor="middle" '
                f'fill="{INK}">{_t(x_label)}</text>')
    body.append(f'<text x="12" y="{top + cell * n / 2:.1f}" text-anchor="middle" fill="{INK}" '
                f'transform="rotate(-90 12 {top + cell * n / 2:.1f})">{_t(y_label)}</text>')
    return _svg(title, body, width=width, height=height)


def interval_plot(title: str, estimate: float, low: float, high: float, *, margin: float, x_label: str) -> str:
    """An estimate and its interval on one axis, with zero and the margin it must clear marked."""
    height = 120
    frame = Canvas(padded([estimate, low, high], include=[0.0, margin]), (0.0, 1.0), top=20, bottom=height - 44)
    body = _x_grid(frame)
    for value, name, color in ((0.0, "no change", INK), (margin, f"margin {fmt(margin)}", PALETTE[1])):
        x = frame.x(value)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top}" y2="{frame.bottom}" stroke="{color}" '
                    f'stroke-dasharray="5 4"><title>{_t(name)}</title></line>')
    middle = (frame.top + frame.bottom) / 2
    body.append(f'<path d="M{frame.x(low):.1f},{middle - 8:.1f} v16 M{frame.x(low):.1f},{middle:.1f} '
                f'H{frame.x(high):.1f} M{frame.x(high):.1f},{middle - 8:.1f} v16" stroke="{PALETTE[0]}" '
                f'stroke-width="2.5" fill="none"><title>interval [{_t(fmt(low))}, {_t(fmt(high))}]</title></path>')
    body.append(f'<circle cx="{frame.x(estimate):.1f}" cy="{middle:.1f}" r="5" fill="{PALETTE[0]}">'
                f'<title>estimate {_t(fmt(estimate))}</title></circle>')
    body.append(_x_label(frame, x_label, height - 8))
    return _svg(title, body, height=height)


def sparkline_histogram(title: str, edges: Sequence[float], counts: Sequence[int], width: int = 100,
                        height: int = 22) -> str:
    """A tiny histogram for a table cell: bins as wide as their edges are apart, as tall as their density
    (count / width), so bins between quantiles (equal counts, unequal widths) still show the shape."""
    spans = [high - low for low, high in pairwise(edges)]
    if len(counts) != len(spans) or not spans or edges[-1] <= edges[0]:  # one value: one full bar
        spans, edges = [1.0], [0.0, 1.0]
        counts = [sum(counts)]
    density = [c / s if s > 0 else 0.0 for c, s in zip(counts, spans)]
    peak = max(max(density), 1e-300)
    scale = width / (edges[-1] - edges[0])
    body = [f'<rect x="{(low - edges[0]) * scale:.1f}" y="{height - height * d / peak:.1f}" '
            f'width="{max(span * scale - 0.5, 0.5):.1f}" height="{height * d / peak:.1f}" fill="{PALETTE[0]}"/>'
            for low, span, d in zip(edges, spans, density)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{_t(title)}"><title>{_t(title)}</title>' + "".join(body) + "</svg>")
