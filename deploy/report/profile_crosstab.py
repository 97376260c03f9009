"""The profile's cross-tabs: how the brand's segment looks in combinations of 2–3 provider tags
(e.g. age band × city tier), one table per cross-tab, combinations ranked by TGI."""

from __future__ import annotations

from deploy.report.blocks import note, table
from deploy.report.fmt import Json, esc, fmt_count, fmt_pct, num, obj, pm_html, rows_of, strs
from deploy.report.profile_cells import TGI_HIGH, TGI_LOW, TGI_TINTS, fmt_tgi, tag_words, tgi_class

SHOWN = 15  # combinations in the open table; the rest under "all combinations"


def _title(tags: list[str]) -> str:
    words = " × ".join(tag_words(t) for t in tags)
    return words[:1].upper() + words[1:]


def _rows(cells: list[Json], tags: list[str], margin: float | None) -> tuple[list[list[str]], list[str]]:
    rows, styles = [], []
    for c in cells:
        cats = obj(c.get("categories"))
        tgi = num(c.get("tgi"))
        rows.append(
            [esc(str(cats.get(t, "—"))) for t in tags]
            + [
                pm_html(c.get("segment_count"), margin),
                esc(fmt_pct(c.get("segment_share"))),
                esc(fmt_pct(c.get("population_share"))),
                esc(fmt_tgi(tgi)),
                esc(fmt_tgi(c.get("tgi_vs_leads"))),
            ]
        )
        tint = TGI_TINTS.get(tgi_class(tgi))
        styles.append(f"background:{tint}" if tint else "")
    return rows, styles


def crosstab_blocks(payload: Json, who: str, k_words: str) -> str:
    """Every cross-tab of a profile release; nothing when it has none."""
    margin = num(obj(obj(payload.get("accuracy")).get("segment")).get("half_width_95"))
    provider = str(payload.get("provider") or "the data provider")
    out: list[str] = []
    for ct in rows_of(payload.get("crosstabs")):
        tags = strs(ct.get("tags"))
        if not tags:
            continue
        cells = sorted(rows_of(ct.get("cells")), key=lambda c: -(num(c.get("tgi")) or 0.0))
        held = num(ct.get("withheld")) or 0
        combos = num(ct.get("combinations"))
        headers = [tag_words(t) for t in tags] + [
            f"{who} (count)",
            f"share of {who}",
            f"share of {provider} users",
            "TGI",
            "TGI vs leads",
        ]
        numeric = [False] * len(tags) + [True] * 5
        title = _title(tags)
        top = [c for c in cells if (num(c.get("tgi")) or 0) > TGI_HIGH][:1]
        lead = (
            f"The combination where your {who} are most over-represented: "
            + ", ".join(f"{tag_words(t)} “{obj(top[0].get('categories')).get(t)}”" for t in tags)
            + f" (TGI {fmt_tgi(top[0].get('tgi'))})."
            if top
            else f"No combination has a TGI above {TGI_HIGH:.0f}."
        )
        words = (
            f"{lead} Each row is one combination of {' and '.join(tag_words(t) for t in tags)}; TGI above "
            f"{TGI_HIGH:.0f} (tinted warm) means over-represented, below {TGI_LOW:.0f} under-represented."
        )
        if held:
            words += (
                f" {fmt_count(held)} combination{'s' if held != 1 else ''} with {k_words} in at least one group "
                f"{'are' if held != 1 else 'is'} withheld, which combination included"
                + (f" (of {fmt_count(combos)} possible)" if combos is not None else "")
                + "."
            )
        rows, styles = _rows(cells, tags, margin)
        block = [f'<div class="block"><h3>{esc(title)}</h3>', note(words)]
        if rows:
            block.append(table(headers, rows[:SHOWN], numeric=numeric, row_styles=styles[:SHOWN]))
        else:
            block.append(note("No combination was released for this cross-tab."))
        if len(rows) > SHOWN:
            block.append(
                f"<details><summary>All {len(rows)} combinations of {esc(title.lower())}</summary>"
                f'<div class="scroll">{table(headers, rows, numeric=numeric, row_styles=styles)}</div></details>'
            )
        block.append("</div>")
        out.append("".join(block))
    if out:
        out.insert(
            0,
            "<h3>Combinations of tags</h3>"
            + note(
                "Cross-tabs cut your segment by two or three tags at once. Each is counted with its own privacy "
                "noise from the same budget, so its counts carry the same margin as a single tag's; combinations "
                "are smaller than categories, so more of them fall under the minimum and are withheld."
            ),
        )
    return "".join(out)
