"""The OEM's HTML report (deploy/report/): one self-contained page from released payloads only,
every release string escaped, and no crash on unknown jobs or missing optional fields."""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy import report
from protocols.errors import InvalidInput, VerificationFailed
from protocols.release import (
    VERDICT_APPROVE,
    ReleaseHeader,
    TrustedAuditors,
    canonical_json,
    decision_message,
)

AUDITOR_KEY = Ed25519PrivateKey.generate()  # the test auditor the reader trusts
TRUST = TrustedAuditors({AUDITOR_KEY.public_key().public_bytes_raw(): "auditor-1"}, 1)

PARTNERS = ["media-a", "media-b", "provider"]


def release_info(rid: str, job: str, **extra: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "release_id": rid,
        "session_id": "ses-0123456789abcdef",
        "job": job,
        "kind": "aggregate",
        "recipient": "oem",
        "status": "approved",
        "digest": "22af58c0" + "9e" * 28,
        "checks": [
            {"name": "k_min", "passed": True, "detail": "every count is 0 or >= k=50"},
            {"name": "finite", "passed": True, "detail": "all numbers finite"},
        ],
        "error": "",
        "approvals": [{"auditor": "auditor-1", "signature": "ab" * 64}],
    }
    info.update(extra)
    return info


def as_fetched(doc: dict[str, Any]) -> dict[str, Any]:
    """A release document as a verifying fetch writes it: approved by the test auditor the reader
    trusts (over the digest of its header and payload), with the verification record."""
    info = doc["release"]
    payload_sha = hashlib.sha256(canonical_json(doc["payload"])).hexdigest()
    header = ReleaseHeader(
        info["release_id"],
        info["session_id"],
        info["job"],
        info["kind"],
        info["recipient"],
        payload_sha,
        payload_sha,
    )
    digest = header.digest()
    approvals = [
        {
            "auditor": "auditor-1",
            "public_key": AUDITOR_KEY.public_key().public_bytes_raw().hex(),
            "signature": AUDITOR_KEY.sign(decision_message(VERDICT_APPROVE, digest)).hex(),
        }
    ]
    verification = {
        "verified_by": "oem",
        "digest": digest.hex(),
        "payload_sha256": payload_sha,
        "summary_sha256": payload_sha,
        "approved_by": ["auditor-1"],
        "quorum": 1,
    }
    return {
        **doc,
        "release": {**info, "digest": digest.hex(), "approvals": approvals, "verification": verification},
    }


def trusting_reader(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``zhongli report`` arguments for a reader whose own config trusts the test auditor."""
    import deploy.topology

    monkeypatch.setattr(deploy.topology, "load_topology", lambda path: path)
    monkeypatch.setattr(deploy.topology, "trust_of", lambda topo, name: TRUST)
    return ["--topology", "topology.yaml", "--as", "oem"]


def intersection_payload(parties: list[str] | None = None) -> dict[str, Any]:
    names = parties or ["oem", *PARTNERS]
    roles = ["brand", "media", "media", "data_provider"]
    people = [49_278, 48_694, 34_333, 67_827]
    pair = {(0, 1): 30_348, (0, 2): 21_759, (0, 3): 34_438, (1, 2): 20_670, (1, 3): 33_995, (2, 3): 23_941}
    triple = {(0, 1, 2): 13_226, (0, 1, 3): 21_159, (0, 2, 3): 15_161, (1, 2, 3): 14_416}
    overlaps = [
        {"parties": [names[i] for i in k], "ways": len(k), "people": v} for k, v in (pair | triple).items()
    ]
    overlaps.append({"parties": list(names), "ways": 4, "people": 9_209})
    return {
        "job": "intersection_stats",
        "parties": [
            {"party": n, "role": r, "people": p} for n, r, p in zip(names, roles, people, strict=True)
        ],
        "overlaps": overlaps,
        "all_parties": 9_209,
        "k_min": 50,
    }


def model_card(seed: int = 5) -> dict[str, Any]:
    """A self-consistent model card computed from simulated held-out scores, as the zone would."""
    rng = np.random.default_rng(seed)
    n_test = 10_000
    latent = rng.normal(size=n_test)
    p_true = 1 / (1 + np.exp(-(-2.6 + 1.3 * latent)))
    y = rng.random(n_test) < p_true
    score = 1 / (1 + np.exp(-(-2.6 + 1.3 * (latent + rng.normal(scale=0.35, size=n_test)))))
    order = np.argsort(-score)
    ys, ss = y[order], score[order]
    base = float(y.mean())
    # ROC at 20 thresholds
    tp, fp = np.cumsum(ys), np.cumsum(~ys)
    idx = np.linspace(0, n_test - 1, 19).astype(int)
    roc = [{"fpr": 0.0, "tpr": 0.0}] + [
        {"fpr": float(fp[i] / fp[-1]), "tpr": float(tp[i] / tp[-1])} for i in idx
    ]
    auc = float(np.trapezoid([r["tpr"] for r in roc], [r["fpr"] for r in roc]))
    deciles = []
    for d, part in enumerate(np.array_split(ys, 10), start=1):
        rate = float(part.mean())
        deciles.append(
            {
                "decile": d,
                "leads": int(part.size),
                "conversions": int(part.sum()),
                "rate": rate,
                "lift": rate / base,
                "cumulative_gain": float(ys[: d * n_test // 10].sum() / ys.sum()),
            }
        )
    calibration = []
    for b, (pp, yy) in enumerate(
        zip(np.array_split(ss[::-1], 10), np.array_split(ys[::-1], 10), strict=True), start=1
    ):
        calibration.append(
            {
                "bin": b,
                "leads": int(pp.size),
                "mean_predicted": float(pp.mean()),
                "observed_rate": float(yy.mean()),
            }
        )
    grades, start = [], 0
    for g, share in (("A", 0.1), ("B", 0.2), ("C", 0.3), ("D", 0.4)):
        part = ys[start : start + int(share * n_test)]
        start += part.size
        grades.append(
            {
                "grade": g,
                "share_of_leads": share,
                "leads": int(part.size),
                "conversions": int(part.sum()),
                "rate": float(part.mean()),
                "lift": float(part.mean() / base),
            }
        )
    return {
        "job": "lead_rating_train",
        "label": "visited_store",
        "model_id": "mdl-5f3a9c1e",
        "learner": "HistGradientBoostingClassifier",
        "brand": "oem",
        "partners": list(PARTNERS),
        "n_train": 40_000,
        "n_test": n_test,
        "test_positive_rate": base,
        "k_min": 50,
        "auc": {"model": auc, "logistic_baseline": auc - 0.037},
        "roc": roc,
        "deciles": deciles,
        "top10": {"rate": deciles[0]["rate"], "average_rate": base, "lift": deciles[0]["lift"]},
        "calibration": calibration,
        "grades": grades,
        "importance": {
            "by_group": [
                {"group": "provider: interest scores", "party": "provider", "auc_drop": 0.061},
                {"group": "oem: lead source and model", "party": "oem", "auc_drop": 0.048},
                {"group": "media-a: ad clicks", "party": "media-a", "auc_drop": 0.027},
                {"group": "media-b: video views", "party": "media-b", "auc_drop": 0.012},
                {"group": "provider: demographics", "party": "provider", "auc_drop": 0.008},
                {"group": "oem: region", "party": "oem", "auc_drop": 0.003},
            ],
            "by_party": [
                {"party": "provider", "auc_drop": 0.071},
                {"party": "oem", "auc_drop": 0.052},
                {"party": "media-a", "auc_drop": 0.029},
                {"party": "media-b", "auc_drop": 0.013},
            ],
        },
        "partner_value": [
            {"label": "brand only", "parties": ["oem"], "auc": auc - 0.071},
            {"label": "brand + media-a", "parties": ["oem", "media-a"], "auc": auc - 0.049},
            {"label": "brand + media-b", "parties": ["oem", "media-b"], "auc": auc - 0.062},
            {"label": "brand + provider", "parties": ["oem", "provider"], "auc": auc - 0.018},
            {"label": "all partners", "parties": ["oem", *PARTNERS], "auc": auc},
        ],
        "sealed_model": {"format": "zhongli-sealed-v1", "bytes": 412_334},
    }


def score_payload() -> dict[str, Any]:
    """As the OEM keeps it: the row scores went to its agent's file, the counts stay."""
    return {
        "job": "lead_rating_score",
        "rows": 20_000,
        "model_id": "mdl-5f3a9c1e",
        "label": "visited_store",
        "grade_counts": {"A": 2_000, "B": 4_000, "C": 6_000, "D": 8_000},
    }


def _cell(category: str, seg: int, leads: int, pop: int, sizes: tuple[int, int, int]) -> dict[str, Any]:
    """A category row as the zone writes it: counts, shares of each group, TGI against both bases."""
    s_sh, l_sh, p_sh = seg / sizes[0], leads / sizes[1], pop / sizes[2]
    return {
        "category": category,
        "segment_count": seg,
        "segment_share": s_sh,
        "leads_count": leads,
        "leads_share": l_sh,
        "population_count": pop,
        "population_share": p_sh,
        "tgi": round(100 * s_sh / p_sh, 1) if p_sh else None,
        "tgi_vs_leads": round(100 * s_sh / l_sh, 1) if l_sh else None,
    }


# A suppressed cell as a careless zone might write it, still carrying numbers: none may reach the page.
LEAKY_SUPPRESSED = {
    "category": "low",
    "suppressed": True,
    "segment_count": 31_337,
    "segment_share": 0.987654,
    "tgi": 4321.5,
}


def profile_payload(dp: bool = True) -> dict[str, Any]:
    """Buyers (1,000) among 5,000 matched leads and 20,000 provider users: income band "high" at
    TGI 180 (150 against the leads), a suppressed band, an under-represented age group, an age
    group no buyer is in, and a numeric tag in quantile bands."""
    sizes = (1_000, 5_000, 20_000)
    income = [
        _cell("high", 360, 1_200, 4_000, sizes),
        _cell("mid", 540, 3_000, 12_000, sizes),
        dict(LEAKY_SUPPRESSED),
        {"category": "(unknown)", "suppressed": True},
    ]
    age = [
        _cell("18-24", 0, 400, 2_000, sizes),
        _cell("25-34", 600, 2_600, 9_000, sizes),
        _cell("35-44", 300, 1_500, 6_000, sizes),
        _cell("45+", 100, 500, 3_000, sizes),
    ]
    suv = [
        _cell("[0.004, 0.25)", 100, 1_250, 5_000, sizes),
        _cell("[0.25, 0.5)", 150, 1_250, 5_000, sizes),
        _cell("[0.5, 0.75)", 250, 1_250, 5_000, sizes),
        _cell("[0.75, 0.991]", 500, 1_250, 5_000, sizes),
    ]
    return {
        "job": "profile",
        "segment_name": "buyers",
        "segment": {"purchased": 1},
        "provider": "provider",
        "sizes": {"segment": sizes[0], "matched_leads": sizes[1], "population": sizes[2]},
        "tags": [
            {"tag": "income_band", "numeric": False, "categories": income},
            {"tag": "age_band", "numeric": False, "categories": age},
            {"tag": "interest_suv", "numeric": True, "categories": suv},
        ],
        "k_min": 50,
        "suppression": "cells with 1..k-1 people are withheld",
        "dp": {"epsilon": 1.0, "mechanism": "discrete_laplace", "measurements": 12, "epsilon_each": 1 / 12}
        if dp
        else None,
    }


def sample_releases() -> list[dict[str, Any]]:
    return [
        {
            "release": release_info("rel-1111aaaa2222bbbb", "intersection_stats"),
            "payload": intersection_payload(),
        },
        {
            "release": release_info("rel-3333cccc4444dddd", "lead_rating_train", kind="model"),
            "payload": model_card(),
        },
        {
            "release": release_info(
                "rel-5555eeee6666ffff",
                "lead_rating_score",
                kind="row_scores",
                scores_file="oem-out/lead-scores.csv",
            ),
            "payload": score_payload(),
        },
    ]


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<html") == 1 and page.rstrip().endswith("</html>")
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "@import" not in page and "url(" not in page


def test_full_page_has_charts_numbers_grades_and_partners() -> None:
    releases = sample_releases()
    card = releases[1]["payload"]
    page = report.render(releases)
    assert_self_contained(page)
    assert (
        page.count("<svg") >= 7
    )  # overlap, ROC, deciles, gains, calibration, importance x2, partner value, grades
    assert f"{card['auc']['model']:.3f}" in page
    assert f"{card['auc']['logistic_baseline']:.3f}" in page
    assert f"{card['top10']['lift']:.1f}×" in page
    for g in "ABCD":
        assert f">{g}</span>" in page
    for pv in card["partner_value"]:
        assert pv["label"] in page
    assert "+0.071 vs brand only" in page
    assert "Approved by auditor-1; digest 22af58c0…" in page
    assert "49,278" in page  # counts get thousands separators
    assert "oem-out/lead-scores.csv" in page
    assert "sealed copy of the model" in page
    # every release gets its own section, footer and anchor
    assert page.count('<section class="release"') == 3
    assert all(f'id="{r["release"]["release_id"]}"' in page for r in releases)


def test_overlap_share_is_of_the_brands_people() -> None:
    page = report.render(
        [{"release": release_info("rel-1", "intersection_stats"), "payload": intersection_payload()}]
    )
    assert_self_contained(page)
    assert "<svg" in page
    assert f"{34_438 / 49_278 * 100:.1f}%" in page  # provider, the largest overlap
    assert "also known to provider" in page


def test_strings_from_a_release_are_escaped() -> None:
    evil = "<img src=x onerror=alert(1)>"
    payload = intersection_payload(["oem", evil, "media-b", "provider"])
    card = model_card()
    card["partners"] = [evil, "media-b", "provider"]
    card["importance"]["by_group"][0]["group"] = evil
    card["partner_value"][1]["label"] = evil
    card["label"] = '"><script>x</script>'
    info = release_info(
        'rel-"><b>', "intersection_stats", approvals=[{"auditor": "<i>auditor</i>"}], digest="<svg onload=x>"
    )
    page = report.render(
        [
            {"release": info, "payload": payload},
            {"release": release_info("rel-2", "lead_rating_train"), "payload": card},
            {
                "release": release_info("rel-3", "<b>odd job</b>"),
                "payload": {"job": "<b>odd job</b>", evil: evil},
            },
        ]
    )
    assert evil not in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert (
        "<script" not in page and "<i>auditor" not in page and "<b>" not in page and "<svg onload" not in page
    )
    assert_self_contained(page)


def test_unknown_job_renders_its_scalars_as_a_table() -> None:
    payload = {
        "job": "churn_forecast",
        "segment": "buyers",
        "people": 12_345,
        "tgi_max": 187.25,
        "flag": True,
        "tags": [{"tag": "golf"}],
    }
    page = report.render([{"release": release_info("rel-9", "churn_forecast"), "payload": payload}])
    assert_self_contained(page)
    assert "buyers" in page and "12,345" in page and "187.2" in page and "tags" in page
    assert "Approved by auditor-1" in page


@pytest.mark.parametrize(
    "drop",
    [
        "sealed_model",
        "importance",
        "roc",
        "deciles",
        "calibration",
        "grades",
        "partner_value",
        "auc",
        "top10",
        "partners",
        "brand",
        "label",
        "model_id",
        "n_test",
        "test_positive_rate",
    ],
)
def test_model_card_without_an_optional_field_still_renders(drop: str) -> None:
    card = model_card()
    del card[drop]
    page = report.render([{"release": release_info("rel-1", "lead_rating_train"), "payload": card}])
    assert_self_contained(page)
    assert "Lead rating" in page


def test_sparse_and_odd_inputs_do_not_crash() -> None:
    card = model_card()
    card["importance"] = {"by_group": [{"group": "x"}], "by_party": None}
    card["roc"] = [{"fpr": "a", "tpr": None}]
    card["deciles"] = [{"decile": 1}, "junk"]
    card["grades"] = [{"grade": "Z"}]
    card["auc"] = {"model": float("nan")}
    card["partner_value"] = [{"label": "all partners", "auc": 0.3}]
    card["sealed_model"] = {}
    docs: list[dict[str, Any]] = [
        {"release": release_info("rel-1", "lead_rating_train"), "payload": card},
        {"payload": {"job": "intersection_stats", "parties": [], "overlaps": []}},  # no release info at all
        {
            "release": {"job": "intersection_stats"},
            "payload": {"job": "intersection_stats", "parties": [{"party": "oem"}]},
        },
        {
            "release": release_info("rel-4", "lead_rating_score", status="pending", approvals=[]),
            "payload": {"job": "lead_rating_score"},
        },
        {"release": release_info("rel-5", "x"), "payload": {}},
    ]
    page = report.render(docs)
    assert_self_contained(page)
    assert "No auditor approval recorded (status: pending)" in page
    assert (
        "signed by an auditor before release" not in page
    )  # the intro does not vouch for an unsigned release
    assert "nan" not in page.lower().replace("nanjing", "")
    assert report.render([]).startswith("<!DOCTYPE html>")


def test_write_report_and_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = []
    for doc in sample_releases():
        f = tmp_path / f"release-{doc['release']['release_id']}.json"
        f.write_text(json.dumps(as_fetched(doc), ensure_ascii=False), encoding="utf-8")
        files.append(f)
    (tmp_path / "summary.json").write_text("{}")  # not a release-*.json: ignored by --dir
    out = report.write_report(files[:1], tmp_path / "sub" / "one.html", trust=TRUST)
    assert out.exists() and out.read_text(encoding="utf-8").count('<section class="release"') == 1

    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    with pytest.raises(InvalidInput, match="--as"):  # no reader, no trust: nothing is drawn
        report.cmd_report(parser.parse_args(["--dir", str(tmp_path), "--out", str(tmp_path / "all.html")]))
    assert not (tmp_path / "all.html").exists()
    reader = trusting_reader(monkeypatch)
    args = parser.parse_args([*reader, "--dir", str(tmp_path), "--out", str(tmp_path / "all.html")])
    assert report.cmd_report(args) == 0
    page = (tmp_path / "all.html").read_text(encoding="utf-8")
    assert page.count('<section class="release"') == 3
    assert_self_contained(page)

    args = parser.parse_args(
        [*reader, "--release", str(files[1]), "--release", str(files[2]), "--out", str(tmp_path / "two.html")]
    )
    assert report.cmd_report(args) == 0
    assert (tmp_path / "two.html").read_text(encoding="utf-8").count('<section class="release"') == 2

    # a file named by --release and found again by --dir is one section, not two
    args = parser.parse_args(
        [*reader, "--release", str(files[0]), "--dir", str(tmp_path), "--out", str(tmp_path / "dup.html")]
    )
    assert report.cmd_report(args) == 0
    assert (tmp_path / "dup.html").read_text(encoding="utf-8").count('<section class="release"') == 3


def test_bad_inputs_name_the_problem(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    with pytest.raises(InvalidInput, match="no release files"):
        report.cmd_report(parser.parse_args(["--dir", str(tmp_path)]))
    bad = tmp_path / "release-bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInput, match=r"release-bad\.json"):
        report.write_report([bad], tmp_path / "r.html", trust=TRUST)
    bad.write_text(json.dumps({"release": {}}))
    with pytest.raises(InvalidInput, match="no payload"):
        report.write_report([bad], tmp_path / "r.html", trust=TRUST)


def test_partner_value_without_a_brand_only_row_claims_no_gain() -> None:
    card = model_card()
    card["partner_value"] = [r for r in card["partner_value"] if r["label"] != "brand only"]
    page = report.render([{"release": release_info("rel-1", "lead_rating_train"), "payload": card}])
    assert "vs brand only" not in page and "all partners" in page


def test_row_scores_and_sealed_bytes_never_reach_the_page() -> None:
    rng = np.random.default_rng(1)
    scores = [round(float(x), 4) for x in rng.random(500)]
    letters = "".join(rng.choice(list("ABCD"), 500))
    raw = score_payload() | {"scores": scores, "grades": letters}
    blob = "QUJD" * 1000
    sealed = {
        "job": "lead_rating_seal",
        "model_id": "mdl-5f3a9c1e",
        "label": "visited_store",
        "format": "zhongli-sealed-model-v1",
        "brand": "oem",
        "partners": PARTNERS,
        "bytes": 3000,
        "sealed": blob,
    }
    unknown = {"job": "future_job", "blob": blob, "n": 3}
    page = report.render(
        [
            {"release": release_info("rel-1", "lead_rating_score"), "payload": raw},
            {"release": release_info("rel-2", "lead_rating_seal"), "payload": sealed},
            {"release": release_info("rel-3", "future_job"), "payload": unknown},
        ]
    )
    assert_self_contained(page)
    assert "2,000" in page  # the grade counts are shown
    assert letters[:40] not in page and "QUJDQUJD" not in page
    assert not any(f"{s:.4f}" in page for s in scores)
    assert "sealed copy of model mdl-5f3a9c1e (3,000 bytes)" in page
    assert "blob" in page  # named as present, not printed


def test_render_does_not_modify_its_input() -> None:
    releases = sample_releases()
    before = copy.deepcopy(releases)
    report.render(releases)
    assert releases == before


def test_svg_text_is_well_formed() -> None:
    page = report.render(sample_releases())
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.DOTALL):
        assert svg.count("<text") == svg.count("</text>")
        assert svg.count("<g>") == svg.count("</g>")
        assert "xmlns" not in svg


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every field of a JSON value; of each list, only the first two items (the rest look alike)."""
    out: list[tuple[Any, ...]] = []
    items = (
        list(value.items())
        if isinstance(value, dict)
        else list(enumerate(value[:2]))
        if isinstance(value, list)
        else []
    )
    for k, v in items:
        out.append((*prefix, k))
        out += _paths(v, (*prefix, k))
    return out


ODD_VALUES: list[Any] = [None, "x", -1, 0, 1e308, [], {}, True, [1, "a", None]]


@pytest.mark.parametrize("job", ["intersection_stats", "lead_rating_train", "lead_rating_score", "profile"])
def test_any_field_of_any_type_never_crashes_the_page(job: str) -> None:
    """A release written by a newer or older zone must still render: swap every field, at every
    depth, for values of the wrong type and check the page still comes out whole."""
    makers: dict[str, Callable[[], dict[str, Any]]] = {
        "intersection_stats": intersection_payload,
        "lead_rating_train": model_card,
        "lead_rating_score": score_payload,
        "profile": profile_payload,
    }
    payload = makers[job]()
    info = release_info("rel-1", job)
    for target in ("release", "payload"):
        doc = {"release": info, "payload": payload}
        for path in _paths(doc[target]):
            for odd in ODD_VALUES:
                mutated = copy.deepcopy(doc)
                node = mutated[target]
                for k in path[:-1]:
                    node = node[k]
                node[path[-1]] = odd
                page = report.render([mutated])
                assert page.rstrip().endswith("</html>"), (target, path, odd)


# ---------------------------------------------------------------------------------------------
# attribution

ATTR_CHANNELS = [
    ("douyin_feed", "media-a"),
    ("douyin_live", "media-a"),
    ("douyin_search", "media-a"),
    ("wechat_article", "media-b"),
    ("wechat_moments", "media-b"),
    ("wechat_retarget", "media-b"),
]
ATTR_MODELS = [
    "data_driven",
    "first_touch",
    "last_touch",
    "linear",
    "markov",
    "position_based",
    "shapley",
    "time_decay",
]
ATTR_LABELS = [
    "Data-driven",
    "First touch",
    "Last touch",
    "Linear",
    "Markov",
    "Position-based",
    "Shapley",
    "Time decay",
]


def ciphertext(model: str, channel: str) -> str:
    """A stand-in for a Paillier ciphertext as the zone writes it: a long lowercase hex string."""
    return (f"{abs(hash((model, channel))) % 16**12:012x}" + "c0ffee4badf00d" * 40)[:512]


def attribution_payload(recipient: str = "oem", values: str = "decrypted") -> dict[str, Any]:
    """Like a real release: shares per model, a data-driven model that credits the targeted feed
    nothing (a −8e-16 of floating-point dust) and only the incremental visits; for the OEM, purchase
    values encrypted under its key and (``values="decrypted"``) decrypted at its site."""
    rng = np.random.default_rng(3)
    models: dict[str, list[dict[str, Any]]] = {}
    for m in ATTR_MODELS:
        if m == "data_driven":
            credited = np.array([-8.494125886741059e-16, 72.55, 348.56, 117.44, 13.60, 131.07])
        else:
            raw = rng.random(len(ATTR_CHANNELS)) + 0.2
            credited = raw / raw.sum() * 2_013
        total = credited.sum()
        rows = []
        for (ch, party), c in zip(ATTR_CHANNELS, credited, strict=True):
            row: dict[str, Any] = {
                "channel": ch,
                "party": party,
                "credited_conversions": float(c),
                "share": float(c / total),
                "paths": 700 + len(ch) * 40,
                "users": 3_000 + len(ch) * 300,
            }
            if recipient == "oem" and values in ("decrypted", "encrypted"):
                row["credited_value_ciphertext"] = ciphertext(m, ch)
                if values == "decrypted":
                    row["credited_value"] = round(float(c) * 72_143.21, 2) if c > 1e-9 else 0.0
            if recipient == "oem" and values == "plain":
                row["credited_value"] = round(float(c) * 72_143.21, 2)
            rows.append(row)
        models[m] = rows if recipient == "oem" else [r for r in rows if r["party"] == recipient]
    payload: dict[str, Any] = {
        "job": "attribution",
        "conversion": "visit_time",
        "lookback_days": 30.0,
        "half_life_days": 7.0,
        "position_weights": [0.4, 0.2, 0.4],
        "counts": {
            "people": 19_711,
            "converters": 2_412,
            "converters_with_path": 2_013,
            "unattributed_conversions": 399,
            "non_converters_with_path": 13_065,
            "non_converters_without_path": 4_234,
            "touches_used": 88_801,
        },
        "models": models,
        "k_min": 50,
        "recipient_scope": "all channels" if recipient == "oem" else f"channels of {recipient}",
    }
    if recipient == "oem" and values in ("decrypted", "encrypted"):
        payload["value"] = {
            "column": "purchase_price",
            "encrypted": "paillier",
            "scale": 4096,
            "key_fingerprint": "2518ed1131947c86",
        }
    elif recipient == "oem" and values == "plain":
        payload["value"] = {"column": "purchase_price", "encrypted": None}
    return payload


def attribution_page(*payloads: dict[str, Any]) -> str:
    docs = []
    for i, p in enumerate(payloads):
        scope = str(p.get("recipient_scope", ""))
        recipient = scope.removeprefix("channels of ") if scope.startswith("channels of ") else "oem"
        docs.append(
            {"release": release_info(f"rel-attr{i}", "attribution", recipient=recipient), "payload": p}
        )
    return report.render(docs)


def assert_no_ciphertext(page: str, payload: dict[str, Any]) -> None:
    for rows in payload["models"].values():
        for r in rows:
            if r.get("credited_value_ciphertext"):
                assert r["credited_value_ciphertext"][:16] not in page
    assert not re.search(r"[0-9a-f]{65,}", page)  # nothing longer than a digest in hex
    assert "c0ffee4badf00d" not in page


def test_attribution_for_the_oem_draws_every_channel_and_model_and_the_decrypted_values() -> None:
    payload = attribution_payload()
    page = attribution_page(payload)
    assert_self_contained(page)
    assert_no_ciphertext(page, payload)
    section = page.split('<section class="release"', 1)[1]
    assert section.count("<svg") >= 2  # shares under every model; value per channel
    for ch, party in ATTR_CHANNELS:
        assert ch in section
        assert f"{ch} ({party})" in section  # media grouping visible in labels
    for label in ATTR_LABELS:
        assert label in section
    # headline: visits in scope, share with a touchpoint, direct visits, visits the ads caused
    assert "2,412" in page and "83.5%" in page and "399" in page and "19,711" in page
    assert f"{round(sum(r['credited_conversions'] for r in payload['models']['data_driven'])):,}" in page
    # the data-driven model is explained in one sentence, and highlighted
    assert (
        "credits only the store visits a channel caused, after accounting for who it targeted; channels that reach "
        "people who would have come anyway get little credit"
    ) in page
    assert 'class="num hl"' in page and "#fdf1d8" in page
    # decrypted purchase value: yuan with thousands separators, and where it was decrypted
    best = max(payload["models"]["data_driven"], key=lambda r: r["credited_value"])
    assert f"¥{round(best['credited_value']):,}" in page
    assert "¥0" in page  # the feed's floating-point dust is shown as nothing, not as −0
    assert "−0.0%" not in page and "-0.0%" not in page and "e-16" not in page
    assert (
        "decrypted only at the brand" in page and "encrypted sums are also kept in the release file" in page
    )
    assert "Paillier" in page
    assert "Attribution: which channels brought the store visits" in page


def test_attribution_for_a_media_party_names_whose_channels_these_are() -> None:
    payload = attribution_payload("media-a")
    page = attribution_page(payload)
    assert_self_contained(page)
    assert "Attribution for media-a" in page
    assert "media-a&#x27;s own channels only" in page
    for ch, party in ATTR_CHANNELS:
        assert (ch in page) == (party == "media-a")
    for label in ATTR_LABELS:
        assert label in page
    assert "¥" not in page  # a media party never holds purchase values
    assert "need not add up to 100%" in page
    assert "<svg" in page


def test_attribution_values_still_encrypted_are_named_not_printed() -> None:
    payload = attribution_payload(values="encrypted")
    page = attribution_page(payload)
    assert_self_contained(page)
    assert_no_ciphertext(page, payload)
    assert "released encrypted" in page and "--paillier-key" in page
    assert "¥" not in page


def test_attribution_plaintext_values_are_drawn_without_an_encryption_claim() -> None:
    payload = attribution_payload(values="plain")
    page = attribution_page(payload)
    best = max(payload["models"]["data_driven"], key=lambda r: r["credited_value"])
    assert f"¥{round(best['credited_value']):,}" in page
    assert "encrypted" not in page


def test_attribution_channel_colours_match_across_sections() -> None:
    page = attribution_page(
        attribution_payload(), attribution_payload("media-a"), attribution_payload("media-b")
    )
    for ch, _ in ATTR_CHANNELS:
        swatches = set(
            re.findall(r'<span class="sw" style="background:(#[0-9a-f]{6})"></span>' + ch + "<", page)
        )
        assert len(swatches) == 1, ch  # one colour for the channel in the OEM's and its platform's section
    colours = [
        re.search(r'<span class="sw" style="background:(#[0-9a-f]{6})"></span>' + ch + "<", page).group(1)  # type: ignore[union-attr]
        for ch, _ in ATTR_CHANNELS
    ]
    assert len(set(colours)) == len(colours)
    assert page.count('<section class="release"') == 3


def test_attribution_escapes_channel_and_party_names() -> None:
    evil = "<img src=x onerror=alert(1)>"
    payload = attribution_payload()
    for rows in payload["models"].values():
        rows[0]["channel"] = evil
        rows[1]["party"] = '"><script>x</script>'
    payload["conversion"] = "<b>visit</b>"
    payload["value"]["column"] = "<i>price</i>"
    page = attribution_page(payload)
    assert_self_contained(page)
    assert (
        evil not in page
        and "<img" not in page
        and "<script" not in page
        and "<b>visit" not in page
        and "<i>price" not in page
    )
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.DOTALL):
        assert svg.count("<text") == svg.count("</text>") and svg.count("<g>") == svg.count("</g>")


@pytest.mark.parametrize(
    "drop",
    [
        "value",
        "counts",
        "lookback_days",
        "half_life_days",
        "position_weights",
        "k_min",
        "recipient_scope",
        "conversion",
        "models",
        "data_driven",
        "credited_value",
        "share",
        "party",
    ],
)
def test_attribution_without_an_optional_field_still_renders(drop: str) -> None:
    payload = attribution_payload()
    if drop == "data_driven":
        del payload["models"]["data_driven"]
    elif drop in ("credited_value", "share", "party"):
        for rows in payload["models"].values():
            for r in rows:
                r.pop(drop, None)
    else:
        del payload[drop]
    page = attribution_page(payload)
    assert_self_contained(page)
    assert "Attribution" in page
    assert_no_ciphertext(page, attribution_payload())
    if drop != "models":
        assert all(ch in page for ch, _ in ATTR_CHANNELS)


def test_attribution_any_field_of_any_type_never_crashes_the_page() -> None:
    payload = attribution_payload()
    doc = {"release": release_info("rel-1", "attribution"), "payload": payload}
    for path in _paths(payload):
        for odd in ODD_VALUES:
            mutated = copy.deepcopy(doc)
            node = mutated["payload"]
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = odd
            page = report.render([mutated])
            assert page.rstrip().endswith("</html>"), (path, odd)


def test_attribution_sample_page(tmp_path: Path) -> None:
    """The OEM's and both media parties' releases on one page, written where a reader can open it."""
    docs = []
    for i, who in enumerate(["oem", "media-a", "media-b"]):
        f = tmp_path / f"release-rel-attr{i}.json"
        f.write_text(
            json.dumps(
                as_fetched(
                    {
                        "release": release_info(f"rel-attr{i}", "attribution", recipient=who),
                        "payload": attribution_payload(who),
                    }
                ),
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        docs.append(f)
    out = report.write_report(docs, tmp_path / "attribution.html", trust=TRUST)
    page = out.read_text(encoding="utf-8")
    assert_self_contained(page)
    assert page.count('<section class="release"') == 3
    assert "<nav>" in page and "Attribution for media-b" in page


# ---------------------------------------------------------------------------------------------
# profile (联合画像)


def profile_page(payload: dict[str, Any], **info: Any) -> str:
    return report.render([{"release": release_info("rel-prof1", "profile", **info), "payload": payload}])


def test_profile_draws_every_tag_with_shares_tgi_and_a_takeaway() -> None:
    payload = profile_payload()
    page = profile_page(payload)
    assert_self_contained(page)
    assert 'Audience profile (<span lang="zh-CN">联合画像</span>): who your buyers are' in page
    # an overview and one chart per tag
    assert page.count("<svg") == 1 + len(payload["tags"])
    for words in ("Income band", "Age band", "Interest suv"):
        assert f"<h3>{words}</h3>" in page
    # headline tiles: the three sizes, the segment's share of the matched leads, DP with its epsilon
    for n in ("1,000", "5,000", "20,000", "20.0% of your matched leads", "ε = 1", "Privacy noise added"):
        assert n in page
    assert "discrete laplace noise" in page and "ε = 0.0833 each" in page
    # grouped shares: the segment, the matched leads and the population, each with its value
    assert "36.0%" in page and "24.0%" in page and "20.0%" in page
    # the takeaways, computed from the numbers
    assert (
        "Buyers are 1.8× as likely as the average provider user to be in income band “high” "
        "(TGI 180, or 150 against your matched leads)."
    ) in page
    assert (
        "Buyers are 2.0× as likely as the average provider user to have interest suv between 0.75 and 0.991 "
        "(TGI 200, or 200 against your matched leads)"
    ) in page
    assert "none of them are in age band “18-24” (TGI 0)" in page
    assert "split provider&#x27;s users into 4 groups of about equal size" in page
    # TGI bars with their numbers; over-represented in amber, under-represented in slate
    for t in ("TGI 180", "TGI 200", "TGI 133", "TGI 67", "TGI 0"):
        assert t in page
    assert f'fill="{report.TGI_OVER}"' in page and f'fill="{report.TGI_UNDER}"' in page
    # the tables: counts, shares, TGI against the population and against the leads
    assert '<td class="num">1,200</td>' in page and ">150</td>" in page and ">180</td>" in page
    assert "Numbers for income band" in page


def test_profile_suppressed_cells_are_withheld_never_guessed() -> None:
    page = profile_page(profile_payload())
    assert "withheld (fewer than 50 people)" in page
    assert page.count("withheld (fewer than 50 people)") >= 4  # chart and table, both suppressed cells
    # whatever a suppressed cell carries is not shown, nor anything derived from it
    assert "31,337" not in page and "98.8%" not in page and "4322" not in page and "4321" not in page
    # a tag whose every cell is withheld says so instead of drawing or inventing a takeaway
    payload = profile_payload()
    payload["tags"][0]["categories"] = [{"category": c, "suppressed": True} for c in ("a", "b")]
    page = profile_page(payload)
    assert "Every category of income band is withheld" in page


def test_profile_without_dp_and_with_an_unremarkable_tag() -> None:
    payload = profile_payload(dp=False)
    sizes = (1_000, 5_000, 20_000)
    payload["tags"] = [
        {
            "tag": "city_tier",
            "numeric": False,
            "categories": [
                _cell("tier1", 300, 1_500, 6_000, sizes),
                _cell("tier2", 700, 3_500, 14_000, sizes),
            ],
        }
    ]
    page = profile_page(payload)
    assert_self_contained(page)
    assert "ε" not in page and "Privacy noise" not in page
    assert "On city tier, buyers look like the average provider user" in page
    assert page.count("<svg") == 1  # a single tag: no overview


def test_profile_escapes_every_string() -> None:
    evil = "<img src=x onerror=alert(1)>"
    payload = profile_payload()
    payload["tags"][0]["tag"] = evil
    payload["tags"][0]["categories"][0]["category"] = '"><script>x</script>'
    payload["tags"][1]["categories"][1]["category"] = evil
    payload["tags"][0]["categories"][2]["category"] = "<b>hidden</b>"
    payload["segment_name"] = "<i>buyers</i>"
    payload["provider"] = "<u>prov</u>"
    payload["segment"] = {"<s>col</s>": "<s>v</s>"}
    payload["suppression"] = "<em>x</em>"
    page = profile_page(payload)
    assert_self_contained(page)
    for raw in (evil, "<img", "<script", "<b>", "<i>", "<u>", "<s>", "<em>"):
        assert raw not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;i&gt;buyers&lt;/i&gt;" in page
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.DOTALL):
        assert svg.count("<text") == svg.count("</text>") and svg.count("<g>") == svg.count("</g>")
        assert "xmlns" not in svg


@pytest.mark.parametrize(
    "drop",
    [
        "dp",
        "sizes",
        "k_min",
        "suppression",
        "segment",
        "segment_name",
        "provider",
        "tags",
        "numeric",
        "tgi",
        "tgi_vs_leads",
        "leads_share",
        "population_share",
        "categories",
        "segment_count",
    ],
)
def test_profile_without_an_optional_field_still_renders(drop: str) -> None:
    payload = profile_payload()
    if drop in ("numeric", "categories"):
        for t in payload["tags"]:
            del t[drop]
    elif drop in ("tgi", "tgi_vs_leads", "leads_share", "population_share", "segment_count"):
        for t in payload["tags"]:
            for c in t["categories"]:
                c.pop(drop, None)
    else:
        del payload[drop]
    page = profile_page(payload)
    assert_self_contained(page)
    assert "Audience profile" in page
    assert "31,337" not in page and "98.8%" not in page


def test_profile_odd_numbers_do_not_crash_or_print_nan() -> None:
    payload = profile_payload()
    cats = payload["tags"][1]["categories"]
    cats[0].update(tgi=None, population_share=0.0)  # nobody in the population: no TGI
    cats[1].update(tgi=float("nan"), segment_share=float("inf"))
    cats[2].update(tgi=1e9)  # far off the scale: clamped, still labelled
    cats[3].update(tgi=-5)
    page = profile_page(payload)
    assert_self_contained(page)
    assert "no TGI: nobody in the population" in page
    assert "nan" not in page.lower() and "inf%" not in page.lower()
    assert "TGI 1000000000" in page


def test_profile_population_has_the_providers_colour_from_the_overlap_chart() -> None:
    page = report.render(
        [
            {"release": release_info("rel-1", "intersection_stats"), "payload": intersection_payload()},
            {"release": release_info("rel-2", "profile"), "payload": profile_payload()},
        ]
    )
    overlap, profile = page.split('id="rel-2"', 1)
    provider_colour = report.party_colours("oem", PARTNERS)["provider"]
    assert f'fill="{provider_colour}"' in overlap and f'fill="{provider_colour}"' in profile
    assert f'fill="{report.BRAND}"' in profile  # the segment in the brand's navy
    assert "<nav>" in page and '>Audience profile (<span lang="zh-CN">联合画像</span>)</a>' in page


def test_a_refused_release_is_shown_with_its_reason(tmp_path: Path) -> None:
    error = "differencing: cohort differs from the one released in rel-prof1 by 5 people (fewer than k=50)"
    refused = {
        "release": release_info("rel-refused", "profile", status="refused", approvals=[], error=error),
        "payload": None,
    }
    f = tmp_path / "release-rel-refused.json"
    f.write_text(json.dumps(refused), encoding="utf-8")
    g = tmp_path / "release-rel-prof1.json"
    g.write_text(
        json.dumps(
            as_fetched({"release": release_info("rel-prof1", "profile"), "payload": profile_payload()})
        ),
        encoding="utf-8",
    )
    page = report.write_report([g, f], tmp_path / "r.html", trust=TRUST).read_text(encoding="utf-8")
    assert_self_contained(page)
    assert page.count('<section class="release"') == 2
    assert "Nothing was released: an automatic privacy check refused this request — " + error in page
    assert "No auditor approval recorded (status: refused)" in page
    assert "1 released result for oem" in page and "1 request not released, shown with the reason" in page
    # a file with no payload and no refusal is still not a release file
    f.write_text(json.dumps({"release": {"status": "approved"}, "payload": None}))
    with pytest.raises(InvalidInput, match="no payload"):
        report.write_report([f], tmp_path / "r.html", trust=TRUST)


def test_profile_sample_page(tmp_path: Path) -> None:
    """A profile next to the overlap it builds on, written where a reader can open it."""
    docs = []
    for rid, job, payload in (
        ("rel-1", "intersection_stats", intersection_payload()),
        ("rel-2", "profile", profile_payload()),
    ):
        f = tmp_path / f"release-{rid}.json"
        f.write_text(
            json.dumps(
                as_fetched({"release": release_info(rid, job), "payload": payload}), ensure_ascii=False
            ),
            encoding="utf-8",
        )
        docs.append(f)
    page = report.write_report(docs, tmp_path / "profile.html", trust=TRUST).read_text(encoding="utf-8")
    assert_self_contained(page)
    assert page.count('<section class="release"') == 2


# ---------------------------------------------------------------------------------------------
# differential privacy: every release states its ε, whose budget paid and its margins


def dp_account(epsilon: float = 1.0, *measurements: tuple[str, float, int, int, str, int]) -> dict[str, Any]:
    """``ReleaseNoise.describe()`` as a release carries it: (what, ε, sensitivity, cells, unit, half-width) each."""
    return {
        "mechanism": "discrete_laplace",
        "library": "opendp 0.16.0",
        "epsilon": epsilon,
        "epsilon_spent": epsilon,
        "measurements": [
            {
                "what": w,
                "epsilon": e,
                "sensitivity": s,
                "unit": u,
                "cells": c,
                "scale": s / e,
                "half_width_95": h,
            }
            for w, e, s, c, u, h in measurements
        ],
        "note": "every count is released with discrete Laplace noise; half_width_95 is the ± a released cell is within "
        "of the true one with 95% probability (sums of cells: see each field)",
    }


def charged(to: str = "oem", left: str = "9 of 10") -> dict[str, Any]:
    return {"name": "dp_budget", "passed": True, "detail": f"ε 1 charged to '{to}'; {left} left this period"}


def dp_intersection_payload(dp: bool = True) -> dict[str, Any]:
    """As the zone writes it now: each figure with its margin; two figures noised below k withheld."""
    payload = intersection_payload()
    margins = {1: 16, 2: 12, 3: 9, 4: 6}
    for p in payload["parties"]:
        p["half_width_95"] = margins[1]
    for o in payload["overlaps"]:
        o["half_width_95"] = margins[o["ways"]]
    for o in (payload["overlaps"][5], payload["overlaps"][-1]):  # media-b ∩ provider and all four
        o.update(people=None, suppressed=True)
    payload["all_parties"] = None
    payload["suppression"] = "figures below k=50 are withheld (decided on the noised figure)"
    payload["dp"] = dp_account(1.0, ("membership-pattern histogram", 1.0, 2, 15, "people", 6)) if dp else None
    if not dp:
        for f in payload["parties"] + payload["overlaps"]:
            f.pop("half_width_95")
    return payload


def intersection_doc(payload: dict[str, Any], **info: Any) -> dict[str, Any]:
    return {"release": release_info("rel-dp1", "intersection_stats", **info), "payload": payload}


def test_privacy_note_states_the_epsilon_whose_budget_and_each_figures_margin() -> None:
    info = release_info("rel-dp1", "intersection_stats")
    page = report.render(
        [{"release": info | {"checks": [*info["checks"], charged()]}, "payload": dp_intersection_payload()}]
    )
    assert_self_contained(page)
    assert (
        "Released with differential privacy (ε = 1 from your privacy budget, 9 of 10 left this period; OpenDP 0.16.0 "
        "discrete Laplace noise): each count of people is within ±6 to ±16 of the true one with 95% probability"
    ) in page
    # per figure, as "12,345 ± 7": in the tables, the tiles and the overlap bars
    assert '49,278<span class="pm"> ± 16</span>' in page
    assert '30,348<span class="pm"> ± 12</span>' in page and '13,226<span class="pm"> ± 9</span>' in page
    assert "distinct people oem holds (± 16)" in page and "30,348 ± 12 people" in page
    # the page says once what ± and ε mean
    assert (
        "Figures shown with ± carry differential-privacy noise" in page
        and "ε (epsilon) is the privacy budget" in page
    )
    assert page.count("<strong>Privacy.</strong>") == 1


def test_privacy_note_names_who_paid_when_it_was_not_the_recipient() -> None:
    info = release_info("rel-dp1", "intersection_stats", recipient="media-a")
    page = report.render(
        [{"release": info | {"checks": [charged("oem", "8 of 10")]}, "payload": dp_intersection_payload()}]
    )
    assert "ε = 1 from oem&#x27;s privacy budget, 8 of 10 left this period" in page
    # a release without the budget check (a media party's share of one run) was paid for by the run's requester
    page = report.render([intersection_doc(dp_intersection_payload(), recipient="media-a")])
    assert "ε = 1, paid once for the whole computation from the budget of the party that asked for it" in page


def test_privacy_note_says_the_figures_are_exact_when_the_policy_turned_dp_off() -> None:
    payloads = [dp_intersection_payload(dp=False), profile_payload(dp=False), attribution_payload()]
    payloads[2]["dp"] = None
    page = report.render(
        [{"release": release_info(f"rel-{i}", p["job"]), "payload": p} for i, p in enumerate(payloads)]
    )
    assert_self_contained(page)
    exact = (
        "No noise was added: the policy for this computation turned differential privacy off, so every figure here is "
        "exact; figures below k = 50 people are still withheld."
    )
    assert page.count(exact) == 3
    assert "±" not in page and "ε" not in page and "Released with differential privacy" not in page
    # an older zone's release, with no ``dp`` at all, is not claimed either way
    page = report.render(sample_releases())
    assert "Privacy.</strong>" not in page and "differential" not in page


def test_intersection_figures_withheld_below_k_are_said_so_never_guessed() -> None:
    payload = dp_intersection_payload()
    page = report.render([intersection_doc(payload)])
    assert_self_contained(page)
    assert page.count("withheld (&lt; 50)") == 2
    assert "None" not in page and "nan" not in page.lower()
    assert "2 figures came out below 50 and are withheld" in page
    assert "Known to every party" not in page  # its tile is left out, not shown as 0 or —
    assert "all 4 parties at once" not in page
    assert "A figure that came out below 50 people after the privacy noise is withheld" in page
    # even the brand's own count may be withheld: no share of it is computed
    payload["parties"][0].update(people=None, suppressed=True)
    page = report.render([intersection_doc(payload)])
    assert page.count("withheld (&lt; 50)") == 3 and "Your people" not in page and "Share of yours" in page
    # without k the words still stand
    del payload["k_min"]
    assert "withheld (&lt; k)" in report.render([intersection_doc(payload)])


def dp_profile_payload() -> dict[str, Any]:
    """The profile as the zone writes it now: withheld categories counted per tag, not listed, and margins per group."""
    payload = profile_payload()
    payload["tags"][0]["categories"] = payload["tags"][0]["categories"][:2]
    payload["tags"][0]["withheld"] = 3
    payload["tags"][1]["withheld"] = 0
    payload["tags"].append({"tag": "car_owner", "numeric": False, "categories": [], "withheld": 4})
    payload["dp"] = dp_account(
        1.0, *[(f"histogram of '{t['tag']}'", 0.25, 2, 15, "people", 24) for t in payload["tags"]]
    )
    payload["accuracy"] = {
        "segment": {"half_width_95": 24},
        "leads": {"half_width_95": 33},
        "population": {"half_width_95": 40},
        "note": "per category count; sizes average every tag's total and are at least this accurate",
    }
    return payload


def test_profile_withheld_categories_are_counted_never_named() -> None:
    payload = dp_profile_payload()
    page = profile_page(payload, checks=[charged(left="4 of 10")])
    assert_self_contained(page)
    assert "3 categories under k = 50 withheld, names too" in page
    assert "All 4 categories under k = 50 withheld, names too" in page  # a tag with nothing left to show
    assert "<h3>Car owner</h3>" in page
    assert "7 of 17" in page  # the tile: 7 withheld of the 10 listed and 7 counted
    assert (
        "31,337" not in page and "4321" not in page
    )  # nothing of the dropped suppressed row reaches the page
    # each count with its group's margin, in the tables and the tiles
    assert '360<span class="pm"> ± 24</span>' in page and '1,200<span class="pm"> ± 33</span>' in page
    assert '4,000<span class="pm"> ± 40</span>' in page
    assert (
        "each count is within ±24 to ±40 people (95%)" in page
        and "20.0% of your matched leads; within ±24" in page
    )
    assert (
        "with 95% probability each category count is within ±24 for your buyers, ±33 for your matched leads and ±40 "
        "for all provider users of the true one"
    ) in page
    assert "7 categories under k = 50 withheld, names too" in page  # the privacy note's total
    assert "shared over 4 tag histograms (ε = 0.25 each)" in page


def dp_model_card() -> dict[str, Any]:
    card = model_card()
    card["importance"] = {
        "level": "party",
        "by_party": card["importance"]["by_party"],
    }  # by_group only when asked
    card["accuracy"] = {
        "auc_half_width_95": 0.004,
        "histogram_cell_half_width_95": 15,
        "partner_value_auc_half_width_95": 0.021,
        "importance_auc_half_width_95": 0.03,
    }
    card["score_bins"] = "20 bins at the training scores' 5% quantiles; deciles are pairs of bins"
    card["dp"] = dp_account(
        1.0,
        ("held-out score-bin × label histogram", 0.4, 2, 40, "leads", 15),
        ("held-out AUC", 0.2, 3442, 1, "2U (AUC × 2PN)", 51557),
    )
    return card


def test_model_card_states_its_auc_margins() -> None:
    card = dp_model_card()
    page = report.render([{"release": release_info("rel-1", "lead_rating_train"), "payload": card}])
    assert_self_contained(page)
    assert f"{card['auc']['model']:.3f} ± 0.004" in page
    assert "Each AUC here is within ±0.021 of the true one with 95% probability" in page
    assert "Each figure is within ±0.030 of the true loss" in page
    assert (
        "Which information the model relies on" not in page and "Which party&#x27;s data matters most" in page
    )
    assert "each within ±15 leads (95%)" in page
    assert "the model&#x27;s AUC is within ±0.004 of the true one with 95% probability" in page
    assert "score bands: 20 bins at the training scores" in page


def test_scores_with_grade_counts_only_say_what_the_epsilon_paid_for() -> None:
    payload = {
        "job": "lead_rating_score",
        "model_id": "mdl-5f3a9c1e",
        "label": "visited_store",
        "rows": 20_000,
        "output": "grades",
        "grade_counts": {"A": 2_000, "B": 4_000, "C": 6_000, "D": 8_000},
        "dp": dp_account(
            1.0,
            ("rows known to provider", 0.5, 1, 1, "rows", 18),
            ("(known to provider?, released value) table", 0.5, 2, 8, "rows", 36),
        ),
    }
    page = report.render([{"release": release_info("rel-1", "lead_rating_score"), "payload": payload}])
    assert_self_contained(page)
    assert "2,000" in page and "grade A" in page
    assert (
        "the ε paid for a noised check that these grades do not reveal which of your leads a partner knows"
        in page
    )
    assert "the grades and their counts carry no noise" in page
    assert "±" not in page.split("<main>")[1]  # no margin is claimed for exact counts


def dp_attribution_payload(recipient: str = "oem") -> dict[str, Any]:
    payload = attribution_payload(recipient)
    payload["counts"] = {k: v for k, v in payload["counts"].items() if k != "touches_used"}
    acc: dict[str, Any] = {
        "footnote counts (people, converters, with a path)": {"half_width_95": 180, "unit": "people"},
        "users and converting paths per channel": {"half_width_95": 240, "unit": "people"},
        "Markov transition counts": {"half_width_95": 2097, "unit": "people"},
    }
    for m in ATTR_MODELS:
        if m != "markov":
            acc[f"{m}: credited conversions"] = {"half_width_95": 99.858, "unit": "conversions"}
        acc[f"{m}: credited value under encryption (cap 500000)"] = {
            "half_width_95": 1_250_000.0,
            "unit": "value",
        }
    payload["accuracy"] = acc
    payload["dp"] = dp_account(
        1.0, ("footnote counts (people, converters, with a path)", 0.05, 3, 4, "people", 180)
    )
    if recipient == "oem":
        payload["value"]["cap"] = 500_000
    return payload


def test_attribution_states_margins_in_conversions_and_value() -> None:
    payload = dp_attribution_payload()
    page = attribution_page(payload)
    assert_self_contained(page)
    assert_no_ciphertext(page, payload)
    # the privacy-margin row under the credited table: ± in conversions per model, none stated for Markov
    row = re.search(r"privacy margin \(95%\)</span></td>(.*?)</tr>", page)
    assert row is not None
    assert row.group(1).count("± 100") == 7 and row.group(1).count("± 240") == 2
    assert "the Markov model&#x27;s credit is computed from noised journey counts" in page
    assert "among 19,711 people in the joined data; each ± 180" in page and "2,013 ± 180 store visits" in page
    # the decrypted values, with their margin
    assert "within ±¥1,250,000 of the true one with 95% probability" in page
    assert (
        "The privacy noise is larger than the figures themselves" not in page
    )  # the fixture's values are larger
    assert (
        "Each person&#x27;s purchase price counted at most ¥500,000, "
        "so no single buyer can move a figure by more than that" in page
    )
    assert (
        "each channel&#x27;s credited store visits are within ±100 of the true figure with 95% probability"
    ) in page
    # a value release drowned in noise says it cannot tell the channels apart
    for rows in payload["models"].values():
        for r in rows:
            r["credited_value"] = r.get("credited_value", 0.0) / 100
    assert "The privacy noise is larger than the figures themselves" in attribution_page(payload)
    # a media party's release names no value margin
    page = attribution_page(dp_attribution_payload("media-a"))
    assert "¥" not in page and "± 100" in page


def test_dp_fields_of_any_type_never_crash_the_page() -> None:
    docs = [
        intersection_doc(dp_intersection_payload()),
        {"release": release_info("rel-2", "profile"), "payload": dp_profile_payload()},
        {"release": release_info("rel-3", "lead_rating_train"), "payload": dp_model_card()},
        {"release": release_info("rel-4", "attribution"), "payload": dp_attribution_payload()},
    ]
    fields = {
        "dp",
        "accuracy",
        "half_width_95",
        "people",
        "suppressed",
        "withheld",
        "importance",
        "score_bins",
        "cap",
    }
    for doc in docs:
        for path in _paths(doc["payload"]):
            if not fields & {str(k) for k in path}:
                continue
            for odd in ODD_VALUES:
                mutated = copy.deepcopy(doc)
                node = mutated["payload"]
                for k in path[:-1]:
                    node = node[k]
                node[path[-1]] = odd
                page = report.render([mutated])
                assert page.rstrip().endswith("</html>"), (path, odd)
                assert "nan" not in page.lower().replace("nanjing", ""), (path, odd)


def test_dp_sample_page(tmp_path: Path) -> None:
    """Every job with its privacy note, written where a reader can open it."""
    docs = []
    for rid, job, payload in (
        ("rel-1", "intersection_stats", dp_intersection_payload()),
        ("rel-2", "profile", dp_profile_payload()),
        ("rel-3", "lead_rating_train", dp_model_card()),
        ("rel-4", "attribution", dp_attribution_payload()),
    ):
        f = tmp_path / f"release-{rid}.json"
        f.write_text(
            json.dumps(
                as_fetched({"release": release_info(rid, job, checks=[charged()]), "payload": payload}),
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        docs.append(f)
    page = report.write_report(docs, tmp_path / "dp.html", trust=TRUST).read_text(encoding="utf-8")
    assert_self_contained(page)
    assert (
        page.count(
            "<strong>Privacy.</strong> Released with differential privacy (ε = 1 from your privacy budget"
        )
        == 4
    )


def test_a_release_file_without_verification_or_edited_after_it_is_refused(tmp_path: Path) -> None:
    doc = {"release": release_info("rel-1", "intersection_stats"), "payload": intersection_payload()}
    f = tmp_path / "release-rel-1.json"
    f.write_text(json.dumps(doc), encoding="utf-8")  # never went through a verifying fetch
    with pytest.raises(VerificationFailed, match="no verification record"):
        report.write_report([f], tmp_path / "r.html", trust=TRUST)
    edited = as_fetched(doc)
    edited["payload"]["parties"][0]["people"] += 1000  # changed after it was verified
    f.write_text(json.dumps(edited), encoding="utf-8")
    with pytest.raises(VerificationFailed, match="not the one verified at fetch"):
        report.write_report([f], tmp_path / "r.html", trust=TRUST)
    assert not (tmp_path / "r.html").exists()
    f.write_text(json.dumps(as_fetched(doc)), encoding="utf-8")  # control: the verified file draws
    assert "auditor-1 verified at fetch by oem" in report.write_report(
        [f], tmp_path / "r.html", trust=TRUST
    ).read_text(encoding="utf-8")


def test_consultant_matching_section_shows_uplift_and_check_but_no_row() -> None:
    payload = {
        "job": "consultant_matching",
        "rows": 5,
        "consultants": ["C001", "C002"],
        "top": [[0, 1], None, [1, 0], [0, 1], None],
        "assigned": [0, -1, 1, 1, -1],
        "new_leads": 3,
        "unassigned": 0,
        "evaluation": {
            "heldout_leads": 400,
            "expected_rate_current": 0.1,
            "expected_rate_matched": 0.13,
            "expected_uplift": 0.3,
            "top3_check": {
                "leads_in_top3": 300,
                "rate_in_top3": 0.12,
                "leads_not_in_top3": 100,
                "rate_not_in_top3": None,
            },
            "half_width_95": {"expected_rate": 0.01, "top3_cell": 6},
        },
        "randomised_tags": {"epsilon_total": 1.0, "keep_probability": {"district": 0.1}},
        "dp": {"epsilon": 1.0, "epsilon_spent": 1.0, "measurements": []},
    }
    page = report.render(
        [{"release": release_info("rel-7", "consultant_matching", kind="row_scores"), "payload": payload}]
    )
    assert "New leads matched" in page and "+30%" in page and "withheld" in page
    assert "district 10%" in page and "Whom the model ranks first" in page
    assert "C001" in page  # consultants are the brand's staff, named; no lead row is shown
