"""HTML building blocks of a section: tables, titled figures, headline tiles and notes."""

from __future__ import annotations

from collections.abc import Sequence

from deploy.report.fmt import esc, lang_html


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
    return f'<figure class="{cls}"><h3>{lang_html(title)}</h3>{chart}<figcaption>{esc(caption)}</figcaption></figure>'


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
