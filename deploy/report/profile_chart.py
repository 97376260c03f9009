"""The profile's chart and table: each category's share per group next to its TGI."""

from __future__ import annotations

import math
from collections.abc import Sequence

from deploy.report.charts import CHAR_W, fit_label, nice_ticks, svg, svg_text, tick_pct
from deploy.report.fmt import esc, fmt_pct, fmt_pm, pm_html
from deploy.report.profile_cells import (
    PROFILE_GROUPS,
    TGI_HIGH,
    TGI_LOW,
    TGI_OVER,
    TGI_TINTS,
    TGI_TINY,
    TGI_TYPICAL,
    TGI_UNDER,
    ProfileCell,
    fmt_tgi,
    tgi_class,
    tgi_colour,
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
    out.append(svg_text(sx0, 15, "Share of each group in the category", "start", "lbl", ' font-weight="600"'))
    out.append(
        svg_text(
            tx0,
            15,
            fit_label(f"TGI vs {names['population']} (100 = average)", int((width - tx0) / 7.8)),
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
        out.append(svg_text(x + 15, 35, fit_label(names[g], fit), "start", "legend"))
        x += 15 + len(fit_label(names[g], fit)) * 6.6 + 16
    x = tx0
    for colour, words in (
        (TGI_OVER, f"over {TGI_HIGH:.0f}"),
        (TGI_TYPICAL, "typical"),
        (TGI_UNDER, f"under {TGI_LOW:.0f}"),
    ):
        out.append(f'<rect x="{x:.1f}" y="25" width="11" height="11" rx="2" fill="{colour}"/>')
        out.append(svg_text(x + 15, 35, words, "start", "legend"))
        x += 15 + len(words) * 6.6 + 16
    # grids: shares
    for v in s_ticks:
        out.append(f'<line x1="{sx(v):.1f}" y1="{top_y}" x2="{sx(v):.1f}" y2="{bottom_y}" class="grid"/>')
        out.append(svg_text(sx(v), bottom_y + 14, tick_pct(v), "middle", "tick"))
    out.append(svg_text(sx0 + sw / 2, bottom_y + 32, "share of the group's people", "middle", "axis"))
    # grids: TGI, with the 80–120 band where a TGI says little
    out.append(
        f'<rect x="{tx(TGI_LOW):.1f}" y="{top_y}" width="{tx(TGI_HIGH) - tx(TGI_LOW):.1f}" '
        f'height="{bottom_y - top_y}" class="band"/>'
    )
    for e in range(lo_e, hi_e + 1):
        v = 100 * 2.0**e
        if e != 0:
            out.append(f'<line x1="{tx(v):.1f}" y1="{top_y}" x2="{tx(v):.1f}" y2="{bottom_y}" class="grid"/>')
        out.append(svg_text(tx(v), bottom_y + 14, f"{v:g}", "middle", "tick"))
    out.append(
        svg_text(
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
        out.append(svg_text(label_w - 10, mid + 4.5, fit_label(c.label, max_chars), "end", "lbl"))
        if c.suppressed:
            out.append(f"<g><title>{esc(c.label)}: {esc(withheld)}</title>")
            out.append(svg_text(sx0 + 6, mid + 4.5, withheld, "start", "wh"))
            out.append(svg_text(tx(100) + 8, mid + 4.5, "withheld", "start", "wh"))
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
                out.append(svg_text(sx0 + 4, by + bar_h - 1, "—", "start", "pv"))
                continue
            out.append(
                f'<rect x="{sx0}" y="{by:.1f}" width="{sx(share) - sx0:.1f}" height="{bar_h}" '
                f'fill="{esc(colours[g])}"/>'
            )
            weight = ' font-weight="700"' if g == "segment" else ""
            out.append(svg_text(sx(share) + 5, by + bar_h - 1, fmt_pct(share), "start", "pv", weight))
        if c.tgi is None:
            why = "no TGI: nobody in the population" if c.share.get("population") == 0 else "no TGI"
            out.append(svg_text(tx(100) + 8, mid + 4.5, why, "start", "wh"))
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
                out.append(svg_text(x1 + 5, mid + 4.5, f"TGI {fmt_tgi(c.tgi)}", "start", "val", weight))
            else:
                out.append(svg_text(x0 - 5, mid + 4.5, f"TGI {fmt_tgi(c.tgi)}", "end", "val", weight))
        out.append("</g>")
    out.append(f'<line x1="{sx0}" y1="{top_y}" x2="{sx0}" y2="{bottom_y}" class="axisline"/>')
    out.append(f'<line x1="{tx(100):.1f}" y1="{top_y}" x2="{tx(100):.1f}" y2="{bottom_y}" class="base"/>')
    return svg(width, height, out, label)


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
                f'<td class="num">{pm_html(c.count.get(g), (margins or {}).get(g))}</td>'
                f'<td class="num">{fmt_pct(c.share.get(g))}</td>'
            )
        for t in (c.tgi, c.tgi_leads):
            tint = TGI_TINTS.get(tgi_class(t))
            style = f' style="background:{tint};font-weight:700"' if tint else ""
            tds.append(f'<td class="num"{style}>{fmt_tgi(t)}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    if more_withheld:
        body.append(f'<tr><td class="wh" colspan="{len(headers)}">{esc(more_withheld)}</td></tr>')
    return f'<table class="profile"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
