"""Attribution's uncertainty: each channel's credited conversions with its confidence interval
drawn as an error bar, and the effect per 1,000 people reached — the figure a media planner moves
budget by. A channel whose interval reaches zero is labelled "not distinguishable from no effect".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from deploy.report.attribution_credit import HIGHLIGHT_MODEL, AttrChannel, model_label
from deploy.report.blocks import figure, table
from deploy.report.charts import CHAR_W, fit_label, nice_ticks, svg, svg_text, tick_num
from deploy.report.fmt import Json, esc, fmt_count, fmt_pct, num, obj, rows_of

NOT_DISTINGUISHABLE = "not distinguishable from no effect"
STROKE = 'stroke="#333" stroke-width="1.5"'


@dataclass(frozen=True)
class Interval:
    channel: AttrChannel
    point: float
    lo: float
    hi: float
    share: tuple[float, float, float] | None  # point, lo, hi
    per_1000: tuple[float, float, float] | None  # point, lo, hi
    distinguishable: bool


def _pair(v: object) -> tuple[float, float] | None:
    if isinstance(v, list) and len(v) == 2:
        a, b = num(v[0]), num(v[1])
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
            return a, b
    return None


def read_intervals(models: Json, model: str, chans: list[AttrChannel]) -> list[Interval]:
    """The rows of ``model`` that carry an interval, in the page's channel order."""
    by_name = {str(r.get("channel")): r for r in rows_of(models.get(model))}
    out = []
    for c in chans:
        r = by_name.get(c.name)
        iv = obj(r.get("interval")) if r is not None else {}
        conv = _pair(iv.get("credited_conversions"))
        point = num(r.get("credited_conversions")) if r is not None else None
        if r is None or conv is None or point is None:
            continue
        sh, share = _pair(iv.get("share")), num(r.get("share"))
        pk, pk_iv = num(r.get("per_1000_reached")), _pair(r.get("per_1000_reached_interval"))
        out.append(
            Interval(
                c,
                point,
                conv[0],
                conv[1],
                (share, *sh) if sh is not None and share is not None else None,
                (pk, *pk_iv) if pk is not None and pk_iv is not None else None,
                bool(r.get("distinguishable", conv[0] > 0)),
            )
        )
    return out


def error_bar_chart(rows: list[Interval], *, axis_label: str, label: str, width: int = 760) -> str:
    """Horizontal bars of each point estimate with its interval drawn as a whisker; a channel not
    distinguishable from no effect is drawn pale and says so."""
    if not rows:
        return ""
    top = max(max(r.hi, r.point) for r in rows)
    ticks = nice_ticks(0.0, top if top > 0 else 1.0, 4)
    top = ticks[-1]
    longest = max(len(r.channel.label) for r in rows)
    label_w = min(max(math.ceil(longest * CHAR_W + 14), 80), 300)
    max_chars = longest if label_w < 300 else int((label_w - 14) / CHAR_W)
    tail_w = 260
    plot_w = width - label_w - tail_w
    row_h, bar_h, pad_top = 30, 18, 6
    rows_h = row_h * len(rows)
    height = pad_top + rows_h + 40

    def px(v: float) -> float:
        return label_w + plot_w * max(0.0, min(1.0, v / top))

    out: list[str] = []
    for v in ticks:
        x = px(v)
        out.append(
            f'<line x1="{x:.1f}" y1="{pad_top - 2}" x2="{x:.1f}" y2="{pad_top + rows_h}" class="grid"/>'
        )
        out.append(svg_text(x, pad_top + rows_h + 14, tick_num(v), "middle", "tick"))
    for i, r in enumerate(rows):
        y = pad_top + i * row_h
        mid = y + bar_h / 2
        verdict = "" if r.distinguishable else NOT_DISTINGUISHABLE
        span = f"{fmt_count(r.lo)}–{fmt_count(r.hi)}"
        out.append(
            f"<g><title>{esc(r.channel.label)}: {esc(fmt_count(r.point))} ({esc(span)}) {esc(verdict)}</title>"
        )
        out.append(svg_text(label_w - 8, mid + 5, fit_label(r.channel.label, max_chars), "end", "lbl"))
        opacity = "1" if r.distinguishable else "0.35"
        out.append(
            f'<rect x="{label_w}" y="{y}" width="{px(r.point) - label_w:.1f}" height="{bar_h}" rx="2" '
            f'fill="{esc(r.channel.colour)}" fill-opacity="{opacity}"/>'
        )
        x0, x1 = px(r.lo), px(r.hi)
        out.append(
            f'<line class="errbar" x1="{x0:.1f}" y1="{mid:.1f}" x2="{x1:.1f}" y2="{mid:.1f}" {STROKE}/>'
        )
        for x in (x0, x1):
            out.append(f'<line x1="{x:.1f}" y1="{mid - 6:.1f}" x2="{x:.1f}" y2="{mid + 6:.1f}" {STROKE}/>')
        out.append(
            f'<text x="{max(x1, px(r.point)) + 6:.1f}" y="{mid + 5:.1f}" class="val">{esc(fmt_count(r.point))}'
            f'<tspan class="soft" dx="8">{esc(span)}{"  " + esc(verdict) if verdict else ""}</tspan></text>'
        )
        out.append("</g>")
    out.append(
        f'<line x1="{label_w}" y1="{pad_top - 2}" x2="{label_w}" y2="{pad_top + rows_h}" class="axisline"/>'
    )
    out.append(svg_text(label_w + plot_w / 2, height - 4, axis_label, "middle", "axis"))
    return svg(width, height, out, label)


def section_uncertainty(payload: Json, models: Json, chans: list[AttrChannel], many: str) -> str:
    """The figure and table of the intervals of the highlighted model (or the first with them)."""
    info = obj(payload.get("intervals"))
    names = [str(m) for m in info.get("models") or []] if isinstance(info.get("models"), list) else []
    model = HIGHLIGHT_MODEL if HIGHLIGHT_MODEL in names else next(iter(names), "")
    rows = read_intervals(models, model, chans) if model else []
    if not rows:
        return ""
    conf = num(info.get("confidence")) or 0.9
    pct = f"{conf * 100:g}%"
    chart = error_bar_chart(
        rows,
        axis_label=f"credited {many} ({model_label(model).lower()} model), with {pct} intervals",
        label=f"credited {many} per channel with {pct} confidence intervals",
    )
    faint = [r.channel.label for r in rows if not r.distinguishable]
    cap = (
        f"Each bar is the {model_label(model).lower()} model's credited {many}; the whisker is its {pct} "
        f"confidence interval, from the model refitted on {fmt_count(info.get('folds'))} disjoint groups of "
        "people, each with its own privacy noise, so it holds both the sampling error and the noise. "
    )
    cap += (
        f"{', '.join(faint)}: {NOT_DISTINGUISHABLE} (the interval reaches zero)."
        if faint
        else "Every channel's interval stays above zero."
    )
    head = ["Channel", f"Credited {many} ({pct})", f"Share ({pct})", "Per 1,000 people reached", "Reading"]
    body = []
    for r in rows:
        share = f"{fmt_pct(r.share[0])} ({fmt_pct(r.share[1])}–{fmt_pct(r.share[2])})" if r.share else "—"
        per = f"{r.per_1000[0]:.2f} ({r.per_1000[1]:.2f}–{r.per_1000[2]:.2f})" if r.per_1000 else "—"
        body.append(
            [
                esc(r.channel.label),
                f"{fmt_count(r.point)} ({fmt_count(r.lo)}–{fmt_count(r.hi)})",
                share,
                per,
                "an effect" if r.distinguishable else NOT_DISTINGUISHABLE,
            ]
        )
    per_note = (
        f" Per 1,000 people reached: the incremental {many} for every thousand people the channel reached "
        "in the window — what moving budget to or from it would gain or lose, at today's reach."
    )
    return figure(
        f"How sure: credited {many} with {pct} intervals",
        chart + table(head, body, numeric=[False, True, True, True, False], cls="attr"),
        cap + per_note,
        wide=True,
    )
