"""``zhongli report``: one self-contained HTML page for the OEM, rendered from released payloads.

    zhongli report --dir demo-out --out report.html
    zhongli report --release release-rel-1.json --release release-rel-2.json --out report.html

The page is drawn on the recipient's machine from release files only (``{"release": {...},
"payload": {...}}`` as ``zhongli release fetch --out`` and the demo write them). The neutral zone
never writes a file, so charts cannot be drawn there; and a release file holds nothing the audit
gate did not pass, so a report cannot show more than the auditors approved.

A release file draws only if it carries the verification record a verifying fetch wrote into it
(``release.verification``: the digest recomputed at fetch, the payload's hash, the trusted
auditors whose signatures checked out). The page refuses a file without one, and a file whose
payload no longer hashes to the verified one (unless the record says how it was delivered, e.g.
decrypted or written to a scores file). Given ``--topology FILE --as NAME`` it also re-checks
each file's approvals against NAME's own trusted auditors, as fetch did.

The page needs nothing from the network: inline CSS, charts as inline SVG drawn here, no
JavaScript, no fonts or images fetched. It can be mailed or opened offline, and opening it tells no
one anything. Every string taken from a release is HTML-escaped, party names included.

Each job has one section renderer (``SECTIONS``); a job without one gets a small table of its
payload's scalar fields. Missing optional fields leave their chart out rather than failing.

Each release ends with a privacy note in a reader's words: the ε it cost and from whose budget,
and how close its figures are to the truth (each figure also carries its own 95% margin, "12,345 ±
7"); or, when a policy turned differential privacy off, that its figures are exact.
"""

from __future__ import annotations

import argparse
import html
import itertools
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.errors import InvalidInput, VerificationFailed, ZhongliError
from protocols.release import (
    Approval,
    ReleaseHeader,
    TrustedAuditors,
    canonical_json,
    sha256_hex,
    verify_approvals,
)

Json = dict[str, Any]

# From Okabe–Ito, readable for colour-blind readers. The brand is always navy; each partner keeps
# one colour across every chart of the page; amber is kept for highlights.
PALETTE = ["#56B4E9", "#009E73", "#CC79A7", "#D55E00", "#0072B2", "#F0E442", "#999999"]
BRAND = "#0b3d66"
HIGHLIGHT = "#E69F00"
MUTED = "#8a94a6"
GRADE_COLOURS = {"A": "#1a7f37", "B": "#6cc070", "C": "#f2b134", "D": "#d1495b"}
GRADE_TINTS = {"A": "#e3f4e8", "B": "#eef8ee", "C": "#fdf3dd", "D": "#fbe5e8"}

LABEL_WORDS = {
    "visited_store": "visited a store",
    "purchased": "bought a car",
    "test_drive": "booked a test drive",
}
ROLE_WORDS = {"brand": "car brand", "media": "media platform", "data_provider": "data provider"}


# ---------------------------------------------------------------------------------------------
# Formatting. Everything from a release may be missing or of the wrong type: formatters answer
# "—" rather than fail, so one odd field never costs the reader the whole page.


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def num(value: Any) -> float | None:
    """A finite float, or None for anything else (bool, str, None, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def fmt_count(value: Any) -> str:
    f = num(value)
    return "—" if f is None else f"{round(f):,}"


def fmt_pct(value: Any) -> str:
    f = num(value)
    return "—" if f is None else f"{f * 100:.1f}%"


def fmt_auc(value: Any) -> str:
    f = num(value)
    return "—" if f is None else f"{f:.3f}"


def fmt_delta(value: Any) -> str:
    f = num(value)
    return "—" if f is None else f"{f:+.3f}".replace("-", "−")


def fmt_lift(value: Any) -> str:
    f = num(value)
    return "—" if f is None else f"{f:.1f}×"


def fmt_pm(value: Any, half_width: Any, fmt: Callable[[Any], str] = fmt_count) -> str:
    """A released figure with its 95% margin, "12,345 ± 7"; the figure alone when the release
    states no margin (differential privacy off, or an older zone)."""
    v, h = fmt(value), num(half_width)
    return v if v == "—" or h is None else f"{v} ± {fmt(h)}"


def pm_html(value: Any, half_width: Any, fmt: Callable[[Any], str] = fmt_count) -> str:
    """``fmt_pm`` as a table cell: the margin in soft print, so the figure still reads first."""
    v, h = fmt(value), num(half_width)
    return esc(v) if v == "—" or h is None else f'{esc(v)}<span class="pm"> ± {esc(fmt(h))}</span>'


def margin_cell(half_width: float | None, fmt: Callable[[Any], str] = fmt_count) -> str:
    """A table cell holding a margin alone ("± 100"), or nothing when none is stated."""
    return f'<span class="pm">± {esc(fmt(half_width))}</span>' if half_width is not None else ""


def figure_html(row: Json, k: Any) -> str:
    """A released count of people: its value ± margin, or "withheld (< k)" when the zone withheld
    it (``people`` null): a withheld figure is never guessed at."""
    if row.get("people") is None and row.get("suppressed"):
        return f'<span class="wh">withheld (&lt; {fmt_count(k) if num(k) is not None else "k"})</span>'
    return pm_html(row.get("people"), row.get("half_width_95"))


def short_digest(digest: Any) -> str:
    d = str(digest or "")
    return d[:8] + "…" if len(d) > 8 else d or "—"


def words_list(items: Sequence[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def obj(value: Any) -> Json:
    """A dict field, or an empty dict for anything else."""
    return value if isinstance(value, dict) else {}


def valued(rows: list[Json], key: str) -> list[tuple[Json, float]]:
    """The rows whose ``key`` is a finite number, each with that number."""
    out = []
    for r in rows:
        v = num(r.get(key))
        if v is not None:
            out.append((r, v))
    return out


def strs(value: Any) -> list[str]:
    """A list field's items as strings; anything but a list is no items."""
    return [str(v) for v in value] if isinstance(value, list) else []


def rows_of(value: Any) -> list[Json]:
    """The dict rows of a list field; anything else is no rows."""
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def party_colours(brand: str, names: Sequence[str]) -> dict[str, str]:
    """Navy for the brand; partners coloured in name order, so the same party gets the same colour
    in every section of a page about the same collaboration."""
    others = sorted({str(n) for n in names if str(n) != brand})
    return {brand: BRAND} | {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(others)}


def label_words(label: Any) -> str:
    s = str(label or "converted")
    return LABEL_WORDS.get(s, s.replace("_", " "))


# ---------------------------------------------------------------------------------------------
# SVG charts, drawn by hand. Coordinates are in viewBox units; a chart is drawn at its own width
# (never scaled up, so its text stays the page's size) and shrinks with a narrow window. No xmlns
# attribute: inline SVG in HTML does not need one, and the page names no URL.

CHAR_W = 7.4  # average width of a 13px sans-serif character, for sizing label columns


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" style="max-width:{width}px" '
        f'role="img" aria-label="{esc(label)}"><title>{esc(label)}</title>' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, s: str, anchor: str = "start", cls: str = "", extra: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}{extra}>{esc(s)}</text>'


def _fit(label: str, max_chars: int) -> str:
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
        out.append(_text(x, pad_top + rows_h + 14, tick_fmt(v), "middle", "tick"))
    for i, b in enumerate(bars):
        y = pad_top + i * row_h
        w = max(0.0, min(1.0, (b.value - lo) / (top - lo))) * plot_w
        weight = ' font-weight="700"' if b.bold else ""
        out.append(
            f"<g><title>{esc(b.label)}: {esc(value_fmt(b.value))}{(' — ' + esc(b.note)) if b.note else ''}</title>"
        )
        out.append(_text(label_w - 8, y + bar_h / 2 + 5, _fit(b.label, max_chars), "end", "lbl", weight))
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
        out.append(_text(label_w + plot_w / 2, height - 4, axis_label, "middle", "axis"))
    return _svg(width, height, out, label)


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
        out.append(_text(px(t), top + ph + 16, tick_pct(t), "middle", "tick"))
        out.append(_text(left - 6, py(t) + 4, tick_pct(t), "end", "tick"))
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>')
    out.append(_text(left + pw / 2, h - 8, x_label, "middle", "axis"))
    out.append(
        _text(16, top + ph / 2, y_label, "middle", "axis", f' transform="rotate(-90 16 {top + ph / 2:.1f})"')
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
            f'<line x1="{lx + 6:.1f}" y1="{y - 4:.1f}" x2="{lx + 28:.1f}" y2="{y - 4:.1f}" stroke="{esc(s.colour)}" stroke-width="2.5"{dash}/>'
        )
        out.append(_text(lx + 34, y, s.label, "start", "legend"))
    return _svg(w, h, out, label)


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
        out.append(_text(left - 6, y + 4, tick_pct(v), "end", "tick"))
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        bh = ph * max(0.0, min(1.0, v / vmax))
        x = left + i * step + step * 0.18
        y = top + ph - bh
        out.append(f"<g><title>{esc(lab)}: {esc(fmt_pct(v))}</title>")
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.64:.1f}" height="{bh:.1f}" rx="2" fill="{esc(colours[i % len(colours)])}"/>'
        )
        out.append(_text(x + step * 0.32, y - 5, fmt_pct(v), "middle", "val"))
        out.append(_text(x + step * 0.32, top + ph + 17, lab, "middle", "tick"))
        out.append("</g>")
    if ref is not None:
        y = top + ph - ph * max(0.0, min(1.0, ref / vmax))
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#333" stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
        out.append(
            f'<rect x="{left + pw - 8 - len(ref_label) * 7.0:.1f}" y="{y - 19:.1f}" width="{len(ref_label) * 7.0 + 6:.1f}" height="16" class="legend-bg"/>'
        )
        out.append(_text(left + pw - 4, y - 6, ref_label, "end", "legend"))
    if x_label:
        out.append(_text(left + pw / 2, height - 8, x_label, "middle", "axis"))
    if y_label:
        out.append(
            _text(
                16, top + ph / 2, y_label, "middle", "axis", f' transform="rotate(-90 16 {top + ph / 2:.1f})"'
            )
        )
    return _svg(width, height, out, label)


# ---------------------------------------------------------------------------------------------
# HTML building blocks


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Sequence[bool] | None = None,
    row_styles: Sequence[str] | None = None,
    cls: str = "",
    highlight: int | None = None,
) -> str:
    """Cells are already-escaped HTML; headers are escaped here. ``highlight`` tints one column."""
    numeric = list(numeric or [False] * len(headers))
    numeric += [False] * (len(headers) - len(numeric))

    def attr(j: int) -> str:
        names = (["num"] if numeric[j] else []) + (["hl"] if j == highlight else [])
        return f' class="{" ".join(names)}"' if names else ""

    head = "".join(f"<th{attr(j)}>{esc(h)}</th>" for j, h in enumerate(headers))
    body = []
    for i, r in enumerate(rows):
        style = f' style="{row_styles[i]}"' if row_styles and row_styles[i] else ""
        cells = "".join(f"<td{attr(j)}>{c}</td>" for j, c in enumerate(r) if j < len(headers))
        body.append(f"<tr{style}>{cells}</tr>")
    c = f' class="{cls}"' if cls else ""
    return f"<table{c}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(title: str, chart: str, caption: str, wide: bool = False) -> str:
    """A titled chart with its one-sentence explanation; nothing if there is no chart."""
    if not chart:
        return ""
    cls = "fig wide" if wide else "fig"
    return (
        f'<figure class="{cls}"><h3>{esc(title)}</h3>{chart}<figcaption>{esc(caption)}</figcaption></figure>'
    )


def tiles(items: Sequence[tuple[str, str, str]]) -> str:
    """Headline figures: (label, big value, small print)."""
    cells = [
        f'<div class="tile"><div class="tile-label">{esc(a)}</div><div class="tile-value">{esc(b)}</div>'
        f'<div class="tile-note">{esc(c)}</div></div>'
        for a, b, c in items
        if b and b != "—"
    ]
    return f'<div class="tiles">{"".join(cells)}</div>' if cells else ""


def note(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{esc(text)}</p>'


# ---------------------------------------------------------------------------------------------
# Privacy: what a release cost from a privacy budget and how close its figures are to the truth,
# in words. The payload's ``dp`` is the zone's own account (protocols/dp.py ReleaseNoise.describe):
# a dict when noise was added, null when a policy turned differential privacy off, and absent
# from an older zone's release (then nothing is claimed either way).

MECHANISM_WORDS = {"discrete_laplace": "discrete Laplace", "discrete_gaussian": "discrete Gaussian"}


def pm_range(margins: Sequence[float | None], fmt: Callable[[Any], str] = fmt_count) -> str:
    """``±16``, or ``±6 to ±16`` when the figures' margins differ."""
    hs = sorted({h for h in margins if h is not None})
    if not hs:
        return ""
    return f"±{fmt(hs[0])}" if fmt(hs[0]) == fmt(hs[-1]) else f"±{fmt(hs[0])} to ±{fmt(hs[-1])}"


def budget_words(info: Json) -> str:
    """Whose ε budget paid, from the audit's ``dp_budget`` check ("ε 1 charged to 'oem'; 8 of 10
    left this period"); a release without that check was paid for by the computation's requester."""
    check = next((c for c in rows_of(info.get("checks")) if c.get("name") == "dp_budget"), {})
    detail = str(check.get("detail") or "")
    who = re.search(r"charged to '([^']+)'", detail)
    left = re.search(r"([\d.]+ of [\d.]+) left this period", detail)
    if who is None:
        return ", paid once for the whole computation from the budget of the party that asked for it"
    whose = "your" if who.group(1) == str(info.get("recipient") or "") else f"{who.group(1)}'s"
    return f" from {whose} privacy budget" + (f", {left.group(1)} left this period" if left else "")


def dp_words(dp: Json) -> str:
    """ "OpenDP 0.16.0 discrete Laplace noise" from the payload's ``dp``."""
    mech = str(dp.get("mechanism") or "")
    mech = MECHANISM_WORDS.get(mech, mech.replace("_", " "))
    lib = str(dp.get("library") or "")
    lib = "OpenDP" + lib[6:] if lib.lower().startswith("opendp") else lib
    return " ".join(w for w in (lib, mech, "noise") if w)


def privacy_note(payload: Json, info: Json, accuracy: str, tail: bool = True) -> str:
    """The release's "Privacy" note: its ε and whose budget paid, the mechanism and ``accuracy``
    (the job's margins in words), or plainly that the figures are exact when the policy turned
    differential privacy off. Nothing when the payload does not say."""
    if "dp" not in payload:
        return ""
    dp, k = payload.get("dp"), num(payload.get("k_min"))
    if dp is None:
        text = (
            "No noise was added: the policy for this computation turned differential privacy off, so every figure "
            "here is exact"
            + (f"; figures below k = {fmt_count(k)} people are still withheld." if k is not None else ".")
        )
        return f'<div class="privacy off"><strong>Privacy.</strong> {esc(text)}</div>'
    if not isinstance(dp, dict):
        return ""
    eps = num(dp.get("epsilon"))  # what the budget was charged; the measurements never spend more
    cost = f"ε = {eps:.3g}{budget_words(info)}" if eps is not None else ""
    how = "; ".join(w for w in (cost, dp_words(dp)) if w)
    text = (
        "Released with differential privacy"
        + (f" ({how})" if how else "")
        + (f": {accuracy}." if accuracy else ".")
    )
    if tail:
        text += (
            " The noise was added inside the neutral zone before release, so no figure here can reveal much about "
            "any one person; differences smaller than the margins may be noise."
        )
    return f'<div class="privacy"><strong>Privacy.</strong> {esc(text)}</div>'


def generic_accuracy(payload: Json) -> str:
    """For a job without its own words: the margin of its counts of people, from ``dp``."""
    ms = rows_of(obj(payload.get("dp")).get("measurements"))
    margin = pm_range([num(m.get("half_width_95")) for m in ms if m.get("unit") == "people"])
    return f"each count of people is within {margin} of the true one with 95% probability" if margin else ""


# ---------------------------------------------------------------------------------------------
# Sections, one per job


def _brand(payload: Json, info: Json) -> str:
    """The OEM's party name: the party with the brand role, else the release's recipient."""
    parties = rows_of(payload.get("parties"))
    for p in parties:
        if p.get("role") == "brand":
            return str(p.get("party"))
    rec = info.get("recipient")
    if rec and any(p.get("party") == rec for p in parties):
        return str(rec)
    if isinstance(payload.get("brand"), str):
        return str(payload["brand"])
    return str(parties[0].get("party")) if parties else str(rec or "")


def section_intersection(payload: Json, info: Json) -> str:
    parties = rows_of(payload.get("parties"))
    overlaps = rows_of(payload.get("overlaps"))
    brand = _brand(payload, info)
    sizes = {str(p.get("party")): num(p.get("people")) for p in parties}
    margins = {str(p.get("party")): num(p.get("half_width_95")) for p in parties}
    brand_people = sizes.get(brand)
    colour = party_colours(brand, list(sizes))
    k = num(payload.get("k_min"))
    out: list[str] = []

    def pm(h: float | None) -> str:
        return f" (± {fmt_count(h)})" if h is not None else ""

    all_people = num(payload.get("all_parties"))
    every = next((o for o in overlaps if len(strs(o.get("parties"))) == len(parties) > 1), {})
    out.append(
        tiles(
            [
                (
                    "Your people",
                    fmt_count(brand_people),
                    f"distinct people {brand} holds{pm(margins.get(brand))}",
                ),
                (
                    "Partners",
                    str(len(parties) - 1) if len(parties) > 1 else "—",
                    words_list([n for n in sizes if n != brand]),
                ),
                (
                    "Known to every party",
                    fmt_count(all_people),
                    (
                        fmt_pct(all_people / brand_people) + " of your people"
                        if all_people is not None and brand_people
                        else ""
                    )
                    + pm(num(every.get("half_width_95"))),
                ),
            ]
        )
    )

    bars: list[Bar] = []
    if brand_people:
        for o in overlaps:
            names = strs(o.get("parties"))
            people = num(o.get("people"))
            if len(names) == 2 and brand in names and people is not None:
                partner = names[1] if names[0] == brand else names[0]
                bars.append(
                    Bar(
                        partner,
                        people / brand_people,
                        colour.get(partner, PALETTE[0]),
                        f"{fmt_pm(people, o.get('half_width_95'))} people",
                    )
                )
        if all_people is not None and len(parties) > 2:
            bars.append(
                Bar(
                    f"all {len(parties)} parties at once",
                    all_people / brand_people,
                    MUTED,
                    f"{fmt_pm(all_people, every.get('half_width_95'))} people",
                )
            )
    if bars:
        best = max((b for b in bars if b.colour != MUTED), key=lambda b: b.value, default=bars[0])
        caption = (
            f"Of your {fmt_count(brand_people)} people, {fmt_pct(best.value)} are also known to {best.label} — "
            f"the largest overlap; these shared people are the ones joint models and audiences can use."
        )
        out.append(
            figure(
                "How many of your people each partner also knows",
                bar_chart(
                    bars,
                    hi=1.0,
                    axis_label=f"share of {brand}'s people",
                    label=f"overlap with {brand} as a share of its people",
                ),
                caption,
                wide=True,
            )
        )

    left = right = ""
    if parties:
        rows = [
            [
                esc(p.get("party", "—"))
                + (" <span class=you>(you)</span>" if p.get("party") == brand else ""),
                esc(ROLE_WORDS.get(str(p.get("role")), str(p.get("role", "—")))),
                figure_html(p, k),
            ]
            for p in parties
        ]
        left = (
            "<h3>Who took part</h3>"
            + table(["Party", "Kind", "People"], rows, numeric=[False, False, True])
            + note("People are counted once each, after phone numbers are cleaned and duplicates removed.")
        )
    if overlaps:
        rows = []
        for o in overlaps:
            names = strs(o.get("parties"))
            people = num(o.get("people"))
            share = (
                fmt_pct(people / brand_people)
                if brand in names and people is not None and brand_people
                else ""
            )
            rows.append([esc(" ∩ ".join(names)), esc(o.get("ways", len(names))), figure_html(o, k), share])
        right = "<h3>People in common</h3>" + table(
            ["Parties", "Ways", "In common", "Share of yours"], rows, numeric=[False, True, True, True]
        )
        if k is not None and isinstance(payload.get("dp"), dict):
            right += note(
                f"A figure that came out below {fmt_count(k)} people after the privacy noise is withheld, "
                "so no small group can be picked out."
            )
        elif k is not None:
            right += note(
                f"Every count shown is either zero or at least {fmt_count(k)} people, so no single person can be picked out."
            )
    if left or right:
        out.append(f'<div class="grid2"><div>{left}</div><div>{right}</div></div>')
    return "".join(out)


def intersection_accuracy(payload: Json) -> str:
    figs = rows_of(payload.get("parties")) + rows_of(payload.get("overlaps"))
    margin = pm_range([num(f.get("half_width_95")) for f in figs])
    held = sum(1 for f in figs if f.get("people") is None and f.get("suppressed"))
    k = num(payload.get("k_min"))
    words = (
        (
            f"each count of people is within {margin} of the true one with 95% probability, as shown next to it "
            "(a figure that adds up more parts of the diagram carries more noise)"
        )
        if margin
        else ""
    )
    if held:
        words += ("; " if words else "") + (
            f"{held} figure{'s' if held != 1 else ''} came out below "
            f"{fmt_count(k) if k is not None else 'k'} and {'are' if held != 1 else 'is'} withheld"
        )
    return words


def _roc_at(points: list[tuple[float, float]], fpr: float) -> float | None:
    """True-positive rate at a false-positive rate, by linear interpolation along the curve."""
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= fpr <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (fpr - x0) / (x1 - x0)
    return None


def _decile_name(d: Any) -> str:
    i = num(d)
    if i is None:
        return str(d)
    i = int(i)
    return "top 10%" if i == 1 else f"{(i - 1) * 10}–{i * 10}%"


def section_model_card(payload: Json, info: Json) -> str:
    did = label_words(payload.get("label"))
    brand = str(payload.get("brand") or info.get("recipient") or "your brand")
    partners = strs(payload.get("partners"))
    auc = obj(payload.get("auc"))
    top10 = obj(payload.get("top10"))
    deciles = rows_of(payload.get("deciles"))
    base = num(payload.get("test_positive_rate"))
    if base is None:
        base = num(top10.get("average_rate"))
    lift = num(top10.get("lift"))
    if lift is None and deciles:
        lift = num(deciles[0].get("lift"))
    acc = obj(payload.get("accuracy"))
    pv_margin, imp_margin = (
        num(acc.get("partner_value_auc_half_width_95")),
        num(acc.get("importance_auc_half_width_95")),
    )
    out: list[str] = []

    intro = (
        f"A model trained inside the neutral zone on {brand}'s leads"
        + (f" together with data from {words_list(partners)}" if partners else "")
        + f" ranks each lead by how likely they are to have {did}. "
        + "Nobody, including the operator, saw another party's rows; only the summaries below were released."
    )
    out.append(note(intro, "lead"))
    out.append(
        tiles(
            [
                (
                    "Model quality (AUC)",
                    fmt_pm(auc.get("model"), acc.get("auc_half_width_95"), fmt_auc),
                    f"vs {fmt_auc(auc.get('logistic_baseline'))} for a simple baseline; 0.5 = coin toss, 1.0 = perfect"
                    if num(auc.get("logistic_baseline")) is not None
                    else "0.5 = coin toss, 1.0 = perfect",
                ),
                ("Top 10% of leads", fmt_lift(lift), f"as likely to have {did} as the average lead"),
                ("Average lead", fmt_pct(base), f"of held-out leads {did}"),
                (
                    "Leads used",
                    fmt_count(payload.get("n_train")),
                    f"to train; {fmt_count(payload.get('n_test'))} held back to test"
                    if num(payload.get("n_test")) is not None
                    else "to train",
                ),
            ]
        )
    )

    figs: dict[str, str] = {}
    # ROC
    roc = [(num(p.get("fpr")), num(p.get("tpr"))) for p in rows_of(payload.get("roc"))]
    roc_pts = sorted((x, y) for x, y in roc if x is not None and y is not None)
    if roc_pts:
        at20 = _roc_at(roc_pts, 0.2)
        caption = (
            f"The further the curve bows to the top left, the better the model tells those who {did} from the rest"
            + (
                f": wrongly flagging 20% of the others, it already catches {fmt_pct(at20)} of those who {did}."
                if at20 is not None
                else "."
            )
        )
        figs["roc"] = figure(
            f"Telling who {did} from the rest (ROC)",
            xy_chart(
                [
                    Series(roc_pts, f"model (AUC {fmt_auc(auc.get('model'))})", BRAND),
                    Series([(0.0, 0.0), (1.0, 1.0)], "random guess (AUC 0.500)", MUTED, dashed=True),
                ],
                x_label="false alarms (share of the others flagged)",
                y_label=f"share of those who {did} caught",
                label="ROC curve",
            ),
            caption,
        )

    # conversion rate per decile
    dec = valued(deciles, "rate")
    if dec:
        top_rate = dec[0][1]
        colours = [BRAND] + ["#7fa7c9"] * (len(dec) - 1)
        caption = (
            f"Leads the model ranks in the top 10% {did} at {fmt_pct(top_rate)}, "
            f"{fmt_lift(lift)} as often as the average lead ({fmt_pct(base)})."
            if lift is not None and base is not None
            else f"Leads the model ranks in the top 10% {did} at {fmt_pct(top_rate)}."
        )
        figs["deciles"] = figure(
            f"Who {did}, by model rank",
            column_chart(
                [_decile_name(r.get("decile")) for r, _ in dec],
                [v for _, v in dec],
                colours=colours,
                ref=base,
                ref_label=f"average {fmt_pct(base)}" if base is not None else "",
                x_label="leads ranked by the model, best first",
                y_label=f"share who {did}",
                label="conversion rate per decile",
            ),
            caption,
            wide=True,
        )

    # cumulative gains
    gain_pts = [(0.0, 0.0)] + sorted(
        (d / 10, cg)
        for r, d in valued(deciles, "decile")
        if (cg := num(r.get("cumulative_gain"))) is not None
    )
    if len(gain_pts) > 1:
        at30 = next((g for x, g in gain_pts if abs(x - 0.3) < 1e-9), None)
        caption = (
            f"Contacting only the top 30% of leads the model picks reaches {fmt_pct(at30)} of everyone who {did}; "
            "picking at random would reach 30%."
            if at30 is not None
            else f"The higher the curve above the diagonal, the more of those who {did} a short call list reaches."
        )
        figs["gains"] = figure(
            "How much a short call list captures (gains)",
            xy_chart(
                [
                    Series(gain_pts, "model's ranking", BRAND, markers=True),
                    Series([(0.0, 0.0), (1.0, 1.0)], "random order", MUTED, dashed=True),
                ],
                x_label="share of leads contacted, best first",
                y_label=f"share of all who {did}",
                label="cumulative gains",
            ),
            caption,
        )

    # calibration
    cal = [
        (pred, obs, num(r.get("leads")))
        for r, pred in valued(rows_of(payload.get("calibration")), "mean_predicted")
        if (obs := num(r.get("observed_rate"))) is not None
    ]
    if cal:
        hi = max(max(p for p, _, _ in cal), max(o for _, o, _ in cal))
        weights = [n or 1.0 for _, _, n in cal]
        gap = sum(abs(p - o) * w for (p, o, _), w in zip(cal, weights, strict=True)) / sum(weights)
        pts = sorted((p, o) for p, o, _ in cal)
        caption = (
            f"Each point is a group of leads with similar scores; on average the predicted chance is within "
            f"{gap * 100:.1f} percentage points of what really happened, so scores can be read as chances."
        )
        figs["calibration"] = figure(
            "Can the scores be read as chances? (calibration)",
            xy_chart(
                [
                    Series(pts, "observed vs predicted", BRAND, markers=True),
                    Series([(0.0, 0.0), (1.0, 1.0)], "perfectly calibrated", MUTED, dashed=True),
                ],
                x_label="predicted chance",
                y_label=f"share who really {did}",
                scale=min(1.0, hi * 1.05),
                label="calibration",
            ),
            caption,
        )

    # feature-group importance
    imp = obj(payload.get("importance"))
    groups = sorted(valued(rows_of(imp.get("by_group")), "auc_drop"), key=lambda t: -t[1])
    party_list = [brand] + [p for p in partners if p != brand]
    for r, _ in groups:
        if r.get("party") is not None and str(r.get("party")) not in party_list:
            party_list.append(str(r.get("party")))
    pcol = party_colours(brand, party_list)
    if groups:
        top_g = groups[0]
        bars = []
        for r, v in groups:
            name, owner = str(r.get("group", "—")), str(r.get("party") or "")
            # name the owner unless the group's name already starts with it ("provider: interest scores")
            bars.append(Bar(name, v, pcol.get(owner, MUTED), "" if name.startswith(owner) else owner))
        caption = (
            f"Scrambling “{top_g[0].get('group')}” costs the model {fmt_auc(top_g[1])} AUC, more than any other group: "
            "the longer the bar, the more the model relies on that information."
            + importance_noise(imp_margin)
        )
        figs["groups"] = figure(
            "Which information the model relies on",
            bar_chart(
                bars,
                value_fmt=fmt_auc,
                tick_fmt=tick_num,
                axis_label="AUC lost when the group is scrambled",
                label="feature-group importance",
            ),
            caption,
            wide=True,
        )
    by_party = sorted(valued(rows_of(imp.get("by_party")), "auc_drop"), key=lambda t: -t[1])
    if by_party:
        bars = [
            Bar(
                str(r.get("party", "—")) + (" (you)" if r.get("party") == brand else ""),
                v,
                pcol.get(str(r.get("party")), MUTED),
            )
            for r, v in by_party
        ]
        caption = (
            f"Scrambling everything {by_party[0][0].get('party')} contributed costs {fmt_auc(by_party[0][1])} AUC, the most of any party."
            + importance_noise(imp_margin)
        )
        figs["parties"] = figure(
            "Which party's data matters most",
            bar_chart(
                bars,
                value_fmt=fmt_auc,
                tick_fmt=tick_num,
                axis_label="AUC lost when the party's data is scrambled",
                label="importance per party",
                width=480,
            ),
            caption,
        )

    # partner value
    pv = valued(rows_of(payload.get("partner_value")), "auc")
    if pv:
        base_row = next(
            (t for t in pv if strs(t[0].get("parties")) == [brand] or t[0].get("label") == "brand only"), None
        )
        bars = []
        for r, v in pv:
            is_base = base_row is not None and r is base_row[0]
            gain = (
                ""
                if base_row is None
                else "your data alone"
                if is_base
                else f"{fmt_delta(v - base_row[1])} vs brand only"
            )
            bars.append(Bar(str(r.get("label", "—")), v, HIGHLIGHT if is_base else BRAND, gain, bold=is_base))
        lo = 0.5 if min(v for _, v in pv) >= 0.5 else 0.0
        best = max(pv, key=lambda t: t[1])
        if base_row is None:
            caption = f"The best feature set, {best[0].get('label')}, reaches AUC {fmt_auc(best[1])}."
        elif best[1] > base_row[1]:
            caption = (
                f"Your data alone reaches AUC {fmt_auc(base_row[1])}; adding partners lifts it to {fmt_auc(best[1])} "
                f"({best[0].get('label')}), a gain of {fmt_delta(best[1] - base_row[1])}."
            )
        else:
            caption = f"Partners' data did not raise the AUC above your data alone ({fmt_auc(base_row[1])})."
        if pv_margin is not None:
            caption += (
                f" Each AUC here is within ±{fmt_auc(pv_margin)} of the true one with 95% probability, so a "
                "difference smaller than that may be privacy noise rather than a real gain."
            )
        if lo == 0.5:
            caption += " Bars start at 0.5, a coin toss."
        figs["value"] = figure(
            "What each partner adds",
            bar_chart(
                bars,
                lo=lo,
                value_fmt=fmt_auc,
                tick_fmt=tick_num,
                axis_label="AUC on held-out leads (0.5 = coin toss)",
                label="AUC per feature set",
            ),
            caption,
            wide=True,
        )

    def grid(*names: str) -> None:
        parts = [figs[n] for n in names if figs.get(n)]
        if parts:
            out.append('<div class="figs">' + "".join(parts) + "</div>")

    grid("deciles")

    # grades
    grades = rows_of(payload.get("grades"))
    if grades:
        rows, styles = [], []
        for g in grades:
            letter = str(g.get("grade", "?"))
            chip = f'<span class="chip" style="background:{GRADE_COLOURS.get(letter, MUTED)}">{esc(letter)}</span>'
            rows.append(
                [
                    chip,
                    fmt_pct(g.get("share_of_leads")),
                    fmt_count(g.get("leads")),
                    fmt_count(g.get("conversions")),
                    fmt_pct(g.get("rate")),
                    fmt_lift(g.get("lift")),
                ]
            )
            styles.append(f"background:{GRADE_TINTS[letter]}" if letter in GRADE_TINTS else "")
        first, last = grades[0], grades[-1]
        out.append('<div class="block"><h3>Lead grades for your sales team</h3>')
        out.append(
            table(
                ["Grade", "Share of leads", "Leads (test)", f"Who {did}", "Rate", "vs average"],
                rows,
                numeric=[False, True, True, True, True, True],
                row_styles=styles,
                cls="grades",
            )
        )
        out.append(
            note(
                f"Grade {first.get('grade')} is the model's top {fmt_pct(first.get('share_of_leads'))} of leads: "
                f"{fmt_pct(first.get('rate'))} of them {did}, {fmt_lift(first.get('lift'))} the average. "
                f"Call grade {first.get('grade')} first; grade {last.get('grade')} can wait for cheaper channels."
                + (
                    " Counts carry privacy noise: they add up cells of a noised count per score band (20 bands, who did "
                    f"and who did not), each within ±{fmt_count(acc.get('histogram_cell_half_width_95'))} leads (95%)."
                    if num(acc.get("histogram_cell_half_width_95")) is not None
                    else ""
                ),
                "caption",
            )
        )
        out.append("</div>")

    grid("value", "roc", "gains", "groups", "parties", "calibration")

    if cal:
        rows = [
            [
                fmt_count(r.get("bin")),
                fmt_count(r.get("leads")),
                fmt_pct(r.get("mean_predicted")),
                fmt_pct(r.get("observed_rate")),
            ]
            for r in rows_of(payload.get("calibration"))
        ]
        out.append('<details class="block"><summary>Calibration table</summary>')
        out.append(table(["Score group", "Leads", "Predicted chance", "Observed"], rows, numeric=[True] * 4))
        out.append("</details>")

    sealed = payload.get("sealed_model")
    if isinstance(sealed, dict) or sealed:
        size = (
            fmt_count(sealed.get("bytes")) + " bytes"
            if isinstance(sealed, dict) and num(sealed.get("bytes")) is not None
            else ""
        )
        out.append(
            note(
                "A sealed copy of the model was released to you"
                + (f" ({size})" if size else "")
                + "; only the neutral zone can open it, to score your future leads.",
                "note",
            )
        )
    facts = [
        f"model {payload.get('model_id')}" if payload.get("model_id") else "",
        f"learner {payload.get('learner')}" if payload.get("learner") else "",
        f"test positive rate {fmt_pct(base)}" if base is not None else "",
        f"minimum group size k = {fmt_count(payload.get('k_min'))}"
        if num(payload.get("k_min")) is not None
        else "",
        f"score bands: {payload.get('score_bins')}" if isinstance(payload.get("score_bins"), str) else "",
    ]
    facts = [f for f in facts if f]
    if facts:
        out.append(note("Technical details: " + "; ".join(facts) + ".", "small"))
    return "".join(out)


def importance_noise(margin: float | None) -> str:
    if margin is None:
        return ""
    return (
        f" Each figure is within ±{fmt_auc(margin)} of the true loss with 95% probability: a smaller difference, "
        "or a figure below zero, may be privacy noise."
    )


def model_card_accuracy(payload: Json) -> str:
    acc = obj(payload.get("accuracy"))
    parts = []
    if num(acc.get("auc_half_width_95")) is not None:
        parts.append(
            f"the model's AUC is within ±{fmt_auc(acc.get('auc_half_width_95'))} of the true one with 95% probability"
        )
    if num(acc.get("partner_value_auc_half_width_95")) is not None:
        parts.append(
            f"each AUC under “What each partner adds” within ±{fmt_auc(acc.get('partner_value_auc_half_width_95'))}"
        )
    if num(acc.get("importance_auc_half_width_95")) is not None:
        parts.append(f"each importance figure within ±{fmt_auc(acc.get('importance_auc_half_width_95'))}")
    if num(acc.get("histogram_cell_half_width_95")) is not None:
        parts.append(
            "the grades, model ranks, ROC, gains and calibration are drawn from a noised count of held-out leads "
            f"per score band (who did and who did not convert), each within ±{fmt_count(acc.get('histogram_cell_half_width_95'))} leads"
        )
    return "; ".join(parts)


def scores_accuracy(payload: Json) -> str:
    return (
        "the ε paid for a noised check that these grades do not reveal which of your leads a partner knows; the "
        "grades and their counts carry no noise"
    )


def section_scores(payload: Json, info: Json, doc: Json | None = None) -> str:
    """Grade counts only. The row scores (``scores``, and ``grades`` as one letter per row) belong in
    the file the OEM's own agent writes, never on a page that may be forwarded."""
    grades = obj(payload.get("grade_counts")) or obj(payload.get("grades"))
    counts = [(str(g), v) for g, n in grades.items() if (v := num(n)) is not None]
    total = num(payload.get("rows")) or sum(n for _, n in counts) or None
    top = counts[0] if counts else None
    out = [
        tiles(
            [
                ("Leads scored", fmt_count(total), "in your own row order"),
                (
                    f"Grade {top[0]} leads" if top else "",
                    fmt_count(top[1]) if top else "",
                    "the ones to call first",
                ),
            ]
        )
    ]
    if counts and total:
        bars = [
            Bar(f"grade {g}", n / total, GRADE_COLOURS.get(g, MUTED), f"{fmt_count(n)} leads")
            for g, n in counts
        ]
        cap = f"{fmt_count(counts[0][1])} of your {fmt_count(total)} leads are grade {counts[0][0]}, the ones to call first."
        out.append(
            figure(
                "Your leads by grade",
                bar_chart(bars, axis_label="share of your leads", label="leads per grade"),
                cap,
                wide=True,
            )
        )
    elif counts:
        out.append(
            table(["Grade", "Leads"], [[esc(g), fmt_count(n)] for g, n in counts], numeric=[False, True])
        )
    where = next(
        (
            d.get("scores_file")
            for d in (info, payload, doc or {})
            if isinstance(d, dict) and d.get("scores_file")
        ),
        None,
    )
    if where:
        out.append(
            note(
                f"The score of each lead was written by your own agent to {where}; it is not part of this page."
            )
        )
    else:
        out.append(
            note(
                "The score of each lead is mapped back to your rows by your own agent; it is not part of this page."
            )
        )
    if payload.get("model_id"):
        out.append(note(f"Scored with model {payload.get('model_id')}.", "small"))
    return "".join(out)


def section_sealed(payload: Json, info: Json) -> str:
    """The sealed model: what it is, never its bytes."""
    size = f" ({fmt_count(payload.get('bytes'))} bytes)" if num(payload.get("bytes")) is not None else ""
    model = f" of model {payload.get('model_id')}" if payload.get("model_id") else ""
    out = [
        note(
            f"A sealed copy{model}{size} was released to you; only the neutral zone can open it. Keep this release "
            "file: a later session can score new leads with it without training again.",
            "lead",
        )
    ]
    facts = [
        f"{k.replace('_', ' ')}: {', '.join(strs(payload.get(k))) if isinstance(payload.get(k), list) else payload.get(k)}"
        for k in ("label", "brand", "partners", "format")
        if payload.get(k)
    ]
    if facts:
        out.append(note("; ".join(facts) + ".", "small"))
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Attribution: which channels get the credit for the conversions, under eight models.

MODEL_ORDER = (
    "data_driven",
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
)
MODEL_LABELS = {
    "first_touch": "First touch",
    "last_touch": "Last touch",
    "linear": "Linear",
    "time_decay": "Time decay",
    "position_based": "Position-based",
    "markov": "Markov",
    "shapley": "Shapley",
    "data_driven": "Data-driven",
}
HIGHLIGHT_MODEL = "data_driven"
HIGHLIGHT_TINT = "#fdf1d8"
# (singular, plural, "people who would have ... anyway")
CONVERSION_WORDS = {
    "visit_time": ("store visit", "store visits", "come"),
    "visited_store": ("store visit", "store visits", "come"),
    "purchase_time": ("purchase", "purchases", "bought"),
    "purchased": ("purchase", "purchases", "bought"),
    "test_drive_time": ("test drive", "test drives", "booked one"),
}
EPS = 1e-9  # credit below this is floating-point dust (a data-driven −8e-16), shown as 0


def conversion_words(conversion: Any) -> tuple[str, str, str]:
    s = str(conversion or "")
    if s in CONVERSION_WORDS:
        return CONVERSION_WORDS[s]
    base = s.removesuffix("_time").replace("_", " ").strip()
    return (base, base + "s", "converted") if base else ("conversion", "conversions", "converted")


def model_label(model: str) -> str:
    return MODEL_LABELS.get(model, model.replace("_", " ").capitalize())


def fmt_cny(value: Any) -> str:
    f = num(value)
    if f is None:
        return "—"
    return ("−" if f < -0.5 else "") + f"¥{abs(round(f)):,}"


def tick_cny(v: float) -> str:
    return f"¥{round(v):,}"


def fmt_days(value: Any) -> str:
    f = num(value)
    return "" if f is None else f"{f:g}-day"


def _shade(colour: str, t: float) -> str:
    """``colour`` mixed toward black (t < 0) or white (t > 0) by |t|."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    target = 255 if t > 0 else 0
    mix = [round(c + (target - c) * abs(t)) for c in (r, g, b)]
    return "#" + "".join(f"{c:02x}" for c in mix)


@dataclass
class AttrChannel:
    name: str
    party: str
    share: dict[str, float]  # model -> share of that model's credited total
    conversions: dict[str, float]  # model -> credited conversions
    value: dict[str, float]  # model -> credited value (decrypted or plaintext)
    paths: float | None = None
    users: float | None = None
    colour: str = PALETTE[0]

    @property
    def label(self) -> str:
        return f"{self.name} ({self.party})" if self.party else self.name


def _clean(v: float | None) -> float | None:
    return None if v is None else 0.0 if abs(v) < EPS else v


def attribution_channels(
    models: Json, colours: dict[str, str] | None = None
) -> tuple[list[str], list[AttrChannel]]:
    """The payload's models (known ones in MODEL_ORDER, then any others) and its channels, grouped by
    party and, within a party, by data-driven credit; each channel coloured in its party's hue, or as
    ``colours`` (channel -> colour, the page's choice) says."""
    names = [m for m in MODEL_ORDER if rows_of(models.get(m))]
    names += [str(m) for m in models if str(m) not in names and rows_of(models.get(m))]
    chans: dict[str, AttrChannel] = {}
    for m in names:
        for r in rows_of(models.get(m)):
            if r.get("channel") is None:
                continue
            name = str(r.get("channel"))
            c = chans.setdefault(name, AttrChannel(name, str(r.get("party") or ""), {}, {}, {}))
            if not c.party and r.get("party"):
                c.party = str(r.get("party"))
            for key, dest in (
                ("share", c.share),
                ("credited_conversions", c.conversions),
                ("credited_value", c.value),
            ):
                v = _clean(num(r.get(key)))
                if v is not None:
                    dest[m] = v
            if c.paths is None:
                c.paths = num(r.get("paths"))
            if c.users is None:
                c.users = num(r.get("users"))
    colours = colours or {}
    parties = sorted({c.party for c in chans.values()})
    hue = party_colours(
        "", [p for p in parties if p]
    )  # a media party has the same colour as in the overlap chart
    if "" in parties:  # channels of no named party go last
        parties = parties[1:] + [""]
    rank = next((m for m in (HIGHLIGHT_MODEL, *names) if any(m in c.share for c in chans.values())), "")
    ordered = sorted(chans.values(), key=lambda c: (parties.index(c.party), -c.share.get(rank, -1.0), c.name))
    for p in parties:
        group = [c for c in ordered if c.party == p]
        base = hue.get(p, MUTED)
        for i, c in enumerate(group):
            # darker to lighter within a party, so its channels read as one family
            t = 0.0 if len(group) == 1 else -0.4 + 0.65 * i / (len(group) - 1)
            c.colour = colours.get(c.name) or _shade(base, t)
    return names, ordered


def share_grid(
    models: list[str], chans: list[AttrChannel], *, width: int = 1040, label: str = "share grid"
) -> str:
    """Small multiples aligned as a grid: one column per model, one row per channel (grouped under
    their party), a bar of the channel's share in each cell on one common scale. The highlighted
    model's column is tinted and its bars drawn at full strength."""
    cells = [(c, m, c.share[m]) for c in chans for m in models if m in c.share]
    if not cells:
        return ""
    top = max(max(v for _, _, v in cells), 0.01)
    longest = max(len(c.name) for c in chans)
    label_w = min(max(math.ceil(longest * CHAR_W + 34), 110), 230)
    col_w = (width - label_w - 4) / len(models)
    val_w = 44
    bar_max = max(col_w - 10 - val_w, 20)
    head_h, row_h, bar_h, party_h = 42, 26, 16, 24
    parties: list[str] = []
    for c in chans:
        if not parties or parties[-1] != c.party:
            parties.append(c.party)
    show_parties = any(parties)
    height = head_h + row_h * len(chans) + (party_h * len(parties) if show_parties else 0) + 8
    out: list[str] = []
    for j, m in enumerate(models):
        x0 = label_w + j * col_w
        if m == HIGHLIGHT_MODEL:
            out.append(
                f'<rect x="{x0 + 1:.1f}" y="0" width="{col_w - 2:.1f}" height="{height}" rx="6" fill="{HIGHLIGHT_TINT}"/>'
            )
            out.append(_text(x0 + col_w / 2, 17, model_label(m), "middle", "lbl", ' font-weight="700"'))
            out.append(_text(x0 + col_w / 2, 32, "incrementality", "middle", "tick"))
        else:
            out.append(_text(x0 + col_w / 2, 24, _fit(model_label(m), int(col_w / 7.2)), "middle", "lbl"))
    y = head_h
    prev: str | None = None
    for c in chans:
        if show_parties and c.party != prev:
            out.append(f'<line x1="0" y1="{y + 0.5:.1f}" x2="{width}" y2="{y + 0.5:.1f}" class="axisline"/>')
            out.append(_text(4, y + 17, c.party or "other", "start", "party"))
            y += party_h
            prev = c.party
        out.append(
            f'<rect x="4" y="{y + (row_h - 12) / 2:.1f}" width="12" height="12" rx="2" fill="{esc(c.colour)}"/>'
        )
        out.append(_text(22, y + row_h / 2 + 4.5, _fit(c.name, int((label_w - 26) / CHAR_W)), "start", "lbl"))
        for j, m in enumerate(models):
            x0 = label_w + j * col_w + 6
            v = c.share.get(m)
            out.append(
                f'<line x1="{x0:.1f}" y1="{y + 3}" x2="{x0:.1f}" y2="{y + row_h - 3}" class="axisline"/>'
            )
            if v is None:
                out.append(_text(x0 + 4, y + row_h / 2 + 4.5, "—", "start", "val"))
                continue
            w = max(0.0, min(1.0, v / top)) * bar_max
            strong = m == HIGHLIGHT_MODEL
            op = "" if strong else ' fill-opacity="0.8"'
            weight = ' font-weight="700"' if strong else ""
            out.append(
                f"<g><title>{esc(c.label)}, {esc(model_label(m))}: {esc(fmt_pct(v))} of the credit</title>"
            )
            out.append(
                f'<rect x="{x0:.1f}" y="{y + (row_h - bar_h) / 2:.1f}" width="{w:.1f}" height="{bar_h}" rx="2" '
                f'fill="{esc(c.colour)}"{op}/>'
            )
            out.append(_text(x0 + w + 4, y + row_h / 2 + 4.5, fmt_pct(v), "start", "val", weight))
            out.append("</g>")
        y += row_h
    return _svg(width, height, out, label)


def page_channel_colours(payloads: Sequence[Json]) -> dict[str, str]:
    """One colour per channel for the whole page, so a channel looks the same in the brand's section
    and in a media platform's own: party hues over every partner named anywhere on the page (the
    overlap chart's colours), shades within a party from the release that lists most of its channels."""
    partners: set[str] = set()
    for p in payloads:
        partners |= {
            str(r.get("party"))
            for r in rows_of(p.get("parties"))
            if r.get("party") and r.get("role") != "brand"
        }
        for rows in obj(p.get("models")).values():
            partners |= {str(r.get("party")) for r in rows_of(rows) if r.get("party")}
    hue = party_colours("", sorted(partners))
    out: dict[str, str] = {}
    attr = [obj(p.get("models")) for p in payloads if p.get("job") == "attribution"]
    for models in sorted(
        attr, key=lambda m: -len({str(r.get("channel")) for rs in m.values() for r in rows_of(rs)})
    ):
        _, chans = attribution_channels(models)
        for party in dict.fromkeys(c.party for c in chans):
            group = [c for c in chans if c.party == party]
            for i, c in enumerate(group):
                t = 0.0 if len(group) == 1 else -0.4 + 0.65 * i / (len(group) - 1)
                out.setdefault(c.name, _shade(hue.get(party, MUTED), t))
    return out


@dataclass(frozen=True)
class AttrMargins:
    """The 95% margins an attribution release states (``payload["accuracy"]``, keyed by what was
    measured): credited conversions and value per model, people and paths per channel, and the
    headline counts."""

    conversions: dict[str, float]
    value: dict[str, float]
    per_channel: float | None = None
    headline: float | None = None


def attribution_margins(accuracy: Json) -> AttrMargins:
    conv: dict[str, float] = {}
    value: dict[str, float] = {}
    per_channel = headline = None
    for what, a in accuracy.items():
        h, unit, w = num(obj(a).get("half_width_95")), obj(a).get("unit"), str(what)
        model = w.split(":", 1)[0] if ":" in w else ""
        if h is None:
            continue
        if unit == "conversions" and model:
            conv[model] = h
        elif unit == "value" and model:
            value[model] = h
        elif w.startswith("users"):
            per_channel = h
        elif w.startswith("footnote"):
            headline = h
    return AttrMargins(conv, value, per_channel, headline)


def attribution_accuracy(payload: Json) -> str:
    m = attribution_margins(obj(payload.get("accuracy")))
    _, many, _ = conversion_words(payload.get("conversion"))
    column = str(obj(payload.get("value")).get("column") or "purchase value").replace("_", " ")
    parts = []
    if m.conversions:
        parts.append(
            f"each channel's credited {many} are within {pm_range(list(m.conversions.values()))} of the true figure "
            "with 95% probability (the ± row under the table)"
        )
    if m.per_channel is not None:
        parts.append(
            f"each channel's people reached and {many} on the path within ±{fmt_count(m.per_channel)}"
        )
    if m.headline is not None:
        parts.append(f"the headline counts within ±{fmt_count(m.headline)} people")
    if m.value and "value" in payload:
        parts.append(f"each channel's credited {column} within {pm_range(list(m.value.values()), fmt_cny)}")
    return "; ".join(parts)


def section_attribution(payload: Json, info: Json, colours: dict[str, str] | None = None) -> str:
    one, many, anyway = conversion_words(payload.get("conversion"))
    counts = obj(payload.get("counts"))
    models, chans = attribution_channels(obj(payload.get("models")), colours)
    scope = str(payload.get("recipient_scope") or "")
    own = scope.removeprefix("channels of ").strip() if scope.startswith("channels of ") else ""
    window = fmt_days(payload.get("lookback_days"))
    days = num(payload.get("lookback_days"))
    window_words = f"the {days:g} days before" if days is not None else "the window before"
    converters, with_path = num(counts.get("converters")), num(counts.get("converters_with_path"))
    direct, people = num(counts.get("unattributed_conversions")), num(counts.get("people"))
    party_names = [p for p in dict.fromkeys(c.party for c in chans) if p]
    margins = attribution_margins(obj(payload.get("accuracy")))
    headline = f"; each ± {fmt_count(margins.headline)}" if margins.headline is not None else ""
    out: list[str] = []

    # who this is for, and what it is
    if own:
        mine = [c.name for c in chans]
        out.append(
            note(
                f"This release holds {own}'s own channels only"
                + (f" ({words_list(mine)})" if mine else "")
                + ". The neutral zone credited every media platform's channels in one run and released to each "
                "platform only its own; shares are of the credit across all channels, so here they need not add "
                f"up to 100%. The {many} themselves, and any purchase values, stay with the car brand.",
                "lead",
            )
        )
    else:
        out.append(
            note(
                f"Credit for {many} that followed an ad touchpoint in {window_words}"
                + (
                    f", split over the {len(chans)} channels of {words_list(party_names)}"
                    if chans and party_names
                    else ""
                )
                + (f" under {len(models)} attribution models" if models else "")
                + ". Journeys were joined inside the neutral zone; no party saw another's touchpoints.",
                "lead",
            )
        )

    dd = [c.conversions[HIGHLIGHT_MODEL] for c in chans if HIGHLIGHT_MODEL in c.conversions]
    dd_total = sum(dd) if dd else None
    caused_note = ""
    if dd_total is not None and converters:
        caused_note = f"{fmt_pct(dd_total / converters)} of all {many}, by the data-driven estimate" + (
            "" if own else "; the rest would have happened without the ads"
        )
    out.append(
        tiles(
            [
                (
                    f"{many[0].upper() + many[1:]} in scope",
                    fmt_count(converters),
                    f"among {fmt_count(people)} people in the joined data{headline}"
                    if people is not None
                    else headline.removeprefix("; "),
                ),
                (
                    "Had a touchpoint first",
                    fmt_pct(with_path / converters) if with_path is not None and converters else "—",
                    f"{fmt_pm(with_path, margins.headline)} {many} had an ad touch in {window_words}",
                ),
                (
                    f"Direct {many}",
                    fmt_count(direct),
                    (f"{fmt_pct(direct / converters)}; " if direct is not None and converters else "")
                    + "no touchpoint in the window, credited to no channel",
                ),
                (
                    f"Caused by {own}'s channels" if own else "Caused by the ads",
                    fmt_count(dd_total),
                    caused_note,
                ),
            ]
        )
    )

    if not chans or not models:
        out.append(note("This release holds no per-channel credit to draw."))
        return "".join(out)

    # shares under every model
    grid = share_grid(
        models, chans, label=f"share of credited {many} per channel under each attribution model"
    )
    if grid:
        cap = (
            "The data-driven model credits only the "
            + many
            + " a channel caused, after accounting for who it "
            f"targeted; channels that reach people who would have {anyway} anyway get little credit."
        )
        if HIGHLIGHT_MODEL in models and len(models) > 1:
            diffs = []
            for c in chans:
                others = [v for m, v in c.share.items() if m != HIGHLIGHT_MODEL]
                if HIGHLIGHT_MODEL in c.share and others:
                    diffs.append((c.share[HIGHLIGHT_MODEL] - sum(others) / len(others), c))
            if diffs:
                lo, hi = min(diffs, key=lambda t: t[0]), max(diffs, key=lambda t: t[0])
                if lo[0] < -0.02:
                    c = lo[1]
                    others = [v for m, v in c.share.items() if m != HIGHLIGHT_MODEL]
                    cap += (
                        f" {c.label} gets {fmt_pct(min(others))}–{fmt_pct(max(others))} of the credit under the other "
                        f"models but {fmt_pct(c.share[HIGHLIGHT_MODEL])} under the data-driven one"
                    )
                    cap += (
                        f", while {hi[1].label} rises to {fmt_pct(hi[1].share[HIGHLIGHT_MODEL])}."
                        if hi[0] > 0.02
                        else "."
                    )
        title = "Each channel's share of the credit, under every model" + (
            f" ({own}'s channels)" if own else ""
        )
        # at its own width or scrolled sideways: shrunk to a phone, eight columns of bars would be unreadable
        out.append(figure(title, f'<div class="scroll"><div class="minw">{grid}</div></div>', cap, wide=True))

    # credited conversions, channel x model
    headers = [
        "Channel",
        "Party",
        *[model_label(m) for m in models],
        f"{many.capitalize()} with it on the path",
        "People reached",
    ]
    rows = []
    for c in chans:
        rows.append(
            [
                f'<span class="sw" style="background:{esc(c.colour)}"></span>{esc(c.name)}',
                esc(c.party or "—"),
                *[fmt_count(c.conversions.get(m)) for m in models],
                fmt_count(c.paths),
                fmt_count(c.users),
            ]
        )
    totals = [
        sum(c.conversions[m] for c in chans if m in c.conversions)
        if any(m in c.conversions for c in chans)
        else None
        for m in models
    ]
    rows.append(
        [
            f"<b>{esc(f'{own} channels' if own else 'All channels')}</b>",
            "",
            *[f"<b>{fmt_count(t)}</b>" for t in totals],
            "",
            "",
        ]
    )
    if margins.conversions or margins.per_channel is not None:
        rows.append(
            [
                '<span class="pm">privacy margin (95%)</span>',
                "",
                *[margin_cell(margins.conversions.get(m)) for m in models],
                margin_cell(margins.per_channel),
                margin_cell(margins.per_channel),
            ]
        )
    hl = 2 + models.index(HIGHLIGHT_MODEL) if HIGHLIGHT_MODEL in models else None
    out.append(f'<div class="block"><h3>Credited {esc(many)} per channel and model</h3>')
    out.append(
        '<div class="scroll">'
        + table(headers, rows, numeric=[False, False] + [True] * (len(models) + 2), cls="attr", highlight=hl)
        + "</div>"
    )
    table_note = (
        f"Every model but the data-driven one shares out each of the {fmt_count(with_path)} {many} with a touchpoint"
        if with_path is not None
        else f"Every model but the data-driven one shares out each {one} with a touchpoint"
    )
    table_note += (
        f"; the data-driven one credits only the {fmt_count(dd_total)} it estimates the ads caused"
        if dd_total is not None and not own
        else "; the data-driven one only those it estimates the ads caused"
    )
    table_note += ". Credits are fractions of a " + one + ", rounded here."
    if margins.conversions:
        table_note += (
            f" The last row is each figure's privacy margin: a channel's credit is within that many {many} of the "
            "true figure with 95% probability"
        )
        table_note += (
            ", and the total of several channels less precisely; the Markov model's credit is computed from noised "
            "journey counts, so its margin is not stated."
            if "markov" in models and "markov" not in margins.conversions
            else ", and the total of several channels less precisely."
        )
    out.append(note(table_note, "caption"))
    out.append("</div>")

    # credited purchase value
    value = obj(payload.get("value"))
    vmodel = next((m for m in (HIGHLIGHT_MODEL, *models) if any(m in c.value for c in chans)), None)
    column = str(value.get("column") or "purchase value").replace("_", " ")
    encrypted = value.get("encrypted")
    fingerprint = (
        f" (key fingerprint {short_digest(value.get('key_fingerprint'))})"
        if value.get("key_fingerprint")
        else ""
    )
    has_ct = any(
        isinstance(r, dict) and r.get("credited_value_ciphertext")
        for rs in obj(payload.get("models")).values()
        for r in rows_of(rs)
    )
    if vmodel is not None:
        vals = [(c, c.value[vmodel]) for c in chans if vmodel in c.value]
        total = sum(v for _, v in vals)
        bars = [
            Bar(c.label, v, c.colour, f"{fmt_pct(v / total)} of the total" if total > 0 else "")
            for c, v in vals
        ]
        best = max(vals, key=lambda t: t[1])
        cap = (
            f"Under the {model_label(vmodel).lower()} model, {best[0].label} is credited {fmt_cny(best[1])} of {column}, "
            f"the most of any channel; {fmt_cny(total)} in all across these channels."
        )
        vmargin = margins.value.get(vmodel)
        if vmargin is not None:
            cap += (
                f" Each channel's figure is within ±{fmt_cny(vmargin)} of the true one with 95% probability."
            )
            if vmargin >= max(abs(v) for _, v in vals):
                cap += (
                    " The privacy noise is larger than the figures themselves: at this privacy setting they cannot tell "
                    "the channels apart, and a figure below zero is noise."
                )
        cap_value = num(value.get("cap"))
        if cap_value is not None:
            cap += f" Each person's {column} counted at most {fmt_cny(cap_value)}, so no single buyer can move a figure by more than that."
        out.append(
            '<div class="block">'
            + figure(
                f"{column.capitalize()} credited to each channel ({model_label(vmodel).lower()} model, CNY)",
                bar_chart(
                    bars,
                    value_fmt=fmt_cny,
                    tick_fmt=tick_cny,
                    axis_label=f"{column}, CNY",
                    label=f"credited {column} per channel",
                ),
                cap,
                wide=True,
            )
            + "</div>"
        )
        if encrypted:
            scheme = "Paillier" if str(encrypted).lower() == "paillier" else str(encrypted)
            out.append(
                note(
                    f"The {column} values were encrypted ({scheme}) at the car brand's own site before they left it"
                    f"{fingerprint}. The neutral zone added them up without being able to read them; they were "
                    "decrypted only at the brand's site, with its own key, to draw this page. "
                    + (
                        "The encrypted sums are also kept in the release file; they are not shown here."
                        if has_ct
                        else ""
                    )
                )
            )
        model_vals = [m for m in models if any(m in c.value for c in chans)]
        if len(model_vals) > 1:
            vrows = [[esc(c.label), *[fmt_cny(c.value.get(m)) for m in model_vals]] for c in chans]
            if any(m in margins.value for m in model_vals):
                vrows.append(
                    [
                        '<span class="pm">privacy margin (95%)</span>',
                        *[margin_cell(margins.value.get(m), fmt_cny) for m in model_vals],
                    ]
                )
            out.append(
                '<details class="block"><summary>Credited ' + esc(column) + " under every model</summary>"
            )
            out.append(
                table(
                    ["Channel", *[model_label(m) for m in model_vals]],
                    vrows,
                    numeric=[False] + [True] * len(model_vals),
                    cls="attr",
                    highlight=1 + model_vals.index(HIGHLIGHT_MODEL)
                    if HIGHLIGHT_MODEL in model_vals
                    else None,
                )
            )
            out.append("</details>")
    elif encrypted or has_ct:
        out.append(
            note(
                f"Credited {column} per channel was released encrypted under the car brand's own key{fingerprint}; "
                "only the brand can read it. To see it here, fetch the release again with "
                "`zhongli release fetch RELEASE_ID --paillier-key YOUR_KEY --out FILE` and draw the page from that file."
            )
        )
    elif own:
        out.append(
            note(f"Purchase values belong to the car brand and are not part of {own}'s release.", "small")
        )

    # what the models mean
    hl_days = num(payload.get("half_life_days"))
    raw_pw = payload.get("position_weights")
    pw = [f for w in raw_pw if (f := num(w)) is not None and 0 <= f <= 1] if isinstance(raw_pw, list) else []
    pos = (
        f"{tick_pct(pw[0])} to the first touch, {tick_pct(pw[2])} to the last, {tick_pct(pw[1])} shared by those between"
        if len(pw) == 3 == len(raw_pw or [])
        else "most credit to the first and last touches"
    )
    explain = {
        "first_touch": "all credit to the first touchpoint in the window.",
        "last_touch": f"all credit to the last touchpoint before the {one}.",
        "linear": "credit split equally over every touchpoint.",
        "time_decay": "more credit to recent touchpoints"
        + (f"; a touch {hl_days:g} days older counts half as much" if hl_days else "")
        + ".",
        "position_based": pos + ".",
        "markov": f"credit by how many {many} would be lost if the channel were taken out of the journeys.",
        "shapley": f"each {one} split fairly among the distinct channels on its path (game theory).",
        "data_driven": (
            f"credits only the {many} a channel caused, after accounting for who it targeted; channels that "
            f"reach people who would have {anyway} anyway get little credit."
        ),
    }
    items = "".join(
        f"<li><b>{esc(model_label(m))}</b>: {esc(explain[m])}</li>" for m in models if m in explain
    )
    if items:
        out.append(
            f'<details class="block"><summary>What the models mean</summary><ul class="models">{items}</ul></details>'
        )

    facts = [
        f"conversion column {payload.get('conversion')}" if payload.get("conversion") else "",
        f"{window} lookback" if window else "",
        f"time-decay half-life {hl_days:g} days" if hl_days else "",
        f"{fmt_count(counts.get('non_converters_with_path'))} people had a touchpoint but no {one}"
        if num(counts.get("non_converters_with_path")) is not None
        else "",
        f"every count is either zero or at least k = {fmt_count(payload.get('k_min'))} people"
        if num(payload.get("k_min")) is not None
        else "",
    ]
    facts = [f for f in facts if f]
    if facts:
        out.append(note("Technical details: " + "; ".join(facts) + ".", "small"))
    return "".join(out)


def attribution_title(payload: Json, info: Json) -> str:
    scope = str(payload.get("recipient_scope") or "")
    if scope.startswith("channels of "):
        return f"Attribution for {scope.removeprefix('channels of ').strip()}: credit for its own channels"
    return f"Attribution: which channels brought the {conversion_words(payload.get('conversion'))[1]}"


# ---------------------------------------------------------------------------------------------
# Profile (联合画像): how an OEM segment looks in a data provider's tags, against all matched
# leads and the provider's whole population, with the TGI of each category.

PROFILE_GROUPS = ("segment", "leads", "population")
TGI_HIGH, TGI_LOW = 120.0, 80.0  # the usual reading: above 120 over-represented, below 80 under
TGI_OVER = HIGHLIGHT
TGI_UNDER = "#4f5b6e"
TGI_TYPICAL = "#c3cad6"
LEADS_TINT = "#7fa7c9"  # the brand's navy, lighter: all the brand's matched leads
TGI_TINY = 1e-6  # a TGI at or below this is drawn as 0, off the log scale
TGI_TINTS = {"over": "#fdf1d8", "under": "#e9ecf1"}


@dataclass(frozen=True)
class ProfileCell:
    label: str  # as drawn: the category, or "tag · category" in the overview
    category: str
    suppressed: bool
    count: dict[str, float | None]
    share: dict[str, float | None]
    tgi: float | None = None
    tgi_leads: float | None = None
    tag: str = ""
    numeric: bool = False


def profile_cells(tag: Json) -> list[ProfileCell]:
    """A tag's categories. A suppressed cell keeps only its name: whatever else it may carry is
    never read, so nothing withheld can reach the page."""
    out = []
    name, numeric = str(tag.get("tag") if tag.get("tag") is not None else "tag"), tag.get("numeric") is True
    for r in rows_of(tag.get("categories")):
        cat = str(r.get("category") if r.get("category") is not None else "—")
        if r.get("suppressed"):
            out.append(ProfileCell(cat, cat, True, {}, {}, tag=name, numeric=numeric))
            continue
        count = {g: num(r.get(f"{g}_count")) for g in PROFILE_GROUPS}
        share = {g: num(r.get(f"{g}_share")) for g in PROFILE_GROUPS}
        out.append(
            ProfileCell(
                cat, cat, False, count, share, num(r.get("tgi")), num(r.get("tgi_vs_leads")), name, numeric
            )
        )
    return out


def tag_withheld(tag: Json) -> int:
    """How many of a tag's categories the zone withheld without listing them (names included)."""
    n = num(tag.get("withheld"))
    return int(min(max(n, 0), 1e9)) if n is not None else 0


def profile_accuracy(payload: Json) -> str:
    acc = obj(payload.get("accuracy"))
    m = {g: num(obj(acc.get(g)).get("half_width_95")) for g in PROFILE_GROUPS}
    who = profile_who(payload)
    provider = str(payload.get("provider") or "the data provider")
    words = {
        "segment": f"your {who}" if not who.startswith("people in") else "your segment",
        "leads": "your matched leads",
        "population": f"all {provider} users",
    }
    parts = [f"±{fmt_count(h)} for {words[g]}" for g, h in m.items() if h is not None]
    out = (
        (
            "with 95% probability each category count is within "
            + words_list(parts)
            + " of the true one, and the group "
            "sizes at least as close; shares and TGIs are computed from these counts"
        )
        if parts
        else ""
    )
    held = sum(tag_withheld(t) for t in rows_of(payload.get("tags")))
    if held:
        k = num(payload.get("k_min"))
        out += ("; " if out else "") + (
            f"{held} categor{'y' if held == 1 else 'ies'} under "
            f"{'k = ' + fmt_count(k) if k is not None else 'k'} withheld, names too"
        )
    return out


def tgi_class(tgi: float | None) -> str:
    if tgi is None:
        return ""
    return "over" if tgi > TGI_HIGH else "under" if tgi < TGI_LOW else "typical"


def tgi_colour(tgi: float | None) -> str:
    return {"over": TGI_OVER, "under": TGI_UNDER}.get(tgi_class(tgi), TGI_TYPICAL)


def fmt_tgi(value: Any) -> str:
    f = num(value)
    return "—" if f is None else f"{f:.0f}"


def tag_words(tag: Any) -> str:
    return str(tag).replace("_", " ").strip() or "tag"


def profile_who(payload: Json) -> str:
    name = str(payload.get("segment_name") or "").strip()
    return name if name and name != "segment" else "people in your segment"


def segment_words(segment: Any) -> str:
    """``{"purchased": 1, "model_interest": ["suv"], "age": {"min": 30}}`` as words."""
    parts = []
    for col, cond in obj(segment).items():
        c = str(col).replace("_", " ")
        if isinstance(cond, dict):
            lo, hi = cond.get("min"), cond.get("max")
            parts.append(
                f"{lo} ≤ {c} ≤ {hi}"
                if lo is not None and hi is not None
                else f"{c} ≥ {lo}"
                if lo is not None
                else f"{c} ≤ {hi}"
                if hi is not None
                else c
            )
        elif isinstance(cond, list):
            parts.append(f"{c} is " + " or ".join(str(v) for v in cond))
        elif str(col) in LABEL_WORDS and cond in (1, True, "1"):
            parts.append(LABEL_WORDS[str(col)])
        else:
            parts.append(f"{c} = {cond}")
    return "; ".join(parts)


def _bucket(label: str) -> tuple[str, str] | None:
    """``"[0.25, 0.5)"`` -> ("0.25", "0.5"): the bounds of a numeric tag's band."""
    if len(label) > 2 and label[0] == "[" and label[-1] in ")]" and label.count(",") == 1:
        lo, hi = (s.strip() for s in label[1:-1].split(","))
        if num(_float(lo)) is not None and num(_float(hi)) is not None:
            return lo, hi
    return None


def _float(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def cell_phrase(c: ProfileCell) -> str:
    """What being in the cell means, after "to": "be in income band “high”", "have interest suv
    between 0.7 and 0.99"."""
    tag = tag_words(c.tag)
    if c.category == "(unknown)":
        return f"have no known {tag}"
    band = _bucket(c.category) if c.numeric else None
    if band:
        return f"have {tag} between {band[0]} and {band[1]}"
    return f"be in {tag} “{c.category}”"


def fmt_times(tgi: float) -> str:
    r = tgi / 100
    return f"{r:.0f}×" if r >= 10 else f"{r:.1f}×"


def profile_takeaway(
    who: str, provider: str, tag: str, cells: list[ProfileCell], k_words: str, withheld: int = 0
) -> str:
    """One sentence from the numbers: the most over- (or under-) represented category."""
    shown = [c for c in cells if not c.suppressed and c.tgi is not None]
    tag = tag_words(tag)
    who_cap = who[:1].upper() + who[1:]
    if not shown:
        if all(c.suppressed for c in cells) and (cells or withheld):
            return f"Every category of {tag} is withheld: each has {k_words} in at least one of the three groups."
        return f"No category of {tag} has a TGI to compare."
    top = max(shown, key=lambda c: c.tgi or 0.0)
    low = min(shown, key=lambda c: c.tgi or 0.0)
    avg = f"the average {provider} user"
    assert top.tgi is not None and low.tgi is not None

    def vs_leads(c: ProfileCell) -> str:
        return f", or {fmt_tgi(c.tgi_leads)} against your matched leads" if c.tgi_leads is not None else ""

    def low_clause(c: ProfileCell) -> str:
        assert c.tgi is not None
        if c.tgi <= 0:
            return f"none of them {cell_phrase(c).replace('be in', 'are in', 1)} (TGI 0)"
        return f"only {fmt_times(c.tgi)} as likely to {cell_phrase(c)} (TGI {fmt_tgi(c.tgi)})"

    if top.tgi > TGI_HIGH:
        s = f"{who_cap} are {fmt_times(top.tgi)} as likely as {avg} to {cell_phrase(top)} (TGI {fmt_tgi(top.tgi)}{vs_leads(top)})"
        if low.tgi < TGI_LOW:
            s += " and " + low_clause(low)
        return s + "."
    if low.tgi < TGI_LOW:
        if low.tgi <= 0:
            return f"None of the {who} known to {provider} {cell_phrase(low).replace('be in', 'are in', 1)} (TGI 0)."
        return f"{who_cap} are only {fmt_times(low.tgi)} as likely as {avg} to {cell_phrase(low)} (TGI {fmt_tgi(low.tgi)}{vs_leads(low)})."
    return (
        f"On {tag}, {who} look like {avg}: every category shown has a TGI between {TGI_LOW:.0f} and {TGI_HIGH:.0f}"
        + (f" (highest: “{top.category}” at {fmt_tgi(top.tgi)})" if len(shown) > 1 else "")
        + "."
    )


def profile_chart(
    cells: Sequence[ProfileCell],
    *,
    names: dict[str, str],
    colours: dict[str, str],
    withheld: str,
    label: str,
    width: int = 1040,
    margins: dict[str, float | None] | None = None,
) -> str:
    """One row per category, read across: on the left the share of each group in the category
    (segment, matched leads, population: grouped bars), on the right the segment's TGI against the
    population as a bar from the 100 baseline. The TGI axis is logarithmic, so a TGI of 50 is as far
    left of 100 as 200 is right. A withheld cell is written as such, with no bar."""
    if not cells:
        return ""
    longest = max(len(c.label) for c in cells)
    label_w = min(max(math.ceil(longest * CHAR_W + 16), 90), 280)
    max_chars = int((label_w - 16) / CHAR_W)
    gap = 30
    avail = width - label_w - gap
    share_w = avail * 0.5
    tail = 50  # room for the share values written after the bars
    sx0, sw = label_w, share_w - tail
    tx0 = label_w + share_w + gap
    pad_l, pad_r = 56, 64  # room for TGI values written left or right of the bars
    px0, pw = tx0 + pad_l, width - tx0 - pad_l - pad_r
    head_h, row_h, bar_h, tgi_h = 50, 42, 10, 16
    rows_h = row_h * len(cells)
    height = head_h + rows_h + 40

    shares = [v for c in cells for v in c.share.values() if v is not None]
    s_ticks = nice_ticks(0.0, max(max(shares, default=0.0), 0.05), 4)
    s_top = s_ticks[-1]
    tgis = [c.tgi for c in cells if c.tgi is not None]
    positive = [t for t in tgis if t > TGI_TINY]
    lo_e = max(-3, min(-1, math.floor(math.log2(min(positive) / 100)) if positive else -1))
    if any(t <= TGI_TINY for t in tgis):
        lo_e = -3 if not positive else min(lo_e, -2)
    hi_e = min(5, max(1, math.ceil(math.log2(max(positive) / 100) - 1e-9) if positive else 1))

    def sx(v: float) -> float:
        return sx0 + max(0.0, min(1.0, v / s_top)) * sw

    def tx(v: float) -> float:
        e = math.log2(v / 100) if v > TGI_TINY else lo_e
        return px0 + (max(lo_e, min(hi_e, e)) - lo_e) / (hi_e - lo_e) * pw

    out: list[str] = []
    top_y, bottom_y = head_h - 4, head_h + rows_h
    # headers and legends
    out.append(_text(sx0, 15, "Share of each group in the category", "start", "lbl", ' font-weight="600"'))
    out.append(
        _text(
            tx0,
            15,
            _fit(f"TGI vs {names['population']} (100 = average)", int((width - tx0) / 7.8)),
            "start",
            "lbl",
            ' font-weight="600"',
        )
    )
    x: float = sx0
    # the three legend entries side by side over the panel; long names cut only if they would not fit
    need = sum(31 + len(names[g]) * 6.6 for g in PROFILE_GROUPS)
    fit = 10_000 if need <= share_w + gap - 8 else max(8, int((share_w + gap - 8 - 3 * 31) / 3 / 6.6))
    for g in PROFILE_GROUPS:
        out.append(f'<rect x="{x:.1f}" y="25" width="11" height="11" rx="2" fill="{esc(colours[g])}"/>')
        out.append(_text(x + 15, 35, _fit(names[g], fit), "start", "legend"))
        x += 15 + len(_fit(names[g], fit)) * 6.6 + 16
    x = tx0
    for colour, words in (
        (TGI_OVER, f"over {TGI_HIGH:.0f}"),
        (TGI_TYPICAL, "typical"),
        (TGI_UNDER, f"under {TGI_LOW:.0f}"),
    ):
        out.append(f'<rect x="{x:.1f}" y="25" width="11" height="11" rx="2" fill="{colour}"/>')
        out.append(_text(x + 15, 35, words, "start", "legend"))
        x += 15 + len(words) * 6.6 + 16
    # grids: shares
    for v in s_ticks:
        out.append(f'<line x1="{sx(v):.1f}" y1="{top_y}" x2="{sx(v):.1f}" y2="{bottom_y}" class="grid"/>')
        out.append(_text(sx(v), bottom_y + 14, tick_pct(v), "middle", "tick"))
    out.append(_text(sx0 + sw / 2, bottom_y + 32, "share of the group's people", "middle", "axis"))
    # grids: TGI, with the 80–120 band where a TGI says little
    out.append(
        f'<rect x="{tx(TGI_LOW):.1f}" y="{top_y}" width="{tx(TGI_HIGH) - tx(TGI_LOW):.1f}" height="{bottom_y - top_y}" class="band"/>'
    )
    for e in range(lo_e, hi_e + 1):
        v = 100 * 2.0**e
        if e != 0:
            out.append(f'<line x1="{tx(v):.1f}" y1="{top_y}" x2="{tx(v):.1f}" y2="{bottom_y}" class="grid"/>')
        out.append(_text(tx(v), bottom_y + 14, f"{v:g}", "middle", "tick"))
    out.append(
        _text(
            px0 + pw / 2,
            bottom_y + 32,
            "TGI (log scale: 50 and 200 are equally far from 100)",
            "middle",
            "axis",
        )
    )

    for i, c in enumerate(cells):
        y = head_h + i * row_h
        mid = y + row_h / 2
        if i:
            out.append(f'<line x1="0" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" class="rowline"/>')
        out.append(_text(label_w - 10, mid + 4.5, _fit(c.label, max_chars), "end", "lbl"))
        if c.suppressed:
            out.append(f"<g><title>{esc(c.label)}: {esc(withheld)}</title>")
            out.append(_text(sx0 + 6, mid + 4.5, withheld, "start", "wh"))
            out.append(_text(tx(100) + 8, mid + 4.5, "withheld", "start", "wh"))
            out.append("</g>")
            continue
        tip = "; ".join(
            f"{names[g]} {fmt_pct(c.share.get(g))} ({fmt_pm(c.count.get(g), (margins or {}).get(g))} people)"
            for g in PROFILE_GROUPS
        )
        tip += f"; TGI {fmt_tgi(c.tgi)} vs the population, {fmt_tgi(c.tgi_leads)} vs matched leads"
        out.append(f"<g><title>{esc(c.label)}: {esc(tip)}</title>")
        y0 = mid - (3 * bar_h + 2) / 2
        for j, g in enumerate(PROFILE_GROUPS):
            by = y0 + j * (bar_h + 1)
            share = c.share.get(g)
            if share is None:
                out.append(_text(sx0 + 4, by + bar_h - 1, "—", "start", "pv"))
                continue
            out.append(
                f'<rect x="{sx0}" y="{by:.1f}" width="{sx(share) - sx0:.1f}" height="{bar_h}" fill="{esc(colours[g])}"/>'
            )
            weight = ' font-weight="700"' if g == "segment" else ""
            out.append(_text(sx(share) + 5, by + bar_h - 1, fmt_pct(share), "start", "pv", weight))
        if c.tgi is None:
            why = "no TGI: nobody in the population" if c.share.get("population") == 0 else "no TGI"
            out.append(_text(tx(100) + 8, mid + 4.5, why, "start", "wh"))
        else:
            x0, x1 = sorted((tx(100), tx(c.tgi)))
            cls = tgi_class(c.tgi)
            out.append(
                f'<rect x="{x0:.1f}" y="{mid - tgi_h / 2:.1f}" width="{max(x1 - x0, 1.5):.1f}" height="{tgi_h}" rx="2" '
                f'fill="{tgi_colour(c.tgi)}"/>'
            )
            if c.tgi < 100 * 2.0**lo_e or c.tgi > 100 * 2.0**hi_e:
                # off the scale (a TGI of 0, or beyond the last tick): the bar is drawn broken near its end
                bx = x0 + 8 if c.tgi < 100 else x1 - 8
                out.append(
                    f'<path d="M{bx - 2:.1f},{mid + tgi_h / 2 + 1:.1f} L{bx + 2:.1f},{mid - tgi_h / 2 - 1:.1f}" '
                    'stroke="#fff" stroke-width="3"/>'
                )
            weight = ' font-weight="700"' if cls in ("over", "under") else ""
            if c.tgi >= 100:
                out.append(_text(x1 + 5, mid + 4.5, f"TGI {fmt_tgi(c.tgi)}", "start", "val", weight))
            else:
                out.append(_text(x0 - 5, mid + 4.5, f"TGI {fmt_tgi(c.tgi)}", "end", "val", weight))
        out.append("</g>")
    out.append(f'<line x1="{sx0}" y1="{top_y}" x2="{sx0}" y2="{bottom_y}" class="axisline"/>')
    out.append(f'<line x1="{tx(100):.1f}" y1="{top_y}" x2="{tx(100):.1f}" y2="{bottom_y}" class="base"/>')
    return _svg(width, height, out, label)


def profile_table(
    cells: list[ProfileCell],
    names: dict[str, str],
    withheld: str,
    margins: dict[str, float | None] | None = None,
    more_withheld: str = "",
) -> str:
    def cap(s: str) -> str:
        return s[:1].upper() + s[1:]

    headers = [
        "Category",
        cap(names["segment"]),
        "share",
        "Matched leads",
        "share",
        cap(names["population"]),
        "share",
        "TGI vs population",
        "TGI vs leads",
    ]
    head = "".join(f"<th{'' if j == 0 else ' class=num'}>{esc(h)}</th>" for j, h in enumerate(headers))
    body = []
    for c in cells:
        if c.suppressed:
            body.append(
                f'<tr><td>{esc(c.category)}</td><td class="wh" colspan="{len(headers) - 1}">{esc(withheld)}</td></tr>'
            )
            continue
        tds = [f"<td>{esc(c.category)}</td>"]
        for g in PROFILE_GROUPS:
            tds.append(
                f'<td class="num">{pm_html(c.count.get(g), (margins or {}).get(g))}</td><td class="num">{fmt_pct(c.share.get(g))}</td>'
            )
        for t in (c.tgi, c.tgi_leads):
            tint = TGI_TINTS.get(tgi_class(t))
            style = f' style="background:{tint};font-weight:700"' if tint else ""
            tds.append(f'<td class="num"{style}>{fmt_tgi(t)}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    if more_withheld:
        body.append(f'<tr><td class="wh" colspan="{len(headers)}">{esc(more_withheld)}</td></tr>')
    return f'<table class="profile"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def profile_title(payload: Json) -> str:
    who = profile_who(payload)
    return "Audience profile (联合画像): " + (
        f"who your {who} are" if not who.startswith("people in") else "who is in your segment"
    )


def section_profile(payload: Json, info: Json, parties: dict[str, str] | None = None) -> str:
    who = profile_who(payload)
    who_cap = who[:1].upper() + who[1:]
    provider = str(payload.get("provider") or "the data provider")
    sizes = obj(payload.get("sizes"))
    seg_n, leads_n, pop_n = (num(sizes.get(g)) for g in ("segment", "matched_leads", "population"))
    k = num(payload.get("k_min"))
    k_words = f"fewer than {fmt_count(k)} people" if k is not None else "fewer than k people"
    withheld = f"withheld ({k_words})"
    dp = payload.get("dp")
    dpo = obj(dp)
    eps = num(dpo.get("epsilon"))
    tags = [t for t in rows_of(payload.get("tags"))]
    per_tag = [(t, profile_cells(t)) for t in tags]
    all_cells = [c for _, cs in per_tag for c in cs]
    # a zone that suppresses on noised counts lists no withheld row at all, only how many per tag
    more = [tag_withheld(t) for t in tags]
    hidden = sum(c.suppressed for c in all_cells) + sum(more)
    acc = obj(payload.get("accuracy"))
    margins = {g: num(obj(acc.get(g)).get("half_width_95")) for g in PROFILE_GROUPS}
    size_margin = f"; within ±{fmt_count(margins['segment'])}" if margins["segment"] is not None else ""
    defined = segment_words(payload.get("segment"))
    names = {
        "segment": who if who != "people in your segment" else "your segment",
        "leads": "matched leads",
        "population": f"all {provider} users",
    }
    colours = {"segment": BRAND, "leads": LEADS_TINT, "population": (parties or {}).get(provider, MUTED)}
    out: list[str] = []

    out.append(
        note(
            f"How your {who}"
            + (f" ({defined})" if defined else "")
            + f" look in {provider}'s audience tags, next to "
            f"all your leads {provider} knows and {provider}'s whole user base. The counting was done inside the "
            f"neutral zone: {provider} did not learn which of its users are your leads, and you saw none of its rows. "
            f"TGI (target group index) is a category's share among your {who} divided by its share among all "
            f"{provider} users, times 100: above {TGI_HIGH:.0f} they are over-represented there, below "
            f"{TGI_LOW:.0f} under-represented.",
            "lead",
        )
    )
    spread = pm_range(list(margins.values()))
    dp_tile = (
        (
            "Privacy noise added",
            f"ε = {eps:g}" if eps is not None else "on",
            f"differential privacy: each count is within {spread} people (95%)"
            if spread
            else "differential privacy: every count is randomly perturbed by a few people",
        )
        if dp
        else ("", "", "")
    )
    out.append(
        tiles(
            [
                (
                    f"{who_cap} (your segment)",
                    fmt_count(seg_n),
                    (
                        f"{fmt_pct(seg_n / leads_n)} of your matched leads"
                        if seg_n is not None and leads_n
                        else f"known to {provider}"
                    )
                    + size_margin,
                ),
                ("Matched leads", fmt_count(leads_n), f"your leads that {provider} also knows"),
                (f"{provider} population", fmt_count(pop_n), "all its users: the baseline for TGI"),
                (
                    "Cells withheld",
                    f"{hidden} of {len(all_cells) + sum(more)}" if all_cells or hidden else "—",
                    f"categories with {k_words} in a group, names too"
                    if sum(more)
                    else f"categories with {k_words} in a group",
                ),
                dp_tile,
            ]
        )
    )
    if dp:
        mech = str(dpo.get("mechanism") or "").replace("_", " ")
        each = num(dpo.get("epsilon_each"))
        m = num(dpo.get("measurements"))
        # the zone's account lists one measurement per tag (a histogram of it); an older one, how many counts
        hists = rows_of(dpo.get("measurements"))
        eps_each = {e for h in hists if (e := num(h.get("epsilon"))) is not None}
        if each is None and len(eps_each) == 1:
            each = eps_each.pop()
        shared = (
            f" shared over {fmt_count(m)} counts"
            if m is not None
            else f" shared over {len(hists)} tag histograms"
            if hists
            else ""
        )
        out.append(
            note(
                "Differential privacy was applied: every count on this page had random "
                + (f"{mech} " if mech else "")
                + "noise added inside the neutral zone before release"
                + (f", with a total privacy budget of ε = {eps:g}" if eps is not None else "")
                + shared
                + (f" (ε = {each:.3g} each)" if each is not None else "")
                + (
                    ". Each count is shown with its margin (± at 95%), and shares and TGIs are computed from the noised "
                    f"counts: a category with few of your {who} in it can move a lot, and "
                    if spread
                    else ". Counts may be off by a few people, and shares and TGIs are computed from the noised counts; "
                )
                + "small differences between categories are not meaningful."
            )
        )

    if not per_tag:
        out.append(note("This release holds no tags to draw."))
    # overview: where the segment differs most from the provider's average user
    ranked = sorted(
        (c for c in all_cells if c.tgi is not None and tgi_class(c.tgi) in ("over", "under")),
        key=lambda c: -(c.tgi or 0.0),
    )
    over = [c for c in ranked if (c.tgi or 0) > TGI_HIGH][:7]
    under = [c for c in ranked if (c.tgi or 0) < TGI_LOW][-3:]
    if len(per_tag) > 1 and over + under:
        picked = [
            ProfileCell(
                f"{tag_words(c.tag)} · {c.category}",
                c.category,
                False,
                c.count,
                c.share,
                c.tgi,
                c.tgi_leads,
                c.tag,
                c.numeric,
            )
            for c in over + under
        ]
        best = picked[0]
        cap = (
            profile_takeaway(who, provider, best.tag, [best], k_words)
            + " "
            + f"The chart ranks every category, across all {len(per_tag)} tags, whose TGI is above {TGI_HIGH:.0f} or below {TGI_LOW:.0f}."
        )
        out.append(
            '<div class="block">'
            + figure(
                f"Where your {who} differ most from the average {provider} user",
                profile_chart(
                    picked,
                    names=names,
                    colours=colours,
                    withheld=withheld,
                    margins=margins,
                    label=f"categories where {who} are over- or under-represented",
                ),
                cap,
                wide=True,
            )
            + "</div>"
        )

    for t, cells in per_tag:
        tag = str(t.get("tag") if t.get("tag") is not None else "tag")
        title = tag_words(tag)
        n_more = tag_withheld(t)
        cap = profile_takeaway(who, provider, tag, cells, k_words, n_more)
        bands = [c for c in cells if c.category != "(unknown)"]
        if t.get("numeric") is True and len(bands) > 1:
            cap += f" {title[:1].upper() + title[1:]} is a number; its bands split {provider}'s users into {len(bands)} groups of about equal size."
        if any(c.suppressed for c in cells):
            cap += (
                f" Categories marked withheld have {k_words} in at least one of the three groups; their numbers were not "
                "released and are not estimated here."
            )
        more_words = ""
        if n_more:
            k_short = f"k = {fmt_count(k)}" if k is not None else "k"
            more_words = (
                ("All " if not cells else "")
                + f"{n_more} categor{'y' if n_more == 1 else 'ies'} under {k_short} withheld, names too: "
                f"{'it has' if n_more == 1 else 'each has'} {k_words} in at least one of the three groups."
            )
            if cells:
                cap += " " + more_words
        chart = (
            profile_chart(
                cells,
                names=names,
                colours=colours,
                withheld=withheld,
                margins=margins,
                label=f"{title}: shares and TGI per category",
            )
            if cells
            else ""
        )
        out.append('<div class="block">')
        if chart:
            out.append(figure(title[:1].upper() + title[1:], chart, cap, wide=True))
            out.append(
                f'<details><summary>Numbers for {esc(title)}</summary><div class="scroll">'
                f"{profile_table(cells, names, withheld, margins, more_words)}</div></details>"
            )
        else:
            out.append(
                f"<h3>{esc(title[:1].upper() + title[1:])}</h3>"
                + note(more_words if n_more else "No categories were released for this tag.")
            )
        out.append("</div>")

    facts = [
        f"segment “{payload.get('segment_name')}”" + (f": {defined}" if defined else "")
        if payload.get("segment_name")
        else "",
        f"data provider {provider}" if payload.get("provider") else "",
        f"every count shown is zero or at least k = {fmt_count(k)} people" if k is not None else "",
        f"suppression: {payload.get('suppression')}" if isinstance(payload.get("suppression"), str) else "",
        "TGI vs leads compares the segment with all your matched leads instead of the whole population",
    ]
    facts = [f for f in facts if f]
    out.append(note("Technical details: " + "; ".join(facts) + ".", "small"))
    return '<div class="prof">' + "".join(out) + "</div>"


def page_party_colours(payloads: Sequence[Json]) -> dict[str, str]:
    """Each partner's colour over the page, as the overlap chart draws it: every party but the
    brand named anywhere on the page, coloured in name order."""
    partners: set[str] = set()
    for p in payloads:
        partners |= {
            str(r.get("party"))
            for r in rows_of(p.get("parties"))
            if r.get("party") and r.get("role") != "brand"
        }
        for rows in obj(p.get("models")).values():
            partners |= {str(r.get("party")) for r in rows_of(rows) if r.get("party")}
        if p.get("job") == "profile" and p.get("provider"):
            partners.add(str(p.get("provider")))
    return party_colours("", sorted(partners))


LONG_TEXT = 120  # longer strings in an unknown payload are blobs or row data: named, not printed


def section_generic(payload: Json, info: Json) -> str:
    rows, other = [], []
    for key, v in payload.items():
        k = str(key)
        if k in ("job", "dp", "accuracy"):  # the privacy note states these
            continue
        if isinstance(v, str) and len(v) > LONG_TEXT:
            other.append(k)
        elif v is None or isinstance(v, (str, bool)):
            rows.append([esc(k.replace("_", " ")), esc("—" if v is None else v)])
        elif num(v) is not None:
            f = num(v)
            assert f is not None
            shown = fmt_count(f) if f == int(f) and abs(f) >= 1 else f"{f:.4g}"
            rows.append([esc(k.replace("_", " ")), shown])
        else:
            other.append(k)
    out = [table(["Field", "Value"], rows, numeric=[False, True])] if rows else []
    if other:
        out.append(note("Also in this release, not drawn here: " + ", ".join(other) + "."))
    if not rows and not other:
        out.append(note("This release has no fields to show."))
    return "".join(out)


# statuses under which a release has no payload, and how a reader should take them
NOT_RELEASED = {
    "refused": "an automatic privacy check refused this request",
    "rejected": "an auditor rejected this result",
    "failed": "the computation failed",
    "expired": "the result expired before it was approved and fetched",
    "pending": "the result still awaits the auditors' approval",
    "running": "the computation had not finished",
}

# each job's margins in words, for its privacy note; any other job's counts of people by ``generic_accuracy``
ACCURACY: dict[str, Callable[[Json], str]] = {
    "intersection_stats": intersection_accuracy,
    "profile": profile_accuracy,
    "lead_rating_train": model_card_accuracy,
    "lead_rating_score": scores_accuracy,
    "attribution": attribution_accuracy,
}

SectionFn = Callable[[Json, Json], str]
SECTIONS: dict[str, tuple[str, SectionFn]] = {
    "intersection_stats": ("How many people you share with your partners", section_intersection),
    "lead_rating_train": ("Lead rating: which leads will come to a store", section_model_card),
    "lead_rating_seal": ("The trained lead-rating model, sealed", section_sealed),
}


# ---------------------------------------------------------------------------------------------
# The page


def _footer(info: Json) -> str:
    approvals = [str(a.get("auditor")) for a in rows_of(info.get("approvals")) if a.get("auditor")]
    status = str(info.get("status") or "unknown")
    parts = [
        f"approved by {words_list(approvals)}"
        if approvals
        else f"no auditor approval recorded (status: {status})",
        f"digest {short_digest(info.get('digest'))}",
        f"release {info.get('release_id') or '—'}",
    ]
    if info.get("recipient"):
        parts.append(f"addressed to {info.get('recipient')}")
    checks = rows_of(info.get("checks"))
    if checks:
        passed = [str(c.get("name")) for c in checks if c.get("passed")]
        failed = [str(c.get("name")) for c in checks if not c.get("passed")]
        parts.append(
            "automatic checks passed: "
            + (", ".join(passed) or "none")
            + (f"; FAILED: {', '.join(failed)}" if failed else "")
        )
    verified = obj(info.get("verification"))
    by = verified.get("approved_by")
    if isinstance(by, list) and by:
        parts.append(
            f"signatures of {words_list([str(a) for a in by])} verified at fetch by "
            f"{verified.get('verified_by') or 'the recipient'} against its own trusted auditor keys"
        )
    text = "; ".join(parts)
    cls = "footer" if approvals and status == "approved" else "footer warn"
    title = f' title="{esc(info.get("digest"))}"' if info.get("digest") else ""
    return f'<footer class="{cls}"{title}>{esc(text[0].upper() + text[1:])}.</footer>'


def render_release(
    doc: Json, index: int = 0, colours: dict[str, str] | None = None, parties: dict[str, str] | None = None
) -> str:
    info = obj(doc.get("release"))
    payload = obj(doc.get("payload"))
    job = str(payload.get("job") or info.get("job") or "unknown job")
    rid = str(info.get("release_id") or f"release-{index + 1}")
    if job == "profile":
        title, body = profile_title(payload), section_profile(payload, info, parties)
    elif job == "lead_rating_score":
        title, body = "Lead scores: your leads by grade", section_scores(payload, info, doc)
    elif job == "attribution":
        title, body = attribution_title(payload, info), section_attribution(payload, info, colours)
    elif job in SECTIONS:
        title, fn = SECTIONS[job]
        body = fn(payload, info)
    else:
        title, body = f"Result of “{job}”", section_generic(payload, info)
    # the grades' privacy cost buys a check, not noise on the page's figures: no "margins" sentence for them
    body += privacy_note(
        payload, info, ACCURACY.get(job, generic_accuracy)(payload), tail=job != "lead_rating_score"
    )
    if not payload:
        status = str(info.get("status") or "")
        if status in NOT_RELEASED:
            why = str(info.get("error") or "").strip()
            body = note(
                f"Nothing was released: {NOT_RELEASED[status]}" + (f" — {why}" if why else "") + ".", "lead"
            )
        else:
            body = note("This release carries no payload.")
    return (
        f'<section class="release" id="{esc(rid)}"><h2>{esc(title)}</h2>'
        f'<div class="kicker">{esc(job)} · {esc(rid)}</div>{body}{_footer(info)}</section>'
    )


CSS = """
:root { --ink:#1d2433; --soft:#5b6475; --line:#e3e7ee; --bg:#f6f7f9; --brand:#0b3d66; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); line-height:1.45;
  font-family: system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 48px; }
header.page { background: var(--brand); color: #fff; padding: 28px 24px 22px; }
header.page div { max-width: 1120px; margin: 0 auto; }
header.page h1 { margin: 0 0 6px; font-size: 28px; font-weight: 650; }
header.page p { margin: 0; opacity: .88; max-width: 820px; }
nav { margin: 18px 0 0; font-size: 14px; }
nav a { color: #fff; margin-right: 18px; }
section.release { background:#fff; border:1px solid var(--line); border-radius: 10px; padding: 22px 26px 14px; margin: 0 0 28px; }
h2 { margin: 0; font-size: 22px; color: var(--brand); }
h3 { margin: 0 0 8px; font-size: 16px; }
.kicker { color: var(--soft); font-size: 12px; margin: 2px 0 14px; font-family: ui-monospace, Menlo, Consolas, monospace; }
.lead { font-size: 15px; max-width: 860px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 14px; margin: 14px 0 22px; }
.tile { border: 1px solid var(--line); border-left: 4px solid var(--brand); border-radius: 8px; padding: 12px 14px; background: #fbfcfd; }
.tile-label { font-size: 13px; color: var(--soft); }
.tile-value { font-size: 30px; font-weight: 700; color: var(--brand); font-variant-numeric: tabular-nums; }
.tile-note { font-size: 12.5px; color: var(--soft); }
.figs { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 26px 28px; margin: 22px 0 8px; }
.fig { margin: 0 0 8px; }
.fig.wide { grid-column: 1 / -1; }
figcaption, .caption { font-size: 14px; color: var(--ink); margin: 6px 0 0; max-width: 820px; }
svg.chart { width: 100%; height: auto; display: block; font-size: 12px; margin: 4px 0; }
svg .grid { stroke: #edf0f4; stroke-width: 1; }
svg .frame { fill: none; stroke: #c9d0da; }
svg .tick { fill: #6b7384; font-size: 11px; }
svg .axis { fill: #4a5263; font-size: 12px; }
svg .lbl { fill: var(--ink); font-size: 13px; }
svg .val { fill: var(--ink); font-size: 12.5px; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg .legend { fill: var(--ink); font-size: 12px; }
svg .legend-bg { fill: #fff; opacity: .9; }
svg .soft { fill: var(--soft); font-weight: 400; }
svg .axisline { stroke: #9aa3b2; stroke-width: 1; }
.grid2 { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 3fr); gap: 28px; margin-top: 18px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; font-variant-numeric: tabular-nums; }
th { white-space: nowrap; text-align: left; font-weight: 600; color: var(--soft); border-bottom: 2px solid var(--line); padding: 6px 8px; font-size: 13px; }
td { border-bottom: 1px solid var(--line); padding: 6px 8px; }
.num { text-align: right; }
table.grades { max-width: 760px; }
.chip { display: inline-block; min-width: 26px; text-align: center; color: #fff; font-weight: 700; border-radius: 4px; padding: 1px 6px; }
.you { color: var(--soft); font-size: 12px; }
.block { margin: 22px 0 8px; }
details summary { cursor: pointer; color: var(--brand); font-size: 14px; margin-bottom: 8px; }
details table { max-width: 620px; }
.note { font-size: 13.5px; color: var(--soft); margin: 8px 0; }
.small { font-size: 12px; color: var(--soft); }
footer.footer { margin-top: 18px; padding-top: 10px; border-top: 1px solid var(--line); font-size: 12.5px; color: var(--soft); }
footer.warn { color: #9a2a2a; font-weight: 600; }
.empty { color: var(--soft); }
svg .party { fill: var(--soft); font-size: 12px; font-weight: 700; letter-spacing: .02em; }
table.attr th { white-space: normal; vertical-align: bottom; }
table.attr td { white-space: nowrap; }
.scroll { overflow-x: auto; }
.minw { min-width: 860px; }
table.attr .hl { background: #fdf1d8; font-weight: 700; }
table.attr th.hl { color: var(--ink); }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
ul.models { margin: 0; padding-left: 20px; font-size: 14px; max-width: 900px; }
ul.models li { margin: 3px 0; }
svg .pv { fill: var(--ink); font-size: 11px; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg .wh { fill: var(--soft); font-size: 12.5px; font-style: italic; }
svg .band { fill: #f1f3f6; }
svg .base { stroke: #333; stroke-width: 1.5; }
svg .rowline { stroke: #e3e7ee; stroke-width: 1; }
table.profile { max-width: 980px; }
.prof .tiles { grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); }
table.profile td.wh, span.wh { color: var(--soft); font-style: italic; }
.pm { color: var(--soft); font-size: .9em; white-space: nowrap; }
.privacy { margin: 18px 0 0; padding: 8px 12px; border-left: 3px solid var(--brand); background: #f3f6fa; font-size: 13.5px; max-width: 900px; }
.privacy.off { border-left-color: #9aa3b2; }
@media (max-width: 820px) { .figs, .grid2 { grid-template-columns: 1fr; } }
@media print { body { background: #fff; } header.page { background: #fff; color: var(--ink); border-bottom: 3px solid var(--brand); }
  nav { display: none; } section.release { border: none; break-inside: auto; } .fig { break-inside: avoid; } }
"""


def render(releases: list[dict[str, Any]]) -> str:
    """One complete, self-contained HTML document for a list of release files' contents.

    Args:
        releases: each ``{"release": {release_id, job, recipient, status, digest, approvals, ...},
            "payload": {...}}``, as fetched from the zone. Missing fields are tolerated.

    Returns:
        The HTML text: inline CSS and SVG only, no script and no external reference.
    """
    releases = [obj(d) for d in releases]
    infos = [obj(d.get("release")) for d in releases]
    recipients = sorted({str(i.get("recipient")) for i in infos if i.get("recipient")})
    who = words_list(recipients) if recipients else "you"
    payloads = [obj(d.get("payload")) for d in releases]
    colours = page_channel_colours(payloads)
    parties = page_party_colours(payloads)
    sections = [render_release(d, i, colours, parties) for i, d in enumerate(releases)]
    toc = ""
    if len(releases) > 1:
        links = []
        for i, d in enumerate(releases):
            info = infos[i]
            payload = obj(d.get("payload"))
            job = str(payload.get("job") or info.get("job") or "result")
            rid = str(info.get("release_id") or f"release-{i + 1}")
            title = (
                SECTIONS[job][0]
                if job in SECTIONS
                else "Lead scores"
                if job == "lead_rating_score"
                else attribution_title(payload, info)
                if job == "attribution"
                else profile_title(payload)
                if job == "profile"
                else job
            )
            title = title.split(":")[0]
            links.append(f'<a href="#{esc(rid)}">{esc(title)}</a>')
        toc = "<nav>" + "".join(links) + "</nav>"
    body = "".join(sections) if sections else '<p class="empty">No released results were given.</p>'
    signed = all(i.get("status") == "approved" and rows_of(i.get("approvals")) for i in infos)
    held = sum(
        1
        for d, i in zip(releases, infos, strict=True)
        if not obj(d.get("payload")) and str(i.get("status")) in NOT_RELEASED
    )
    n = len(releases) - held
    intro = (
        f"{n} released result{'s' if n != 1 else ''} for {who}, computed in the neutral zone "
        "without any party seeing another's data"
        + (
            f", and {held} request{'s' if held != 1 else ''} not released, shown with the reason. "
            if held
            else ". "
        )
        + (
            "Each passed automatic privacy checks and was signed by an auditor before release. "
            if signed
            else "A result without an auditor's signature is marked in red at its foot. "
        )
        + (
            "Figures shown with ± carry differential-privacy noise: each is within that margin of the true figure with "
            "95% probability; ε (epsilon) is the privacy budget a result spent, and smaller means more private and "
            "noisier. "
            if any(isinstance(p.get("dp"), dict) for p in payloads)
            else ""
        )
        + "This page was drawn on your own machine."
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Zhongli report — {esc(who)}</title><style>{CSS}</style></head><body>"
        f'<header class="page"><div><h1>Zhongli joint results</h1><p>{esc(intro)}</p>{toc}</div></header>'
        f"<main>{body}</main></body></html>\n"
    )


def check_verified(doc: Json, source: str, trust: TrustedAuditors) -> None:
    """Refuse a release document that does not carry the verification a verifying fetch wrote
    into it, whose payload is not the approved one (a file keeps the payload exactly as
    approved; what delivery added at the recipient's site sits beside it, under ``delivered``),
    or whose approvals do not verify against the reader's own trusted auditors.

    Raises:
        VerificationFailed: naming the file and what is wrong.
    """
    info = obj(doc.get("release"))
    v = obj(info.get("verification"))
    how = "fetch it with `zhongli release fetch ID --topology FILE --as YOU --out FILE`, which verifies it first"
    if not v.get("digest") or not v.get("payload_sha256"):
        raise VerificationFailed(
            f"release file {source} carries no verification record (it did not come from a verifying "
            f"fetch); {how}"
        )
    if sha256_hex(canonical_json(doc.get("payload"))) != v.get("payload_sha256"):
        raise VerificationFailed(
            f"release file {source}: its payload is not the one verified at fetch (edited since?); {how}"
        )
    try:
        header = ReleaseHeader(
            str(info["release_id"]),
            str(info["session_id"]),
            str(info["job"]),
            str(info["kind"]),
            str(info["recipient"]),
            str(v["payload_sha256"]),
            str(v.get("summary_sha256", "")),
        )
        approvals = [
            Approval(
                str(a.get("auditor", "")),
                bytes.fromhex(str(a["public_key"])),
                bytes.fromhex(str(a["signature"])),
            )
            for a in rows_of(info.get("approvals"))
        ]
    except (KeyError, ValueError, TypeError):
        raise VerificationFailed(
            f"release file {source}: its header or approvals are incomplete; {how}"
        ) from None
    verdict = verify_approvals(header, approvals, trust)
    if not verdict.ok:
        raise VerificationFailed(
            f"release file {source} does not verify against your trusted auditors: {verdict.reason}"
        )
    if verdict.digest != v.get("digest"):
        raise VerificationFailed(
            f"release file {source}: its header does not hash to the digest verified at fetch"
        )


def load_release(path: Path, trust: TrustedAuditors) -> Json:
    """Read one release file; a file that is not one, or one that is not verified (see
    :func:`check_verified`), names itself in the error."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read release file {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"release file {path} is not JSON ({exc})") from exc
    if (
        isinstance(doc, dict)
        and doc.get("payload") is None
        and str(obj(doc.get("release")).get("status")) in NOT_RELEASED
    ):
        return doc  # a refused (or not yet approved) release: drawn as such, with its reason
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        raise InvalidInput(
            f'release file {path} has no payload object; expected {{"release": {{...}}, "payload": {{...}}}}'
        )
    check_verified(doc, str(path), trust)
    return with_delivery(doc)


def with_delivery(doc: Json) -> Json:
    """The payload as the recipient sees it: the approved payload plus what delivery added at its
    own site (``delivered``): credited values it decrypted with its own key, and where its own
    agent wrote the row values (which never appear on a page)."""
    d = obj(doc.get("delivered"))
    if not d:
        return doc
    payload = json.loads(json.dumps(doc["payload"]))
    values = obj(d.get("credited_value"))
    for model, rows in obj(payload.get("models")).items():
        got = obj(values.get(model))
        for r in rows_of(rows):
            if str(r.get("channel")) in got:
                r["credited_value"] = got[str(r.get("channel"))]
    if d.get("scores_file"):
        payload = {k: v for k, v in payload.items() if k not in ("scores", "grades")} | {
            "scores_file": str(d["scores_file"])
        }
    return {**doc, "payload": payload}


def write_report(release_files: list[Path], out: Path, trust: TrustedAuditors) -> Path:
    """Render the given release files into one HTML page at ``out`` (folders created); returns
    ``out``. Every file's payload and approvals are checked against the reader's ``trust``."""
    html_text = render([load_release(Path(p), trust) for p in release_files])
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html_text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write the report to {out}: {exc.strerror}") from exc
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--release",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a release file (from `zhongli release fetch --out`); repeatable",
    )
    parser.add_argument("--dir", type=Path, metavar="DIR", help="use every release-*.json in DIR")
    parser.add_argument(
        "--out", type=Path, default=Path("report.html"), help="HTML file to write (default report.html)"
    )
    parser.add_argument(
        "--topology",
        default=os.environ.get("ZHONGLI_TOPOLOGY"),
        help="with --as: every file's approvals are checked against your own trusted auditors (required)",
    )
    parser.add_argument(
        "--as", dest="identity", default=os.environ.get("ZHONGLI_AS"), help="who you are in the topology"
    )


def cmd_report(args: argparse.Namespace) -> int:
    files = list(args.release or [])
    if args.dir is not None:
        if not Path(args.dir).is_dir():
            raise InvalidInput(f"--dir {args.dir} is not a folder")
        files += sorted(Path(args.dir).glob("release-*.json"))
    # a file named twice (--release and --dir) is one release: one section
    files = list({f.resolve(): f for f in files}.values())
    if not files:
        raise InvalidInput(
            "no release files: give --release FILE (repeatable) or --dir DIR with release-*.json in it"
        )
    if not (getattr(args, "topology", None) and getattr(args, "identity", None)):
        raise InvalidInput(
            "give --topology FILE and --as NAME (or ZHONGLI_TOPOLOGY and ZHONGLI_AS): the report draws only "
            "releases a quorum of your own trusted auditors approved, and checks each file against them"
        )
    from deploy.topology import load_topology, trust_of

    out = write_report(files, args.out, trust_of(load_topology(args.topology), args.identity))
    print(f"report of {len(files)} release(s) written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zhongli report", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add_arguments(parser)
    try:
        return cmd_report(parser.parse_args(argv))
    except ZhongliError as exc:
        print(f"zhongli report: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
