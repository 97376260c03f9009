"""Reading and formatting released values.

Everything from a release may be missing or of the wrong type: the readers (``num``, ``obj``,
``rows_of``, ...) answer "nothing" and the formatters "—" rather than fail, so one odd field never
costs the reader the whole page. ``esc`` is the one HTML escape every string taken from a release
goes through, party names included.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

Json = dict[str, Any]

LABEL_WORDS = {
    "visited_store": "visited a store",
    "purchased": "bought a car",
    "test_drive": "booked a test drive",
}


# Runs of Chinese characters (CJK ideographs, their punctuation and full-width forms). Marked
# lang="zh-CN" on the page so a browser picks a Simplified Chinese font for them, not a Japanese one.
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def lang_html(value: Any) -> str:
    """``esc``, with every run of Chinese characters in a ``<span lang="zh-CN">`` (for text, never
    for attributes)."""
    return _CJK.sub(lambda m: f'<span lang="zh-CN">{m.group(0)}</span>', esc(value))


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


def pm_range(margins: Sequence[float | None], fmt: Callable[[Any], str] = fmt_count) -> str:
    """``±16``, or ``±6 to ±16`` when the figures' margins differ."""
    hs = sorted({h for h in margins if h is not None})
    if not hs:
        return ""
    return f"±{fmt(hs[0])}" if fmt(hs[0]) == fmt(hs[-1]) else f"±{fmt(hs[0])} to ±{fmt(hs[-1])}"


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


def label_words(label: Any) -> str:
    s = str(label or "converted")
    return LABEL_WORDS.get(s, s.replace("_", " "))
