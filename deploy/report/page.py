"""The page: one section per release, each with its privacy note and audit footer, in one HTML shell.

``render`` is the whole document: inline CSS, charts as inline SVG, no script and no external
reference. Each job has one section renderer; a job without one gets ``section_generic``. A
release without a payload (refused, rejected, expired, ...) is drawn as such, with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from deploy.report.attribution import attribution_accuracy, section_attribution
from deploy.report.attribution_credit import page_channel_colours
from deploy.report.blocks import note
from deploy.report.fmt import Json, esc, lang_html, obj, rows_of, short_digest, words_list
from deploy.report.generic import section_generic
from deploy.report.intersection import intersection_accuracy, section_intersection
from deploy.report.lookalike import lookalike_accuracy, section_audience, section_lookalike
from deploy.report.matching import matching_accuracy, section_matching
from deploy.report.model_card import model_card_accuracy, section_model_card
from deploy.report.palette import page_party_colours
from deploy.report.privacy import generic_accuracy, privacy_note
from deploy.report.profile import profile_accuracy, section_profile
from deploy.report.scores import scores_accuracy, section_scores, section_sealed
from deploy.report.sessions import base_title, by_session, distinct_titles, nav_html, session_header

# statuses under which a release has no payload, and how a reader should take them
NOT_RELEASED = {
    "refused": "an automatic privacy check refused this request",
    "rejected": "an auditor rejected this result",
    "failed": "the computation failed",
    "expired": "the result expired before it was approved and fetched",
    "pending": "the result still awaits the auditors' approval",
    "running": "the computation had not finished",
}

# each job's margins in words, for its privacy note; any other job's counts of people by ``generic_accuracy``
ACCURACY: dict[str, Callable[[Json], str]] = {
    "intersection_stats": intersection_accuracy,
    "profile": profile_accuracy,
    "lead_rating_train": model_card_accuracy,
    "lead_rating_score": scores_accuracy,
    "attribution": attribution_accuracy,
    "consultant_matching": matching_accuracy,
    "lookalike": lookalike_accuracy,
}

SectionFn = Callable[[Json, Json], str]

SECTIONS: dict[str, SectionFn] = {
    "intersection_stats": section_intersection,
    "lead_rating_seal": section_sealed,
    "consultant_matching": section_matching,
    "lookalike": section_lookalike,
    "lookalike_audience": section_audience,
}


def _footer(info: Json) -> str:
    approvals = [str(a.get("auditor")) for a in rows_of(info.get("approvals")) if a.get("auditor")]
    status = str(info.get("status") or "unknown")
    parts = [
        f"approved by {words_list(approvals)}"
        if approvals
        else f"no auditor approval recorded (status: {status})",
        f"digest {short_digest(info.get('digest'))}",
        f"release {info.get('release_id') or '—'}",
    ]
    if info.get("recipient"):
        parts.append(f"addressed to {info.get('recipient')}")
    checks = rows_of(info.get("checks"))
    if checks:
        passed = [str(c.get("name")) for c in checks if c.get("passed")]
        failed = [str(c.get("name")) for c in checks if not c.get("passed")]
        parts.append(
            "automatic checks passed: "
            + (", ".join(passed) or "none")
            + (f"; FAILED: {', '.join(failed)}" if failed else "")
        )
    verified = obj(info.get("verification"))
    by = verified.get("approved_by")
    if isinstance(by, list) and by:
        parts.append(
            f"signatures of {words_list([str(a) for a in by])} verified at fetch by "
            f"{verified.get('verified_by') or 'the recipient'} against its own trusted auditor keys"
        )
    text = "; ".join(parts)
    cls = "footer" if approvals and status == "approved" else "footer warn"
    title = f' title="{esc(info.get("digest"))}"' if info.get("digest") else ""
    return f'<footer class="{cls}"{title}>{esc(text[0].upper() + text[1:])}.</footer>'


def render_release(
    doc: Json,
    index: int = 0,
    colours: dict[str, str] | None = None,
    parties: dict[str, str] | None = None,
    title: str | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> str:
    """One release's section; ``title`` (default: its job's own) is the page's distinct one."""
    info = obj(doc.get("release"))
    payload = obj(doc.get("payload"))
    job = str(payload.get("job") or info.get("job") or "unknown job")
    rid = str(info.get("release_id") or f"release-{index + 1}")
    title = title or base_title(doc, descriptions)
    if job == "profile":
        body = section_profile(payload, info, parties)
    elif job == "lead_rating_train":
        body = section_model_card(payload, info, descriptions)
    elif job == "lead_rating_score":
        body = section_scores(payload, info, doc)
    elif job == "attribution":
        body = section_attribution(payload, info, colours)
    elif job in SECTIONS:
        body = SECTIONS[job](payload, info)
    else:
        body = section_generic(payload, info)
    # the grades' privacy cost buys a check, not noise on the page's figures: no "margins" sentence for them
    body += privacy_note(
        payload, info, ACCURACY.get(job, generic_accuracy)(payload), tail=job != "lead_rating_score"
    )
    if not payload:
        status = str(info.get("status") or "")
        if status in NOT_RELEASED:
            why = str(info.get("error") or "").strip()
            body = note(
                f"Nothing was released: {NOT_RELEASED[status]}" + (f" — {why}" if why else "") + ".", "lead"
            )
        else:
            body = note("This release carries no payload.")
    return (
        f'<section class="release" id="{esc(rid)}"><h2>{lang_html(title)}</h2>'
        f'<div class="kicker">{esc(job)} · {esc(rid)}</div>{body}{_footer(info)}</section>'
    )


# One rule per line, exactly as the page carries it: wrapping a rule would change the page, so the
# string is exempt from the line-length limit (E501).
CSS = """
:root { --ink:#1d2433; --soft:#5b6475; --line:#e3e7ee; --bg:#f6f7f9; --brand:#0b3d66; }
* { box-sizing: border-box; }
/* Latin faces first, then a Simplified Chinese face on every platform (macOS, Windows, Linux, Android), so Chinese headings and tag names render wherever the viewer has any CJK font; nothing is fetched. */
:root { --cjk: "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Microsoft YaHei UI", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback", "SimHei"; }
body { margin:0; background:var(--bg); color:var(--ink); line-height:1.45;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, var(--cjk), sans-serif; }
:lang(zh) { font-family: var(--cjk), -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
svg text { font-family: inherit; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 48px; }
header.page { background: var(--brand); color: #fff; padding: 28px 24px 22px; }
header.page div { max-width: 1120px; margin: 0 auto; }
header.page h1 { margin: 0 0 6px; font-size: 28px; font-weight: 650; }
header.page p { margin: 0; opacity: .88; max-width: 820px; }
nav { margin: 18px 0 0; font-size: 14px; }
nav a { color: #fff; margin-right: 18px; }
nav div { margin: 4px 0; }
nav .navsession { opacity: .75; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; margin-right: 10px; }
div.session { margin: 6px 0 14px; padding: 0 4px; border-bottom: 2px solid var(--brand); }
h2.session { font-size: 17px; color: var(--soft); font-weight: 600; }
section.release { background:#fff; border:1px solid var(--line); border-radius: 10px; padding: 22px 26px 14px; margin: 0 0 28px; }
h2 { margin: 0; font-size: 22px; color: var(--brand); }
h3 { margin: 0 0 8px; font-size: 16px; }
.kicker { color: var(--soft); font-size: 12px; margin: 2px 0 14px; font-family: ui-monospace, Menlo, Consolas, monospace; }
.lead { font-size: 15px; max-width: 860px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 14px; margin: 14px 0 22px; }
.tile { border: 1px solid var(--line); border-left: 4px solid var(--brand); border-radius: 8px; padding: 12px 14px; background: #fbfcfd; }
.tile-label { font-size: 13px; color: var(--soft); }
.tile-value { font-size: 30px; font-weight: 700; color: var(--brand); font-variant-numeric: tabular-nums; }
.tile-note { font-size: 12.5px; color: var(--soft); }
.figs { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 26px 28px; margin: 22px 0 8px; }
.fig { margin: 0 0 8px; }
.fig.wide { grid-column: 1 / -1; }
figcaption, .caption { font-size: 14px; color: var(--ink); margin: 6px 0 0; max-width: 820px; }
svg.chart { width: 100%; height: auto; display: block; font-size: 12px; margin: 4px 0; }
svg .grid { stroke: #edf0f4; stroke-width: 1; }
svg .frame { fill: none; stroke: #c9d0da; }
svg .tick { fill: #6b7384; font-size: 11px; }
svg .axis { fill: #4a5263; font-size: 12px; }
svg .lbl { fill: var(--ink); font-size: 13px; }
svg .val { fill: var(--ink); font-size: 12.5px; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg .legend { fill: var(--ink); font-size: 12px; }
svg .legend-bg { fill: #fff; opacity: .9; }
svg .soft { fill: var(--soft); font-weight: 400; }
svg .axisline { stroke: #9aa3b2; stroke-width: 1; }
.grid2 { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 3fr); gap: 28px; margin-top: 18px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; font-variant-numeric: tabular-nums; }
th { white-space: nowrap; text-align: left; font-weight: 600; color: var(--soft); border-bottom: 2px solid var(--line); padding: 6px 8px; font-size: 13px; }
td { border-bottom: 1px solid var(--line); padding: 6px 8px; }
.num { text-align: right; }
table.grades { max-width: 760px; }
.chip { display: inline-block; min-width: 26px; text-align: center; color: #fff; font-weight: 700; border-radius: 4px; padding: 1px 6px; }
.you { color: var(--soft); font-size: 12px; }
.block { margin: 22px 0 8px; }
details summary { cursor: pointer; color: var(--brand); font-size: 14px; margin-bottom: 8px; }
details table { max-width: 620px; }
.note { font-size: 13.5px; color: var(--soft); margin: 8px 0; }
.small { font-size: 12px; color: var(--soft); }
footer.footer { margin-top: 18px; padding-top: 10px; border-top: 1px solid var(--line); font-size: 12.5px; color: var(--soft); }
footer.warn { color: #9a2a2a; font-weight: 600; }
.empty { color: var(--soft); }
svg .party { fill: var(--soft); font-size: 12px; font-weight: 700; letter-spacing: .02em; }
table.attr th { white-space: normal; vertical-align: bottom; }
table.attr td { white-space: nowrap; }
.scroll { overflow-x: auto; }
.minw { min-width: 860px; }
table.attr .hl { background: #fdf1d8; font-weight: 700; }
table.attr th.hl { color: var(--ink); }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
ul.models { margin: 0; padding-left: 20px; font-size: 14px; max-width: 900px; }
ul.models li { margin: 3px 0; }
svg .pv { fill: var(--ink); font-size: 11px; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg .wh { fill: var(--soft); font-size: 12.5px; font-style: italic; }
svg .band { fill: #f1f3f6; }
svg .base { stroke: #333; stroke-width: 1.5; }
svg .rowline { stroke: #e3e7ee; stroke-width: 1; }
table.profile { max-width: 980px; }
.prof .tiles { grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); }
table.profile td.wh, span.wh { color: var(--soft); font-style: italic; }
.pm { color: var(--soft); font-size: .9em; white-space: nowrap; }
.privacy { margin: 18px 0 0; padding: 8px 12px; border-left: 3px solid var(--brand); background: #f3f6fa; font-size: 13.5px; max-width: 900px; }
.privacy.off { border-left-color: #9aa3b2; }
@media (max-width: 820px) { .figs, .grid2 { grid-template-columns: 1fr; } }
@media print { body { background: #fff; } header.page { background: #fff; color: var(--ink); border-bottom: 3px solid var(--brand); }
  nav { display: none; } section.release { border: none; break-inside: auto; } .fig { break-inside: avoid; } }
"""  # noqa: E501


def render(releases: list[dict[str, Any]], descriptions: Mapping[str, str] | None = None) -> str:
    """One complete, self-contained HTML document for a list of release files' contents.

    Args:
        releases: each ``{"release": {release_id, job, recipient, status, digest, approvals, ...},
            "payload": {...}}``, as fetched from the zone. Missing fields are tolerated.
        descriptions: the recipient's own words for its columns (``columns[].description`` in its
            party config), e.g. what a label's 1 means; never taken from a partner.

    Returns:
        The HTML text: inline CSS and SVG only, no script and no external reference.
    """
    releases = [obj(d) for d in releases]
    infos = [obj(d.get("release")) for d in releases]
    recipients = sorted({str(i.get("recipient")) for i in infos if i.get("recipient")})
    who = words_list(recipients) if recipients else "you"
    payloads = [obj(d.get("payload")) for d in releases]
    colours = page_channel_colours(payloads)
    parties = page_party_colours(payloads)
    titles = distinct_titles(releases, descriptions)
    groups = by_session(releases)
    sections = [
        (session_header(sid, [releases[i] for i in idxs]) if sid else "")
        + "".join(render_release(releases[i], i, colours, parties, titles[i], descriptions) for i in idxs)
        for sid, idxs in groups
    ]
    toc = nav_html(groups, releases, titles) if len(releases) > 1 else ""
    body = "".join(sections) if sections else '<p class="empty">No released results were given.</p>'
    signed = all(i.get("status") == "approved" and rows_of(i.get("approvals")) for i in infos)
    held = sum(
        1
        for d, i in zip(releases, infos, strict=True)
        if not obj(d.get("payload")) and str(i.get("status")) in NOT_RELEASED
    )
    n = len(releases) - held
    intro = (
        f"{n} released result{'s' if n != 1 else ''} for {who}, computed in the neutral zone "
        "without any party seeing another's data"
        + (
            f", and {held} request{'s' if held != 1 else ''} not released, shown with the reason. "
            if held
            else ". "
        )
        + (
            "Each passed automatic privacy checks and was signed by an auditor before release. "
            if signed
            else "A result without an auditor's signature is marked in red at its foot. "
        )
        + (
            "Figures shown with ± carry differential-privacy noise: each is within that margin of the true figure with "
            "95% probability; ε (epsilon) is the privacy budget a result spent, and smaller means more private and "
            "noisier. "
            if any(isinstance(p.get("dp"), dict) for p in payloads)
            else ""
        )
        + "This page was drawn on your own machine."
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Zhongli report — {esc(who)}</title><style>{CSS}</style></head><body>"
        f'<header class="page"><div><h1>Zhongli joint results</h1><p>{esc(intro)}</p>{toc}</div></header>'
        f"<main>{body}</main></body></html>\n"
    )
