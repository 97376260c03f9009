"""A profile release read as cells, and the words for them.

Profile (联合画像): how an OEM segment looks in a data provider's tags, against all matched leads
and the provider's whole population, with the TGI (target group index) of each category. A tag's
categories become ``ProfileCell``s; a suppressed one keeps only its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy.report.fmt import LABEL_WORDS, Json, num, obj, rows_of
from deploy.report.palette import HIGHLIGHT

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
