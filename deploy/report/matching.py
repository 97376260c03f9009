"""Section: new leads matched to sales consultants (``consultant_matching``, 线索分配).

What the page shows: how many new leads were matched and how the load spreads over consultants,
and the expected uplift against the current assignment on held-out history with the measured check
beside it (the observed conversion of held-out leads whose actual consultant was in the model's top
3, against the others). No row: which consultant each lead gets belongs in the file the brand's own
agent writes.
"""

from __future__ import annotations

from deploy.report.blocks import figure, note, table, tiles
from deploy.report.charts import Bar, bar_chart
from deploy.report.fmt import Json, esc, fmt_count, fmt_pct, num, obj, strs
from deploy.report.palette import BRAND, MUTED


def matching_accuracy(payload: Json) -> str:
    hw = obj(obj(payload.get("evaluation")).get("half_width_95"))
    rate = num(hw.get("expected_rate"))
    margin = f" (expected rates within ±{rate:.1%} with 95% probability)" if rate is not None else ""
    return (
        "the ε paid for the noised evaluation on held-out history"
        + margin
        + " and for a noised check that the "
        "consultants do not reveal which of your leads the partner knows; the matches themselves carry no noise, "
        "but the partner's tags behind them were randomised for every lead (see below)"
    )


def _load_bars(payload: Json) -> str:
    top = payload.get("top")
    ids = strs(payload.get("consultants"))
    if not isinstance(top, list) or not ids:
        return ""
    first = [
        t[0] for t in top if isinstance(t, list) and t and isinstance(t[0], int) and 0 <= t[0] < len(ids)
    ]
    if not first:
        return ""
    counts = {ids[j]: first.count(j) for j in set(first)}
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:12]
    bars = [Bar(cid, n / len(first), BRAND, f"{fmt_count(n)} leads") for cid, n in ranked]
    return figure(
        "Whom the model ranks first",
        bar_chart(bars, axis_label="share of new leads", label="new leads per first-ranked consultant"),
        "The consultants most often ranked first for your new leads (top 12); the assignment then spreads them "
        "within each consultant's daily capacity.",
        wide=True,
    )


def section_matching(payload: Json, info: Json) -> str:
    ev = obj(payload.get("evaluation"))
    new = num(payload.get("new_leads"))
    uplift = num(ev.get("expected_uplift"))
    cur, match = num(ev.get("expected_rate_current")), num(ev.get("expected_rate_matched"))
    out = [
        tiles(
            [
                ("New leads matched", fmt_count(new), "each with a top 3 and one consultant"),
                (
                    "Expected uplift",
                    f"{uplift:+.0%}" if uplift is not None else "",
                    "the model's estimate on held-out history; an upper estimate (see below)",
                ),
                ("Unassigned", fmt_count(payload.get("unassigned")), "days with more leads than capacity"),
            ]
        )
    ]
    if cur is not None and match is not None:
        bars = [
            Bar("current assignment", cur, MUTED),
            Bar("matched, capacity respected", match, BRAND, bold=True),
        ]
        out.append(
            figure(
                "Expected conversion on held-out history",
                bar_chart(bars, axis_label="expected conversion rate", label="current vs matched"),
                f"On {fmt_count(ev.get('heldout_leads'))} past leads the model did not learn from, as the model "
                "predicts them. Choosing the best of many predictions favours optimistic ones: in the synthetic "
                "world the true uplift was about half the estimate (docs/BENCHMARKS.md).",
            )
        )
    check = obj(ev.get("top3_check"))
    if check:
        rows = [
            [
                "actual consultant in the model's top 3",
                fmt_count(check.get("leads_in_top3")),
                esc(
                    fmt_pct(check.get("rate_in_top3"))
                    if check.get("rate_in_top3") is not None
                    else "withheld"
                ),
            ],
            [
                "actual consultant not in the top 3",
                fmt_count(check.get("leads_not_in_top3")),
                esc(
                    fmt_pct(check.get("rate_not_in_top3"))
                    if check.get("rate_not_in_top3") is not None
                    else "withheld"
                ),
            ],
        ]
        out.append(
            table(["Held-out past leads", "Leads", "Observed conversion"], rows, numeric=[False, True, True])
        )
        out.append(
            note(
                "Measured, not predicted: when the consultant a past lead actually had is one the model would rank in "
                "its top 3, did the lead convert more often? (A rate over fewer people than the policy's minimum is "
                "withheld.)",
                "small",
            )
        )
    out.append(_load_bars(payload))
    tags = obj(payload.get("randomised_tags"))
    keep = obj(tags.get("keep_probability"))
    if keep:
        kept = ", ".join(f"{t} {num(p):.0%}" for t, p in keep.items() if num(p) is not None)
        eps = num(tags.get("epsilon_total"))
        out.append(
            note(
                f"The partner's tags behind each match were randomised per lead (local ε {eps} in all); the share "
                f"of leads whose tag kept its own value: {kept}. Nobody, you included, can tell "
                "which leads those are, so a lead's consultant does not tell you where it lives.",
                "small",
            )
        )
    out.append(
        note(
            "Which consultant each lead gets is mapped back to your rows by your own agent; it is not part of "
            "this page."
        )
    )
    return "".join(out)
