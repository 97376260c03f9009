"""Attribution's per-channel credit: read from the payload, coloured, and drawn as a share grid.

Which channels get the credit for the conversions, under eight models. ``attribution_channels``
gathers each channel's share, credited conversions and value under every model; the colours keep a
party's channels in one hue, the same in every section of the page (``page_channel_colours``);
``attribution_margins`` reads the 95% margins the release states.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deploy.report.charts import CHAR_W, fit_label, svg, svg_text
from deploy.report.fmt import Json, esc, fmt_pct, num, obj, rows_of
from deploy.report.palette import MUTED, PALETTE, party_colours

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
    # a media party has the same colour as in the overlap chart
    hue = party_colours("", [p for p in parties if p])
    if "" in parties:  # channels of no named party go last
        parties = [*parties[1:], ""]
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
                f'<rect x="{x0 + 1:.1f}" y="0" width="{col_w - 2:.1f}" height="{height}" rx="6" '
                f'fill="{HIGHLIGHT_TINT}"/>'
            )
            out.append(svg_text(x0 + col_w / 2, 17, model_label(m), "middle", "lbl", ' font-weight="700"'))
            out.append(svg_text(x0 + col_w / 2, 32, "incrementality", "middle", "tick"))
        else:
            out.append(
                svg_text(x0 + col_w / 2, 24, fit_label(model_label(m), int(col_w / 7.2)), "middle", "lbl")
            )
    y = head_h
    prev: str | None = None
    for c in chans:
        if show_parties and c.party != prev:
            out.append(f'<line x1="0" y1="{y + 0.5:.1f}" x2="{width}" y2="{y + 0.5:.1f}" class="axisline"/>')
            out.append(svg_text(4, y + 17, c.party or "other", "start", "party"))
            y += party_h
            prev = c.party
        out.append(
            f'<rect x="4" y="{y + (row_h - 12) / 2:.1f}" width="12" height="12" rx="2" fill="{esc(c.colour)}"/>'
        )
        out.append(
            svg_text(22, y + row_h / 2 + 4.5, fit_label(c.name, int((label_w - 26) / CHAR_W)), "start", "lbl")
        )
        for j, m in enumerate(models):
            x0 = label_w + j * col_w + 6
            v = c.share.get(m)
            out.append(
                f'<line x1="{x0:.1f}" y1="{y + 3}" x2="{x0:.1f}" y2="{y + row_h - 3}" class="axisline"/>'
            )
            if v is None:
                out.append(svg_text(x0 + 4, y + row_h / 2 + 4.5, "—", "start", "val"))
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
            out.append(svg_text(x0 + w + 4, y + row_h / 2 + 4.5, fmt_pct(v), "start", "val", weight))
            out.append("</g>")
        y += row_h
    return svg(width, height, out, label)


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
