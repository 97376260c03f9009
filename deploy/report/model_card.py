"""The lead-rating model card (``lead_rating_train``): quality, ranks, gains, grades, importance.

Everything here is drawn from the summaries the zone released about a model trained on the
brand's leads with its partners' data; no row, score or model weight reaches the page.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from deploy.report.blocks import figure, note, table, tiles
from deploy.report.charts import Bar, Series, bar_chart, column_chart, tick_num, xy_chart
from deploy.report.fmt import (
    Json,
    esc,
    fmt_auc,
    fmt_count,
    fmt_delta,
    fmt_lift,
    fmt_pct,
    fmt_pm,
    num,
    obj,
    rows_of,
    strs,
    valued,
    words_list,
)
from deploy.report.importance import group_figure, important_but_no_gain, no_gain_sentence, party_figure
from deploy.report.outcome import outcome_of
from deploy.report.palette import BRAND, GRADE_COLOURS, GRADE_TINTS, HIGHLIGHT, MUTED


def _roc_at(points: list[tuple[float, float]], fpr: float) -> float | None:
    """True-positive rate at a false-positive rate, by linear interpolation along the curve."""
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= fpr <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (fpr - x0) / (x1 - x0)
    return None


def _decile_name(d: Any) -> str:
    i = num(d)
    if i is None:
        return str(d)
    i = int(i)
    return "top 10%" if i == 1 else f"{(i - 1) * 10}–{i * 10}%"


def section_model_card(payload: Json, info: Json, descriptions: Mapping[str, str] | None = None) -> str:
    """The model card; ``descriptions`` are the recipient's own words for its columns (its party
    config's ``columns[].description``), which name what the label means."""
    did = outcome_of(payload, descriptions).did
    brand = str(payload.get("brand") or info.get("recipient") or "your brand")
    partners = strs(payload.get("partners"))
    auc = obj(payload.get("auc"))
    top10 = obj(payload.get("top10"))
    deciles = rows_of(payload.get("deciles"))
    base = num(payload.get("test_positive_rate"))
    if base is None:
        base = num(top10.get("average_rate"))
    lift = num(top10.get("lift"))
    if lift is None and deciles:
        lift = num(deciles[0].get("lift"))
    acc = obj(payload.get("accuracy"))
    pv_margin, imp_margin = (
        num(acc.get("partner_value_auc_half_width_95")),
        num(acc.get("importance_auc_half_width_95")),
    )
    out: list[str] = []

    intro = (
        f"A model trained inside the neutral zone on {brand}'s leads"
        + (f" together with data from {words_list(partners)}" if partners else "")
        + f" ranks each lead by how likely they are to have {did}. "
        + "Nobody, including the operator, saw another party's rows; only the summaries below were released."
    )
    out.append(note(intro, "lead"))
    out.append(
        tiles(
            [
                (
                    "Model quality (AUC)",
                    fmt_pm(auc.get("model"), acc.get("auc_half_width_95"), fmt_auc),
                    f"vs {fmt_auc(auc.get('logistic_baseline'))} for a simple baseline; 0.5 = coin toss, 1.0 = perfect"
                    if num(auc.get("logistic_baseline")) is not None
                    else "0.5 = coin toss, 1.0 = perfect",
                ),
                ("Top 10% of leads", fmt_lift(lift), f"as likely to have {did} as the average lead"),
                ("Average lead", fmt_pct(base), f"of held-out leads {did}"),
                (
                    "Leads used",
                    fmt_count(payload.get("n_train")),
                    f"to train; {fmt_count(payload.get('n_test'))} held back to test"
                    if num(payload.get("n_test")) is not None
                    else "to train",
                ),
            ]
        )
    )

    figs: dict[str, str] = {}
    # ROC
    roc = [(num(p.get("fpr")), num(p.get("tpr"))) for p in rows_of(payload.get("roc"))]
    roc_pts = sorted((x, y) for x, y in roc if x is not None and y is not None)
    if roc_pts:
        at20 = _roc_at(roc_pts, 0.2)
        caption = (
            f"The further the curve bows to the top left, the better the model tells those who {did} from the rest"
            + (
                f": wrongly flagging 20% of the others, it already catches {fmt_pct(at20)} of those who {did}."
                if at20 is not None
                else "."
            )
        )
        figs["roc"] = figure(
            f"Telling who {did} from the rest (ROC)",
            xy_chart(
                [
                    Series(roc_pts, f"model (AUC {fmt_auc(auc.get('model'))})", BRAND),
                    Series([(0.0, 0.0), (1.0, 1.0)], "random guess (AUC 0.500)", MUTED, dashed=True),
                ],
                x_label="false alarms (share of the others flagged)",
                y_label=f"share of those who {did} caught",
                label="ROC curve",
            ),
            caption,
        )

    # conversion rate per decile
    dec = valued(deciles, "rate")
    if dec:
        top_rate = dec[0][1]
        colours = [BRAND] + ["#7fa7c9"] * (len(dec) - 1)
        caption = (
            f"Leads the model ranks in the top 10% {did} at {fmt_pct(top_rate)}, "
            f"{fmt_lift(lift)} as often as the average lead ({fmt_pct(base)})."
            if lift is not None and base is not None
            else f"Leads the model ranks in the top 10% {did} at {fmt_pct(top_rate)}."
        )
        figs["deciles"] = figure(
            f"Who {did}, by model rank",
            column_chart(
                [_decile_name(r.get("decile")) for r, _ in dec],
                [v for _, v in dec],
                colours=colours,
                ref=base,
                ref_label=f"average {fmt_pct(base)}" if base is not None else "",
                x_label="leads ranked by the model, best first",
                y_label=f"share who {did}",
                label="conversion rate per decile",
            ),
            caption,
            wide=True,
        )

    # cumulative gains
    gain_pts = [
        (0.0, 0.0),
        *sorted(
            (d / 10, cg)
            for r, d in valued(deciles, "decile")
            if (cg := num(r.get("cumulative_gain"))) is not None
        ),
    ]
    if len(gain_pts) > 1:
        at30 = next((g for x, g in gain_pts if abs(x - 0.3) < 1e-9), None)
        caption = (
            f"Contacting only the top 30% of leads the model picks reaches {fmt_pct(at30)} of everyone who {did}; "
            "picking at random would reach 30%."
            if at30 is not None
            else f"The higher the curve above the diagonal, the more of those who {did} a short call list reaches."
        )
        figs["gains"] = figure(
            "How much a short call list captures (gains)",
            xy_chart(
                [
                    Series(gain_pts, "model's ranking", BRAND, markers=True),
                    Series([(0.0, 0.0), (1.0, 1.0)], "random order", MUTED, dashed=True),
                ],
                x_label="share of leads contacted, best first",
                y_label=f"share of all who {did}",
                label="cumulative gains",
            ),
            caption,
        )

    # calibration
    cal = [
        (pred, obs, num(r.get("leads")))
        for r, pred in valued(rows_of(payload.get("calibration")), "mean_predicted")
        if (obs := num(r.get("observed_rate"))) is not None
    ]
    if cal:
        hi = max(max(p for p, _, _ in cal), max(o for _, o, _ in cal))
        weights = [n or 1.0 for _, _, n in cal]
        gap = sum(abs(p - o) * w for (p, o, _), w in zip(cal, weights, strict=True)) / sum(weights)
        pts = sorted((p, o) for p, o, _ in cal)
        caption = (
            f"Each point is a group of leads with similar scores; on average the predicted chance is within "
            f"{gap * 100:.1f} percentage points of what really happened, so scores can be read as chances."
        )
        figs["calibration"] = figure(
            "Can the scores be read as chances? (calibration)",
            xy_chart(
                [
                    Series(pts, "observed vs predicted", BRAND, markers=True),
                    Series([(0.0, 0.0), (1.0, 1.0)], "perfectly calibrated", MUTED, dashed=True),
                ],
                x_label="predicted chance",
                y_label=f"share who really {did}",
                scale=min(1.0, hi * 1.05),
                label="calibration",
            ),
            caption,
        )

    # feature-group and party importance (deploy/report/importance.py)
    figs["groups"], all_groups = group_figure(payload, brand, partners, imp_margin)
    figs["parties"] = party_figure(payload, brand, partners, imp_margin)

    # partner value
    pv = valued(rows_of(payload.get("partner_value")), "auc")
    if pv:
        base_row = next(
            (t for t in pv if strs(t[0].get("parties")) == [brand] or t[0].get("label") == "brand only"), None
        )
        bars = []
        for r, v in pv:
            is_base = base_row is not None and r is base_row[0]
            gain = (
                ""
                if base_row is None
                else "your data alone"
                if is_base
                else f"{fmt_delta(v - base_row[1])} vs brand only"
            )
            bars.append(Bar(str(r.get("label", "—")), v, HIGHLIGHT if is_base else BRAND, gain, bold=is_base))
        lo = 0.5 if min(v for _, v in pv) >= 0.5 else 0.0
        best = max(pv, key=lambda t: t[1])
        if base_row is None:
            caption = f"The best feature set, {best[0].get('label')}, reaches AUC {fmt_auc(best[1])}."
        elif best[1] > base_row[1]:
            caption = (
                f"Your data alone reaches AUC {fmt_auc(base_row[1])}; adding partners lifts it to {fmt_auc(best[1])} "
                f"({best[0].get('label')}), a gain of {fmt_delta(best[1] - base_row[1])}."
            )
        else:
            caption = f"Partners' data did not raise the AUC above your data alone ({fmt_auc(base_row[1])})."
        caption += no_gain_sentence(important_but_no_gain(payload, brand))
        if pv_margin is not None:
            caption += (
                f" Each AUC here is within ±{fmt_auc(pv_margin)} of the true one with 95% probability, so a "
                "difference smaller than that may be privacy noise rather than a real gain."
            )
        if lo == 0.5:
            caption += " Bars start at 0.5, a coin toss."
        figs["value"] = figure(
            "What each partner adds",
            bar_chart(
                bars,
                lo=lo,
                value_fmt=fmt_auc,
                tick_fmt=tick_num,
                axis_label="AUC on held-out leads (0.5 = coin toss)",
                label="AUC per feature set",
            ),
            caption,
            wide=True,
        )

    def grid(*names: str) -> None:
        parts = [figs[n] for n in names if figs.get(n)]
        if parts:
            out.append('<div class="figs">' + "".join(parts) + "</div>")

    grid("deciles")

    # grades
    grades = rows_of(payload.get("grades"))
    if grades:
        rows, styles = [], []
        for g in grades:
            letter = str(g.get("grade", "?"))
            chip = f'<span class="chip" style="background:{GRADE_COLOURS.get(letter, MUTED)}">{esc(letter)}</span>'
            rows.append(
                [
                    chip,
                    fmt_pct(g.get("share_of_leads")),
                    fmt_count(g.get("leads")),
                    fmt_count(g.get("conversions")),
                    fmt_pct(g.get("rate")),
                    fmt_lift(g.get("lift")),
                ]
            )
            styles.append(f"background:{GRADE_TINTS[letter]}" if letter in GRADE_TINTS else "")
        first, last = grades[0], grades[-1]
        out.append('<div class="block"><h3>Lead grades for your sales team</h3>')
        out.append(
            table(
                ["Grade", "Share of leads", "Leads (test)", f"Who {did}", "Rate", "vs average"],
                rows,
                numeric=[False, True, True, True, True, True],
                row_styles=styles,
                cls="grades",
            )
        )
        out.append(
            note(
                f"Grade {first.get('grade')} is the model's top {fmt_pct(first.get('share_of_leads'))} of leads: "
                f"{fmt_pct(first.get('rate'))} of them {did}, {fmt_lift(first.get('lift'))} the average. "
                f"Call grade {first.get('grade')} first; grade {last.get('grade')} can wait for cheaper channels."
                + (
                    " Counts carry privacy noise: they add up cells of a noised count per score band (20 "
                    "bands, who did and who did not), each within "
                    f"±{fmt_count(acc.get('histogram_cell_half_width_95'))} leads (95%)."
                    if num(acc.get("histogram_cell_half_width_95")) is not None
                    else ""
                ),
                "caption",
            )
        )
        out.append("</div>")

    grid("value", "roc", "gains", "groups", "parties", "calibration")
    out.append(all_groups)

    if cal:
        rows = [
            [
                fmt_count(r.get("bin")),
                fmt_count(r.get("leads")),
                fmt_pct(r.get("mean_predicted")),
                fmt_pct(r.get("observed_rate")),
            ]
            for r in rows_of(payload.get("calibration"))
        ]
        out.append('<details class="block"><summary>Calibration table</summary>')
        out.append(table(["Score group", "Leads", "Predicted chance", "Observed"], rows, numeric=[True] * 4))
        out.append("</details>")

    sealed = payload.get("sealed_model")
    if isinstance(sealed, dict) or sealed:
        size = (
            fmt_count(sealed.get("bytes")) + " bytes"
            if isinstance(sealed, dict) and num(sealed.get("bytes")) is not None
            else ""
        )
        out.append(
            note(
                "A sealed copy of the model was released to you"
                + (f" ({size})" if size else "")
                + "; only the neutral zone can open it, to score your future leads.",
                "note",
            )
        )
    facts = [
        f"model {payload.get('model_id')}" if payload.get("model_id") else "",
        f"learner {payload.get('learner')}" if payload.get("learner") else "",
        f"test positive rate {fmt_pct(base)}" if base is not None else "",
        f"minimum group size k = {fmt_count(payload.get('k_min'))}"
        if num(payload.get("k_min")) is not None
        else "",
        f"score bands: {payload.get('score_bins')}" if isinstance(payload.get("score_bins"), str) else "",
    ]
    facts = [f for f in facts if f]
    if facts:
        out.append(note("Technical details: " + "; ".join(facts) + ".", "small"))
    return "".join(out)


def model_card_accuracy(payload: Json) -> str:
    acc = obj(payload.get("accuracy"))
    parts = []
    if num(acc.get("auc_half_width_95")) is not None:
        parts.append(
            f"the model's AUC is within ±{fmt_auc(acc.get('auc_half_width_95'))} of the true one with 95% probability"
        )
    if num(acc.get("partner_value_auc_half_width_95")) is not None:
        parts.append(
            f"each AUC under “What each partner adds” within ±{fmt_auc(acc.get('partner_value_auc_half_width_95'))}"
        )
    if num(acc.get("importance_auc_half_width_95")) is not None:
        parts.append(f"each importance figure within ±{fmt_auc(acc.get('importance_auc_half_width_95'))}")
    if num(acc.get("histogram_cell_half_width_95")) is not None:
        parts.append(
            "the grades, model ranks, ROC, gains and calibration are drawn from a noised count of held-out leads "
            "per score band (who did and who did not convert), each within "
            f"±{fmt_count(acc.get('histogram_cell_half_width_95'))} leads"
        )
    return "; ".join(parts)
