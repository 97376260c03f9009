"""The intersection-statistics section: how many people the brand shares with each partner."""

from __future__ import annotations

from deploy.report.blocks import figure, note, table, tiles
from deploy.report.charts import Bar, bar_chart
from deploy.report.fmt import (
    Json,
    esc,
    figure_html,
    fmt_count,
    fmt_pct,
    fmt_pm,
    num,
    pm_range,
    rows_of,
    strs,
    words_list,
)
from deploy.report.intersection_groups import duplicate_ids, group_figures
from deploy.report.palette import MUTED, PALETTE, party_colours

ROLE_WORDS = {"brand": "car brand", "media": "media platform", "data_provider": "data provider"}


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
                f"Every count shown is either zero or at least {fmt_count(k)} people, so no single person can "
                "be picked out."
            )
    if left or right:
        out.append(f'<div class="grid2"><div>{left}</div><div>{right}</div></div>')
    out.append(group_figures(payload, brand, k) + duplicate_ids(payload))
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
