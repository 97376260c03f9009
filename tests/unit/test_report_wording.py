"""The report's words and order (deploy/report/): titles and sentences from the configured label,
sections grouped by session newest first under distinct titles, importance as the top 20 plus
"others", why a partner can matter without adding AUC, long profiles folded, Chinese runs marked
for a CJK font. Every check is on what the page shows."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from deploy import report
from deploy.configs import Deployment, PartySpec, column, write_configs
from deploy.topology import load_topology
from neutral_zone.releases import Release
from proto.zone import serde
from tests.unit.test_report import (
    assert_self_contained,
    intersection_payload,
    model_card,
    profile_payload,
    release_info,
)


def card_page(payload: dict[str, Any], descriptions: dict[str, str] | None = None) -> str:
    page = report.render(
        [{"release": release_info("rel-card", "lead_rating_train"), "payload": payload}], descriptions
    )
    assert_self_contained(page)
    return page


def h2s(page: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", h) for h in re.findall(r'<section class="release"[^>]*><h2>(.*?)</h2>', page)
    ]


def test_titles_and_sentences_follow_the_configured_label() -> None:
    # the demo's own label keeps its words
    page = card_page(model_card())
    assert h2s(page) == ["Lead rating: which leads will come to a store"]

    # an insurer's 0/1 purchase label, named CARAVAN, with no description: the page says what it knows
    card = model_card() | {"label": "CARAVAN"}
    page = card_page(card)
    assert h2s(page) == ["Lead rating: which leads are likely to have had “CARAVAN” = 1"]
    assert "ranks each lead by how likely they are to have had “CARAVAN” = 1." in page
    assert "store" not in page.lower()

    # the insurer described the column in its own party config: those words, everywhere
    page = card_page(card, {"CARAVAN": "bought a caravan policy"})
    assert h2s(page) == ["Lead rating: which leads are likely to have bought a caravan policy"]
    assert "Telling who bought a caravan policy from the rest (ROC)" in page
    assert "of held-out leads bought a caravan policy" in page
    assert (
        "store" not in page.lower() and "CARAVAN" not in page.split("Technical details")[0].split("<main>")[1]
    )

    # a release that carries a description is read too; the reader's own config wins over it
    assert "likely to have renewed" in card_page(card | {"label_description": "renewed"})
    assert "likely to have bought a caravan policy" in card_page(
        card | {"label_description": "renewed"}, {"CARAVAN": "bought a caravan policy"}
    )


def test_the_description_comes_from_the_readers_own_party_config(tmp_path: Path) -> None:
    label = column("CARAVAN", "label", "numeric", description="bought a caravan policy")
    feature = column("MOSTYPE", "feature", "categorical", share=True)
    spec = PartySpec("insurer", "brand", Path("insurer.csv"), columns=[label, feature])
    addresses = {"zone": "127.0.0.1:7001", "audit": "127.0.0.1:7002", "insurer": "127.0.0.1:7003"}
    _, topo = write_configs(tmp_path, Deployment("ins", [spec], addresses))
    assert report.own_descriptions(load_topology(topo), "insurer") == {"CARAVAN": "bought a caravan policy"}
    assert report.own_descriptions(load_topology(topo), "zone") == {}  # not a party: names as they are


def test_sessions_are_grouped_newest_first_with_distinct_titles() -> None:
    def rel(rid: str, sid: str, at: int, payload: dict[str, Any], job: str) -> dict[str, Any]:
        return {"release": release_info(rid, job, session_id=sid, requested_at_ms=at), "payload": payload}

    old, new = "ses-0ld0000000000000", "ses-new0000000000000"
    docs = [
        rel("rel-old-inter", old, 1_700_000_000_000, intersection_payload(), "intersection_stats"),
        rel("rel-new-card", new, 1_700_900_000_000, model_card(), "lead_rating_train"),
        rel("rel-old-card", old, 1_700_000_600_000, model_card(), "lead_rating_train"),
        rel("rel-new-buyers", new, 1_700_900_300_000, profile_payload(), "profile"),
        rel(
            "rel-new-visitors",
            new,
            1_700_900_400_000,
            profile_payload() | {"segment_name": "visitors"},
            "profile",
        ),
    ]
    page = report.render(docs)
    assert_self_contained(page)
    order = re.findall(r'id="((?:session|rel)-[^"]+)"', page)
    assert order == [
        f"session-{new}",
        "rel-new-card",
        "rel-new-buyers",
        "rel-new-visitors",
        f"session-{old}",
        "rel-old-inter",
        "rel-old-card",
    ]
    assert f"Session {new}</h2>" in page and "3 results · requested 2023-11-25" in page
    titles = h2s(page)
    assert len(set(titles)) == len(titles) == 5
    assert (
        titles[0] == f"Lead rating: which leads will come to a store — label “visited_store” — session {new}"
    )
    assert titles[1:3] == [
        "Audience profile (联合画像): who your buyers are",
        "Audience profile (联合画像): who your visitors are",
    ]
    # the navigation lists every section under its session, with the words that tell it apart
    nav = page.split("<nav>")[1].split("</nav>")[0]
    assert nav.count('<a href="#rel-') == 5 and f"{new}:</span>" in nav
    # two links that would both read "Audience profile (联合画像)" carry their whole titles
    assert 'Audience profile (<span lang="zh-CN">联合画像</span>): who your visitors are</a>' in nav

    # files without request times keep the order given
    undated = [copy.deepcopy(d) for d in docs]
    for d in undated:
        d["release"].pop("requested_at_ms")
    order = re.findall(r'id="(session-[^"]+)"', report.render(undated))
    assert order == [f"session-{old}", f"session-{new}"]


def test_importance_shows_the_top_20_and_the_others_together() -> None:
    card = model_card()
    groups = [
        {"group": f"provider: tag {i:02d}", "party": "provider", "auc_drop": round(0.05 - i * 0.001, 4)}
        for i in range(30)
    ]
    card["importance"]["by_group"] = groups
    page = card_page(card)
    fig = page.split("<h3>Which information the model relies on</h3>")[1].split("</figure>")[0]
    assert all(f"provider: tag {i:02d}" in fig for i in range(20))
    assert not any(f"provider: tag {i:02d}" in fig for i in range(20, 30))
    assert "10 others" in fig and "their losses added up" in fig
    assert (
        "the last bar adds up the other 10 groups&#x27; losses, none of which costs more than 0.030 alone"
        in fig
    )
    full = page.split("<summary>Every feature group (30)</summary>")[1].split("</details>")[0]
    assert all(f"provider: tag {i:02d}" in full for i in range(30))

    # twenty or fewer: no "others" bar
    card["importance"]["by_group"] = groups[:20]
    assert (
        "others"
        not in card_page(card).split("Which information the model relies on")[1].split("</figure>")[0]
    )


def test_a_partner_with_importance_but_no_auc_gain_is_explained_once() -> None:
    sentence = "can matter to this model yet add no AUC"
    card = model_card()
    assert sentence not in card_page(card)  # every partner adds AUC here

    base = card["partner_value"][0]["auc"]
    card["partner_value"][3]["auc"] = base + 0.004  # brand + provider: within the margin of brand only
    card["accuracy"] = {"partner_value_auc_half_width_95": 0.005, "importance_auc_half_width_95": 0.005}
    page = card_page(card)
    assert page.count(sentence) == 1
    assert (
        "Why provider can matter to this model yet add no AUC: scrambling provider&#x27;s columns hurts a model that "
        "learned to use them, but a model trained without them learns the same from your own data instead, so "
        "the information is real but not new." in page
    )
    # importance within its own margin is not "importance"
    card["importance"]["by_party"][0]["auc_drop"] = 0.004
    assert sentence not in card_page(card)
    # two such partners: named together
    card["importance"]["by_party"][0]["auc_drop"] = 0.071
    card["accuracy"]["partner_value_auc_half_width_95"] = 0.01  # brand + media-b (+0.009) is now within it
    assert (
        "Why provider and media-b can matter to this model yet add no AUC: scrambling their columns"
        in card_page(card)
    )


def test_a_long_profile_folds_each_tag_and_a_short_one_does_not() -> None:
    short = profile_payload()
    page = report.render([{"release": release_info("rel-p", "profile"), "payload": short}])
    assert '<details class="block tag">' not in page

    long = profile_payload()
    long["tags"] = [dict(t, tag=f"{t['tag']}_{i}") for i in range(3) for t in long["tags"]]  # 9 tags
    page = report.render([{"release": release_info("rel-p", "profile"), "payload": long}])
    assert_self_contained(page)
    assert page.count('<details class="block tag">') == 9
    folded = page.split('<details class="block tag">')[1].split("</summary>")[0]
    # the takeaway sentence is readable without opening it
    assert folded.startswith(
        "<summary><b>Income band 0</b>: Buyers are 1.8× as likely as the average provider user to be in "
        "income band 0 “high” (TGI 180"
    )
    # the overview chart across all tags stays open
    assert "Where your buyers differ most from the average provider user" in page.split("<details")[0]


def test_chinese_runs_are_marked_and_the_font_stack_covers_cjk() -> None:
    payload = profile_payload()
    payload["tags"][1]["tag"] = "年龄段"
    page = report.render([{"release": release_info("rel-p", "profile"), "payload": payload}])
    for font in (
        '"PingFang SC"',
        '"Microsoft YaHei"',
        '"Noto Sans CJK SC"',
        '"Source Han Sans SC"',
        '"WenQuanYi Micro Hei"',
    ):
        assert font in page
    assert ":lang(zh) { font-family: var(--cjk)" in page
    assert '<h3><span lang="zh-CN">年龄段</span></h3>' in page
    assert '<h2>Audience profile (<span lang="zh-CN">联合画像</span>): who your buyers are</h2>' in page
    # an attribute never gets a span; a title attribute in the SVG stays plain text
    assert not re.search(r'="[^"]*<span', page)


def test_the_zone_says_when_each_request_was_made() -> None:
    rel = Release("rel-x", "ses-y", "profile", requested_wall=1_700_000_000.25)
    assert serde.release_dict(serde.release_info(rel))["requested_at_ms"] == 1_700_000_000_250
