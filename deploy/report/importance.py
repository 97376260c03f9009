"""The model card's importance figures: which information, and whose, the model relies on.

With one feature group per column a partner's file can bring dozens of groups; the chart shows the
``TOP_GROUPS`` largest and one muted bar for the rest together, and the full list sits in a
collapsed table. When a partner's data shows importance but adds no AUC (its "brand + partner"
AUC is within the margin of "brand only"), one sentence says why both can be true.
"""

from __future__ import annotations

from deploy.report.blocks import figure, table
from deploy.report.charts import Bar, bar_chart, tick_num
from deploy.report.fmt import Json, esc, fmt_auc, num, obj, rows_of, strs, valued, words_list
from deploy.report.palette import MUTED, party_colours

TOP_GROUPS = 20


def importance_noise(margin: float | None) -> str:
    if margin is None:
        return ""
    return (
        f" Each figure is within ±{fmt_auc(margin)} of the true loss with 95% probability: a smaller difference, "
        "or a figure below zero, may be privacy noise."
    )


def _colours(
    payload: Json, brand: str, partners: list[str], groups: list[tuple[Json, float]]
) -> dict[str, str]:
    party_list = [brand] + [p for p in partners if p != brand]
    for r, _ in groups:
        if r.get("party") is not None and str(r.get("party")) not in party_list:
            party_list.append(str(r.get("party")))
    return party_colours(brand, party_list)


def group_figure(payload: Json, brand: str, partners: list[str], margin: float | None) -> tuple[str, str]:
    """The feature-group chart (top ``TOP_GROUPS`` and "others") and the collapsed full table."""
    imp = obj(payload.get("importance"))
    groups = sorted(valued(rows_of(imp.get("by_group")), "auc_drop"), key=lambda t: -t[1])
    if not groups:
        return "", ""
    pcol = _colours(payload, brand, partners, groups)
    shown, rest = groups[:TOP_GROUPS], groups[TOP_GROUPS:]
    bars = []
    for r, v in shown:
        name, owner = str(r.get("group", "—")), str(r.get("party") or "")
        # name the owner unless the group's name already starts with it ("provider: interest scores")
        bars.append(Bar(name, v, pcol.get(owner, MUTED), "" if name.startswith(owner) else owner))
    top_g = groups[0]
    caption = (
        f"Scrambling “{top_g[0].get('group')}” costs the model {fmt_auc(top_g[1])} AUC, more than any other group: "
        "the longer the bar, the more the model relies on that information."
    )
    if rest:
        together = sum(v for _, v in rest)
        bars.append(Bar(f"{len(rest)} others", together, MUTED, "their losses added up"))
        caption += (
            f" The {len(shown)} largest are drawn; the last bar adds up the other {len(rest)} groups' losses, none "
            f"of which costs more than {fmt_auc(rest[0][1])} alone (every group is in the table below)."
        )
    chart = figure(
        "Which information the model relies on",
        bar_chart(
            bars,
            value_fmt=fmt_auc,
            tick_fmt=tick_num,
            axis_label="AUC lost when the group is scrambled",
            label="feature-group importance",
        ),
        caption + importance_noise(margin),
        wide=True,
    )
    rows = [[esc(r.get("group", "—")), esc(r.get("party") or ""), esc(fmt_auc(v))] for r, v in groups]
    full = (
        f'<details class="block"><summary>Every feature group ({len(groups)})</summary><div class="scroll">'
        + table(["Feature group", "Party", "AUC lost"], rows, numeric=[False, False, True])
        + "</div></details>"
    )
    return chart, full


def party_figure(payload: Json, brand: str, partners: list[str], margin: float | None) -> str:
    imp = obj(payload.get("importance"))
    by_party = sorted(valued(rows_of(imp.get("by_party")), "auc_drop"), key=lambda t: -t[1])
    if not by_party:
        return ""
    pcol = _colours(payload, brand, partners, by_party)
    bars = [
        Bar(
            str(r.get("party", "—")) + (" (you)" if r.get("party") == brand else ""),
            v,
            pcol.get(str(r.get("party")), MUTED),
        )
        for r, v in by_party
    ]
    caption = (
        f"Scrambling everything {by_party[0][0].get('party')} contributed costs {fmt_auc(by_party[0][1])} "
        "AUC, the most of any party." + importance_noise(margin)
    )
    return figure(
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


def important_but_no_gain(payload: Json, brand: str) -> list[str]:
    """Partners whose data the model leans on (importance above its margin) although adding them
    to the brand's own data raised the AUC by no more than the partner-value margin."""
    acc = obj(payload.get("accuracy"))
    imp_margin = num(acc.get("importance_auc_half_width_95")) or 0.0
    pv_margin = num(acc.get("partner_value_auc_half_width_95")) or 0.0
    pv = valued(rows_of(payload.get("partner_value")), "auc")
    base = next(
        (v for r, v in pv if strs(r.get("parties")) == [brand] or r.get("label") == "brand only"), None
    )
    if base is None:
        return []
    gain = {}
    for r, v in pv:
        parties = strs(r.get("parties"))
        if len(parties) == 2 and brand in parties:
            gain[next(p for p in parties if p != brand)] = v - base
    return [
        str(r.get("party"))
        for r, drop in valued(rows_of(obj(payload.get("importance")).get("by_party")), "auc_drop")
        if str(r.get("party")) in gain and drop > imp_margin and gain[str(r.get("party"))] <= pv_margin
    ]


def no_gain_sentence(partners: list[str]) -> str:
    if not partners:
        return ""
    who = words_list(partners)
    whose = f"{partners[0]}'s" if len(partners) == 1 else "their"
    return (
        f" Why {who} can matter to this model yet add no AUC: scrambling {whose} columns hurts a model "
        "that learned to use them, but a model trained without them learns the same from your own data "
        "instead, so the information is real but not new."
    )
