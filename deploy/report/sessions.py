"""The page's order and titles: releases grouped by session, newest session first, each release
under a title no other section of the page shares.

A session's time is the latest ``requested_at_ms`` of its releases (when the zone received the job
request — a time the requester knows); sessions whose files carry none keep the order given, after
the dated ones. Inside a session, releases keep the order they were requested in. A title two
releases would share gets what tells them apart: the label, segment, conversion or recipient it is
about, then the session, then the release id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from deploy.report.attribution import attribution_title
from deploy.report.fmt import Json, esc, lang_html, num, obj
from deploy.report.lookalike import lookalike_title
from deploy.report.outcome import outcome_of
from deploy.report.profile import profile_title

FIXED_TITLES = {
    "intersection_stats": "How many people you share with your partners",
    "lead_rating_seal": "The trained lead-rating model, sealed",
    "lead_rating_score": "Lead scores: your leads by grade",
    "lookalike_audience": "Lookalike audience delivered to the platform",
}


def _job(doc: Json) -> str:
    return str(obj(doc.get("payload")).get("job") or obj(doc.get("release")).get("job") or "unknown job")


def base_title(doc: Json, descriptions: Mapping[str, str] | None = None) -> str:
    payload, info, job = obj(doc.get("payload")), obj(doc.get("release")), _job(doc)
    if job == "lead_rating_train":
        return outcome_of(payload, descriptions).title
    if job == "profile":
        return profile_title(payload)
    if job == "attribution":
        return attribution_title(payload, info)
    if job == "lookalike":
        return lookalike_title(payload)
    return FIXED_TITLES.get(job, f"Result of “{job}”")


def _qualifier(doc: Json) -> str:
    payload = obj(doc.get("payload"))
    for key in ("label", "segment_name", "conversion", "provider", "model_id"):
        if payload.get(key):
            return f"{key.replace('_', ' ')} “{payload.get(key)}”"
    return ""


def distinct_titles(docs: list[Json], descriptions: Mapping[str, str] | None = None) -> list[str]:
    """One title per release, no two alike."""
    titles = [base_title(d, descriptions) for d in docs]
    steps: list[Callable[[Json], str]] = [
        _qualifier,
        lambda d: f"session {obj(d.get('release')).get('session_id') or '—'}",
        lambda d: f"release {obj(d.get('release')).get('release_id') or '—'}",
    ]
    for step in steps:
        counts = {t: titles.count(t) for t in titles}
        for i, d in enumerate(docs):
            extra = step(d)
            if counts[titles[i]] > 1 and extra:
                titles[i] = f"{titles[i]} — {extra}"
    for i, t in enumerate(titles):  # identical release ids (the same file twice): number them
        if titles[:i].count(t):
            titles[i] = f"{t} ({titles[:i].count(t) + 1})"
    return titles


def _when(doc: Json) -> float | None:
    ms = num(obj(doc.get("release")).get("requested_at_ms"))
    return ms if ms else None


def by_session(docs: list[Json]) -> list[tuple[str, list[int]]]:
    """Release indices grouped by session id, newest session first (see the module docstring)."""
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        groups.setdefault(str(obj(d.get("release")).get("session_id") or ""), []).append(i)
    for idxs in groups.values():
        idxs.sort(key=lambda i: (_when(docs[i]) is None, _when(docs[i]) or 0.0, i))
    order = list(groups)

    def newest(sid: str) -> tuple[bool, float, int]:
        times = [t for i in groups[sid] if (t := _when(docs[i])) is not None]
        return (not times, -max(times) if times else 0.0, order.index(sid))

    return [(sid, groups[sid]) for sid in sorted(order, key=newest)]


def _day(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def session_header(sid: str, docs: list[Json]) -> str:
    times = sorted(t for d in docs if (t := _when(d)) is not None)
    span = (
        ""
        if not times
        else f" · requested {_day(times[0])}"
        if _day(times[0]) == _day(times[-1])
        else f" · requested {_day(times[0])} to {_day(times[-1])}"
    )
    n = len(docs)
    return (
        f'<div class="session" id="session-{esc(sid)}"><h2 class="session">Session {lang_html(sid or "—")}</h2>'
        f'<div class="kicker">{n} result{"s" if n != 1 else ""}{lang_html(span)}</div></div>'
    )


def nav_html(groups: list[tuple[str, list[int]]], docs: list[Json], titles: list[str]) -> str:
    """Links to every section, session by session; a link's words are its title before the colon,
    plus what tells it apart after " — " (the whole title where two would still read alike)."""

    def short(title: str) -> str:
        head, _, tail = title.partition(" — ")
        return head.split(":")[0] + (f" — {tail}" if tail else "")

    shorts = [short(t) for t in titles]
    parts = []
    for sid, idxs in groups:
        links = []
        for i in idxs:
            rid = str(obj(docs[i].get("release")).get("release_id") or f"release-{i + 1}")
            words = shorts[i] if shorts.count(shorts[i]) == 1 else titles[i]
            links.append(f'<a href="#{esc(rid)}">{lang_html(words)}</a>')
        lead = f'<span class="navsession">{lang_html(sid)}:</span> ' if len(groups) > 1 and sid else ""
        parts.append(f"<div>{lead}{''.join(links)}</div>")
    return "<nav>" + "".join(parts) + "</nav>"
