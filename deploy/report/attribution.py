"""The attribution section: which channels brought the conversions, under every model.

The brand's release credits every channel; a media platform's holds its own channels only
(``recipient_scope``), without the conversions or purchase values, which stay with the brand.
"""

from __future__ import annotations

from deploy.report.attribution_credit import (
    HIGHLIGHT_MODEL,
    attribution_channels,
    attribution_margins,
    conversion_words,
    fmt_cny,
    fmt_days,
    model_label,
    share_grid,
    tick_cny,
)
from deploy.report.attribution_uncertainty import section_uncertainty
from deploy.report.blocks import figure, note, table, tiles
from deploy.report.charts import Bar, bar_chart, tick_pct
from deploy.report.fmt import (
    Json,
    esc,
    fmt_count,
    fmt_pct,
    fmt_pm,
    margin_cell,
    num,
    obj,
    pm_range,
    rows_of,
    short_digest,
    words_list,
)


def attribution_accuracy(payload: Json) -> str:
    m = attribution_margins(obj(payload.get("accuracy")))
    _, many, _ = conversion_words(payload.get("conversion"))
    column = str(obj(payload.get("value")).get("column") or "purchase value").replace("_", " ")
    parts = []
    if m.conversions:
        parts.append(
            f"each channel's credited {many} are within {pm_range(list(m.conversions.values()))} of the true figure "
            "with 95% probability (the ± row under the table)"
        )
    if m.per_channel is not None:
        parts.append(
            f"each channel's people reached and {many} on the path within ±{fmt_count(m.per_channel)}"
        )
    if m.headline is not None:
        parts.append(f"the headline counts within ±{fmt_count(m.headline)} people")
    if m.value and "value" in payload:
        parts.append(f"each channel's credited {column} within {pm_range(list(m.value.values()), fmt_cny)}")
    return "; ".join(parts)


def section_attribution(payload: Json, info: Json, colours: dict[str, str] | None = None) -> str:
    one, many, anyway = conversion_words(payload.get("conversion"))
    counts = obj(payload.get("counts"))
    models, chans = attribution_channels(obj(payload.get("models")), colours)
    scope = str(payload.get("recipient_scope") or "")
    own = scope.removeprefix("channels of ").strip() if scope.startswith("channels of ") else ""
    window = fmt_days(payload.get("lookback_days"))
    days = num(payload.get("lookback_days"))
    window_words = f"the {days:g} days before" if days is not None else "the window before"
    converters, with_path = num(counts.get("converters")), num(counts.get("converters_with_path"))
    direct, people = num(counts.get("unattributed_conversions")), num(counts.get("people"))
    party_names = [p for p in dict.fromkeys(c.party for c in chans) if p]
    margins = attribution_margins(obj(payload.get("accuracy")))
    headline = f"; each ± {fmt_count(margins.headline)}" if margins.headline is not None else ""
    out: list[str] = []

    # who this is for, and what it is
    if own:
        mine = [c.name for c in chans]
        out.append(
            note(
                f"This release holds {own}'s own channels only"
                + (f" ({words_list(mine)})" if mine else "")
                + ". The neutral zone credited every media platform's channels in one run and released to each "
                "platform only its own; shares are of the credit across all channels, so here they need not add "
                f"up to 100%. The {many} themselves, and any purchase values, stay with the car brand.",
                "lead",
            )
        )
    else:
        out.append(
            note(
                f"Credit for {many} that followed an ad touchpoint in {window_words}"
                + (
                    f", split over the {len(chans)} channels of {words_list(party_names)}"
                    if chans and party_names
                    else ""
                )
                + (f" under {len(models)} attribution models" if models else "")
                + ". Journeys were joined inside the neutral zone; no party saw another's touchpoints.",
                "lead",
            )
        )

    dd = [c.conversions[HIGHLIGHT_MODEL] for c in chans if HIGHLIGHT_MODEL in c.conversions]
    dd_total = sum(dd) if dd else None
    caused_note = ""
    if dd_total is not None and converters:
        caused_note = f"{fmt_pct(dd_total / converters)} of all {many}, by the data-driven estimate" + (
            "" if own else "; the rest would have happened without the ads"
        )
    out.append(
        tiles(
            [
                (
                    f"{many[0].upper() + many[1:]} in scope",
                    fmt_count(converters),
                    f"among {fmt_count(people)} people in the joined data{headline}"
                    if people is not None
                    else headline.removeprefix("; "),
                ),
                (
                    "Had a touchpoint first",
                    fmt_pct(with_path / converters) if with_path is not None and converters else "—",
                    f"{fmt_pm(with_path, margins.headline)} {many} had an ad touch in {window_words}",
                ),
                (
                    f"Direct {many}",
                    fmt_count(direct),
                    (f"{fmt_pct(direct / converters)}; " if direct is not None and converters else "")
                    + "no touchpoint in the window, credited to no channel",
                ),
                (
                    f"Caused by {own}'s channels" if own else "Caused by the ads",
                    fmt_count(dd_total),
                    caused_note,
                ),
            ]
        )
    )

    if not chans or not models:
        out.append(note("This release holds no per-channel credit to draw."))
        return "".join(out)

    # shares under every model
    grid = share_grid(
        models, chans, label=f"share of credited {many} per channel under each attribution model"
    )
    if grid:
        cap = (
            "The data-driven model credits only the "
            + many
            + " a channel caused, after accounting for who it "
            f"targeted; channels that reach people who would have {anyway} anyway get little credit."
        )
        if HIGHLIGHT_MODEL in models and len(models) > 1:
            diffs = []
            for c in chans:
                others = [v for m, v in c.share.items() if m != HIGHLIGHT_MODEL]
                if HIGHLIGHT_MODEL in c.share and others:
                    diffs.append((c.share[HIGHLIGHT_MODEL] - sum(others) / len(others), c))
            if diffs:
                lo, hi = min(diffs, key=lambda t: t[0]), max(diffs, key=lambda t: t[0])
                if lo[0] < -0.02:
                    c = lo[1]
                    others = [v for m, v in c.share.items() if m != HIGHLIGHT_MODEL]
                    cap += (
                        f" {c.label} gets {fmt_pct(min(others))}–{fmt_pct(max(others))} of the credit under the other "
                        f"models but {fmt_pct(c.share[HIGHLIGHT_MODEL])} under the data-driven one"
                    )
                    cap += (
                        f", while {hi[1].label} rises to {fmt_pct(hi[1].share[HIGHLIGHT_MODEL])}."
                        if hi[0] > 0.02
                        else "."
                    )
        title = "Each channel's share of the credit, under every model" + (
            f" ({own}'s channels)" if own else ""
        )
        # at its own width or scrolled sideways: shrunk to a phone, eight columns of bars would be unreadable
        out.append(figure(title, f'<div class="scroll"><div class="minw">{grid}</div></div>', cap, wide=True))

    # credited conversions, channel x model
    headers = [
        "Channel",
        "Party",
        *[model_label(m) for m in models],
        f"{many.capitalize()} with it on the path",
        "People reached",
    ]
    rows = []
    for c in chans:
        rows.append(
            [
                f'<span class="sw" style="background:{esc(c.colour)}"></span>{esc(c.name)}',
                esc(c.party or "—"),
                *[fmt_count(c.conversions.get(m)) for m in models],
                fmt_count(c.paths),
                fmt_count(c.users),
            ]
        )
    totals = [
        sum(c.conversions[m] for c in chans if m in c.conversions)
        if any(m in c.conversions for c in chans)
        else None
        for m in models
    ]
    rows.append(
        [
            f"<b>{esc(f'{own} channels' if own else 'All channels')}</b>",
            "",
            *[f"<b>{fmt_count(t)}</b>" for t in totals],
            "",
            "",
        ]
    )
    if margins.conversions or margins.per_channel is not None:
        rows.append(
            [
                '<span class="pm">privacy margin (95%)</span>',
                "",
                *[margin_cell(margins.conversions.get(m)) for m in models],
                margin_cell(margins.per_channel),
                margin_cell(margins.per_channel),
            ]
        )
    hl = 2 + models.index(HIGHLIGHT_MODEL) if HIGHLIGHT_MODEL in models else None
    out.append(f'<div class="block"><h3>Credited {esc(many)} per channel and model</h3>')
    out.append(
        '<div class="scroll">'
        + table(headers, rows, numeric=[False, False] + [True] * (len(models) + 2), cls="attr", highlight=hl)
        + "</div>"
    )
    table_note = (
        f"Every model but the data-driven one shares out each of the {fmt_count(with_path)} {many} with a touchpoint"
        if with_path is not None
        else f"Every model but the data-driven one shares out each {one} with a touchpoint"
    )
    table_note += (
        f"; the data-driven one credits only the {fmt_count(dd_total)} it estimates the ads caused"
        if dd_total is not None and not own
        else "; the data-driven one only those it estimates the ads caused"
    )
    table_note += ". Credits are fractions of a " + one + ", rounded here."
    if margins.conversions:
        table_note += (
            f" The last row is each figure's privacy margin: a channel's credit is within that many {many} of the "
            "true figure with 95% probability"
        )
        table_note += (
            ", and the total of several channels less precisely; the Markov model's credit is computed from noised "
            "journey counts, so its margin is not stated."
            if "markov" in models and "markov" not in margins.conversions
            else ", and the total of several channels less precisely."
        )
    out.append(note(table_note, "caption"))
    out.append("</div>")
    out.append(section_uncertainty(payload, obj(payload.get("models")), chans, many))

    # credited purchase value
    value = obj(payload.get("value"))
    vmodel = next((m for m in (HIGHLIGHT_MODEL, *models) if any(m in c.value for c in chans)), None)
    column = str(value.get("column") or "purchase value").replace("_", " ")
    encrypted = value.get("encrypted")
    fingerprint = (
        f" (key fingerprint {short_digest(value.get('key_fingerprint'))})"
        if value.get("key_fingerprint")
        else ""
    )
    has_ct = any(
        isinstance(r, dict) and r.get("credited_value_ciphertext")
        for rs in obj(payload.get("models")).values()
        for r in rows_of(rs)
    )
    if vmodel is not None:
        vals = [(c, c.value[vmodel]) for c in chans if vmodel in c.value]
        total = sum(v for _, v in vals)
        bars = [
            Bar(c.label, v, c.colour, f"{fmt_pct(v / total)} of the total" if total > 0 else "")
            for c, v in vals
        ]
        best = max(vals, key=lambda t: t[1])
        cap = (
            f"Under the {model_label(vmodel).lower()} model, {best[0].label} is credited {fmt_cny(best[1])} "
            f"of {column}, the most of any channel; {fmt_cny(total)} in all across these channels."
        )
        vmargin = margins.value.get(vmodel)
        if vmargin is not None:
            cap += (
                f" Each channel's figure is within ±{fmt_cny(vmargin)} of the true one with 95% probability."
            )
            if vmargin >= max(abs(v) for _, v in vals):
                cap += (
                    " The privacy noise is larger than the figures themselves: at this privacy setting they "
                    "cannot tell the channels apart, and a figure below zero is noise."
                )
        cap_value = num(value.get("cap"))
        if cap_value is not None:
            cap += (
                f" Each person's {column} counted at most {fmt_cny(cap_value)}, so no single buyer can move a "
                "figure by more than that."
            )
        out.append(
            '<div class="block">'
            + figure(
                f"{column.capitalize()} credited to each channel ({model_label(vmodel).lower()} model, CNY)",
                bar_chart(
                    bars,
                    value_fmt=fmt_cny,
                    tick_fmt=tick_cny,
                    axis_label=f"{column}, CNY",
                    label=f"credited {column} per channel",
                ),
                cap,
                wide=True,
            )
            + "</div>"
        )
        if encrypted:
            scheme = "Paillier" if str(encrypted).lower() == "paillier" else str(encrypted)
            out.append(
                note(
                    f"The {column} values were encrypted ({scheme}) at the car brand's own site before they left it"
                    f"{fingerprint}. The neutral zone added them up without being able to read them; they were "
                    "decrypted only at the brand's site, with its own key, to draw this page. "
                    + (
                        "The encrypted sums are also kept in the release file; they are not shown here."
                        if has_ct
                        else ""
                    )
                )
            )
        model_vals = [m for m in models if any(m in c.value for c in chans)]
        if len(model_vals) > 1:
            vrows = [[esc(c.label), *[fmt_cny(c.value.get(m)) for m in model_vals]] for c in chans]
            if any(m in margins.value for m in model_vals):
                vrows.append(
                    [
                        '<span class="pm">privacy margin (95%)</span>',
                        *[margin_cell(margins.value.get(m), fmt_cny) for m in model_vals],
                    ]
                )
            out.append(
                '<details class="block"><summary>Credited ' + esc(column) + " under every model</summary>"
            )
            out.append(
                table(
                    ["Channel", *[model_label(m) for m in model_vals]],
                    vrows,
                    numeric=[False] + [True] * len(model_vals),
                    cls="attr",
                    highlight=1 + model_vals.index(HIGHLIGHT_MODEL)
                    if HIGHLIGHT_MODEL in model_vals
                    else None,
                )
            )
            out.append("</details>")
    elif encrypted or has_ct:
        out.append(
            note(
                f"Credited {column} per channel was released encrypted under the car brand's own key{fingerprint}; "
                "only the brand can read it. To see it here, fetch the release again with "
                "`zhongli release fetch RELEASE_ID --paillier-key YOUR_KEY --out FILE` and draw the page from "
                "that file."
            )
        )
    elif own:
        out.append(
            note(f"Purchase values belong to the car brand and are not part of {own}'s release.", "small")
        )

    # what the models mean
    hl_days = num(payload.get("half_life_days"))
    raw_pw = payload.get("position_weights")
    pw = [f for w in raw_pw if (f := num(w)) is not None and 0 <= f <= 1] if isinstance(raw_pw, list) else []
    pos = (
        f"{tick_pct(pw[0])} to the first touch, {tick_pct(pw[2])} to the last, {tick_pct(pw[1])} shared by "
        "those between"
        if len(pw) == 3 == len(raw_pw or [])
        else "most credit to the first and last touches"
    )
    explain = {
        "first_touch": "all credit to the first touchpoint in the window.",
        "last_touch": f"all credit to the last touchpoint before the {one}.",
        "linear": "credit split equally over every touchpoint.",
        "time_decay": "more credit to recent touchpoints"
        + (f"; a touch {hl_days:g} days older counts half as much" if hl_days else "")
        + ".",
        "position_based": pos + ".",
        "markov": f"credit by how many {many} would be lost if the channel were taken out of the journeys.",
        "shapley": f"each {one} split fairly among the distinct channels on its path (game theory).",
        "data_driven": (
            f"credits only the {many} a channel caused, after accounting for who it targeted; channels that "
            f"reach people who would have {anyway} anyway get little credit."
        ),
    }
    items = "".join(
        f"<li><b>{esc(model_label(m))}</b>: {esc(explain[m])}</li>" for m in models if m in explain
    )
    if items:
        out.append(
            f'<details class="block"><summary>What the models mean</summary><ul class="models">{items}</ul></details>'
        )

    facts = [
        (
            f"label {payload.get('conversion')} = 1 as the conversion"
            if payload.get("conversion_mode") == "label"
            else f"conversion column {payload.get('conversion')}"
        )
        if payload.get("conversion")
        else "",
        f"paths without a conversion time end {num(payload.get('reference_delay_days')):g} days after "
        f"{payload.get('anchor') or 'the lead'}"
        if num(payload.get("reference_delay_days")) is not None
        else "",
        f"{window} lookback" if window else "",
        f"time-decay half-life {hl_days:g} days" if hl_days else "",
        f"{fmt_count(counts.get('non_converters_with_path'))} people had a touchpoint but no {one}"
        if num(counts.get("non_converters_with_path")) is not None
        else "",
        f"every count is either zero or at least k = {fmt_count(payload.get('k_min'))} people"
        if num(payload.get("k_min")) is not None
        else "",
    ]
    facts = [f for f in facts if f]
    if facts:
        out.append(note("Technical details: " + "; ".join(facts) + ".", "small"))
    return "".join(out)


def attribution_title(payload: Json, info: Json) -> str:
    scope = str(payload.get("recipient_scope") or "")
    if scope.startswith("channels of "):
        return f"Attribution for {scope.removeprefix('channels of ').strip()}: credit for its own channels"
    return f"Attribution: which channels brought the {conversion_words(payload.get('conversion'))[1]}"
