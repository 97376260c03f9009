"""Lookalike audiences (``lookalike``, ``lookalike_audience``): the audience's size, its lift on
held-out seeds and its composition over the provider's tags; and, for the platform's copy, how
many users its own agent wrote. No section shows a person: the audience's user ids are in the
file the platform's agent writes at its own site."""

from __future__ import annotations

from deploy.report.blocks import note, table, tiles
from deploy.report.fmt import Json, esc, fmt_count, fmt_pct, num, obj, rows_of


def lookalike_title(payload: Json) -> str:
    seed = str(payload.get("segment_name") or "your seed")
    media = str(payload.get("media") or "the platform")
    return f"Lookalike audience on {media}: people like “{seed}”"


def lookalike_accuracy(payload: Json) -> str:
    acc = obj(payload.get("accuracy"))
    held, comp = num(acc.get("held_out_half_width_95")), num(acc.get("composition_half_width_95"))
    parts = []
    if held is not None:
        parts.append(f"the held-out seed counts are within ± {fmt_count(held)} people with 95% probability")
    if comp is not None:
        parts.append(f"each composition count within ± {fmt_count(comp)}")
    return "; ".join(parts)


def section_lookalike(payload: Json, info: Json) -> str:
    a, lift = obj(payload.get("audience")), obj(payload.get("lift"))
    out = [
        tiles(
            [
                (
                    "Audience",
                    fmt_count(a.get("size")),
                    f"of {fmt_count(a.get('base'))} users of {payload.get('media')}",
                ),
                (
                    "Lift on held-out seeds",
                    f"{num(lift.get('lift')) or 0:.1f}×",
                    "recall at n over a random audience's",
                ),
                (
                    "Seeds reached",
                    fmt_pct(lift.get("recall_at_n")),
                    f"random: {fmt_pct(lift.get('random_recall_at_n'))}",
                ),
            ]
        ),
        note(
            f"The zone trained on your seed “{payload.get('segment_name')}” against the platform's other users, "
            f"scored all {fmt_count(a.get('base'))} of them and kept the top {fmt_count(a.get('size'))}"
            + (" who are not in your seed" if payload.get("excludes") == "seed" else "")
            + (" who are not in your upload" if payload.get("excludes") == "brand" else "")
            + ". The audience itself goes to the platform only, as its own user ids: you receive these aggregates."
        ),
    ]
    for t in rows_of(payload.get("composition")):
        rows = [
            [
                esc(c.get("category")),
                fmt_count(c.get("audience_count")),
                fmt_pct(c.get("audience_share")),
                fmt_pct(c.get("base_share")),
                esc(c.get("tgi") if c.get("tgi") is not None else "—"),
            ]
            for c in rows_of(t.get("categories"))
        ]
        if rows:
            out.append(f"<h3>{esc(t.get('tag'))}</h3>")
            out.append(
                table(
                    ["Category", "Audience", "Share of audience", "Share of base", "TGI"],
                    rows,
                    numeric=[False, True, True, True, True],
                )
            )
        if num(t.get("withheld")):
            out.append(note(f"{fmt_count(t.get('withheld'))} categories withheld (fewer than k people)."))
    return "".join(out)


def section_audience(payload: Json, info: Json) -> str:
    where = payload.get("scores_file")
    return tiles(
        [("Users in the audience", fmt_count(payload.get("size")), "written by the platform's own agent")]
    ) + note(
        f"{fmt_count(payload.get('size'))} users of {info.get('recipient') or 'the platform'} make up the audience"
        + (f"; its agent wrote their user ids to {where}" if where else "")
        + "."
    )
