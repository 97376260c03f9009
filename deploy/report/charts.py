"""SVG charts, drawn by hand: horizontal bars, square line charts and columns.

Coordinates are in viewBox units; a chart is drawn at its own width (never scaled up, so its text
stays the page's size) and shrinks with a narrow window. No xmlns attribute: inline SVG in HTML
does not need one, and the page names no URL. ``svg``, ``svg_text`` and ``fit_label`` are the primitives
the sections' own charts (the attribution share grid, the profile chart) are drawn with too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deploy.report.fmt import esc, fmt_pct
from deploy.report.palette import PALETTE

CHAR_W = 7.4  # average width of a 13px sans-serif character, for sizing label columns


def svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" style="max-width:{width}px" '
        f'role="img" aria-label="{esc(label)}"><title>{esc(label)}</title>' + "".join(body) + "</svg>"
    )


def svg_text(x: float, y: float, s: str, anchor: str = "start", cls: str = "", extra: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}{extra}>{esc(s)}</text>'


def fit_label(label: str, max_chars: int) -> str:
    return label if len(label) <= max_chars else label[: max_chars - 1] + "…"


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 × 10^k) from ``lo`` to at least ``hi``."""
    span = hi - lo
    if not math.isfinite(span) or span > 1e12:  # a nonsense value must not take the page down
        span = 1.0
    span = max(span, 1e-12)
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(span / step - 1e-9)
    return [lo + i * step for i in range(n + 1)]


def tick_pct(v: float) -> str:
    """Axis percentages: no decimals unless the ticks need them."""
    p = v * 100
    return f"{p:.0f}%" if abs(p - round(p)) < 1e-6 else f"{p:.1f}%"


def tick_num(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") if v else "0"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    colour: str = PALETTE[0]
    note: str = ""  # written right of the value
    bold: bool = False


def bar_chart(
    bars: Sequence[Bar],
    *,
    lo: float = 0.0,
    hi: float | None = None,
    value_fmt: Callable[[float], str] = fmt_pct,
    tick_fmt: Callable[[float], str] = tick_pct,
    axis_label: str = "",
    label: str = "bar chart",
    width: int = 760,
) -> str:
    """Horizontal bars from ``lo``; each bar's value and ``note`` are written at its end."""
    if not bars:
        return ""
    top = max([hi if hi is not None else lo] + [b.value for b in bars])
    ticks = nice_ticks(lo, top if top > lo else lo + 1.0, 4)
    top = ticks[-1]
    longest = max(len(b.label) for b in bars)
    label_w = min(max(math.ceil(longest * CHAR_W + 14), 80), 300)
    max_chars = longest if label_w < 300 else int((label_w - 14) / CHAR_W)
    tail_w = int(max(len(value_fmt(b.value) + "  " + b.note) for b in bars) * 6.9 + 12)
    plot_w = width - label_w - tail_w
    row_h, bar_h, pad_top = 30, 20, 6
    rows_h = row_h * len(bars)
    height = pad_top + rows_h + (40 if axis_label else 22)
    out: list[str] = []
    for v in ticks:
        x = label_w + plot_w * (v - lo) / (top - lo)
        out.append(
            f'<line x1="{x:.1f}" y1="{pad_top - 2}" x2="{x:.1f}" y2="{pad_top + rows_h}" class="grid"/>'
        )
        out.append(svg_text(x, pad_top + rows_h + 14, tick_fmt(v), "middle", "tick"))
    for i, b in enumerate(bars):
        y = pad_top + i * row_h
        w = max(0.0, min(1.0, (b.value - lo) / (top - lo))) * plot_w
        weight = ' font-weight="700"' if b.bold else ""
        out.append(
            f"<g><title>{esc(b.label)}: {esc(value_fmt(b.value))}{(' — ' + esc(b.note)) if b.note else ''}</title>"
        )
        out.append(
            svg_text(label_w - 8, y + bar_h / 2 + 5, fit_label(b.label, max_chars), "end", "lbl", weight)
        )
        out.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="2" fill="{esc(b.colour)}"/>'
        )
        out.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h / 2 + 5:.1f}" class="val"{weight}>{esc(value_fmt(b.value))}'
            + (f'<tspan class="soft" dx="8">{esc(b.note)}</tspan>' if b.note else "")
            + "</text>"
        )
        out.append("</g>")
    out.append(
        f'<line x1="{label_w}" y1="{pad_top - 2}" x2="{label_w}" y2="{pad_top + rows_h}" class="axisline"/>'
    )
    if axis_label:
        out.append(svg_text(label_w + plot_w / 2, height - 4, axis_label, "middle", "axis"))
    return svg(width, height, out, label)


@dataclass(frozen=True)
class Series:
    points: list[tuple[float, float]]
    label: str
    colour: str = PALETTE[0]
    dashed: bool = False
    markers: bool = False


def xy_chart(
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    scale: float = 1.0,
    label: str = "line chart",
    size: int = 440,
) -> str:
    """A square line chart, both axes share-of-something from 0 to ``scale``, legend lower right."""
    ticks = nice_ticks(0.0, scale, 5)
    scale = ticks[-1]
    left, right, top, bottom = 66, 22, 12, 48
    w, h = size, size - 40
    pw, ph = w - left - right, h - top - bottom

    def px(x: float) -> float:
        return left + max(0.0, min(1.0, x / scale)) * pw

    def py(y: float) -> float:
        return top + (1 - max(0.0, min(1.0, y / scale))) * ph

    out: list[str] = []
    for t in ticks:
        out.append(f'<line x1="{px(t):.1f}" y1="{top}" x2="{px(t):.1f}" y2="{top + ph}" class="grid"/>')
        out.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + pw}" y2="{py(t):.1f}" class="grid"/>')
        out.append(svg_text(px(t), top + ph + 16, tick_pct(t), "middle", "tick"))
        out.append(svg_text(left - 6, py(t) + 4, tick_pct(t), "end", "tick"))
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>')
    out.append(svg_text(left + pw / 2, h - 8, x_label, "middle", "axis"))
    out.append(
        svg_text(
            16, top + ph / 2, y_label, "middle", "axis", f' transform="rotate(-90 16 {top + ph / 2:.1f})"'
        )
    )
    for s in series:
        if not s.points:
            continue
        d = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        sw = 1.5 if s.dashed else 2.5
        out.append(f'<polyline points="{d}" fill="none" stroke="{esc(s.colour)}" stroke-width="{sw}"{dash}/>')
        if s.markers:
            out += [
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{esc(s.colour)}"/>'
                for x, y in s.points
            ]
    # legend in the lower right of the plot, where ROC, gains and calibration curves leave room
    box_w = 40 + max(len(s.label) for s in series) * 7.0
    lx = left + pw - box_w - 4
    ly = top + ph - 8 - 18 * len(series)
    out.append(
        f'<rect x="{lx:.1f}" y="{ly:.1f}" width="{box_w:.1f}" height="{18 * len(series) + 4}" class="legend-bg"/>'
    )
    for i, s in enumerate(series):
        y = ly + 15 + 18 * i
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        out.append(
            f'<line x1="{lx + 6:.1f}" y1="{y - 4:.1f}" x2="{lx + 28:.1f}" y2="{y - 4:.1f}" '
            f'stroke="{esc(s.colour)}" stroke-width="2.5"{dash}/>'
        )
        out.append(svg_text(lx + 34, y, s.label, "start", "legend"))
    return svg(w, h, out, label)


def column_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    colours: Sequence[str],
    ref: float | None = None,
    ref_label: str = "",
    x_label: str = "",
    y_label: str = "",
    label: str = "column chart",
    width: int = 900,
    height: int = 300,
) -> str:
    """Vertical bars with their values on top and an optional dashed reference line (the average)."""
    if not values:
        return ""
    left, right, top, bottom = 66, 12, 18, 52
    pw, ph = width - left - right, height - top - bottom
    ticks = nice_ticks(0.0, max(list(values) + ([ref] if ref is not None else []) + [1e-9]) * 1.08, 4)
    vmax = ticks[-1]
    step = pw / len(values)
    out: list[str] = []
    for v in ticks:
        y = top + ph - ph * v / vmax
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" class="grid"/>')
        out.append(svg_text(left - 6, y + 4, tick_pct(v), "end", "tick"))
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        bh = ph * max(0.0, min(1.0, v / vmax))
        x = left + i * step + step * 0.18
        y = top + ph - bh
        out.append(f"<g><title>{esc(lab)}: {esc(fmt_pct(v))}</title>")
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.64:.1f}" height="{bh:.1f}" rx="2" '
            f'fill="{esc(colours[i % len(colours)])}"/>'
        )
        out.append(svg_text(x + step * 0.32, y - 5, fmt_pct(v), "middle", "val"))
        out.append(svg_text(x + step * 0.32, top + ph + 17, lab, "middle", "tick"))
        out.append("</g>")
    if ref is not None:
        y = top + ph - ph * max(0.0, min(1.0, ref / vmax))
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#333" stroke-width="1.5" '
            'stroke-dasharray="6 4"/>'
        )
        out.append(
            f'<rect x="{left + pw - 8 - len(ref_label) * 7.0:.1f}" y="{y - 19:.1f}" '
            f'width="{len(ref_label) * 7.0 + 6:.1f}" height="16" class="legend-bg"/>'
        )
        out.append(svg_text(left + pw - 4, y - 6, ref_label, "end", "legend"))
    if x_label:
        out.append(svg_text(left + pw / 2, height - 8, x_label, "middle", "axis"))
    if y_label:
        out.append(
            svg_text(
                16, top + ph / 2, y_label, "middle", "axis", f' transform="rotate(-90 16 {top + ph / 2:.1f})"'
            )
        )
    return svg(width, height, out, label)
