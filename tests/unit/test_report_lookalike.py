"""The report's lookalike sections: aggregates on the page, never the audience's rows."""

from __future__ import annotations

from deploy.report.command import with_delivery
from deploy.report.page import render_release

REPORT = {
    "job": "lookalike",
    "audience_id": "aud-1",
    "segment_name": "store visitors",
    "media": "media-a",
    "audience": {"size": 200, "base": 20000, "share_of_base": 0.01},
    "excludes": "seed",
    "lift": {
        "held_out_seeds": 140,
        "held_out_reached": 40,
        "recall_at_n": 0.2857,
        "random_recall_at_n": 0.01,
        "lift": 28.57,
    },
    "composition": [
        {
            "tag": "income_band",
            "categories": [
                {
                    "category": "high",
                    "audience_count": 90,
                    "audience_share": 0.45,
                    "base_count": 3000,
                    "base_share": 0.15,
                    "tgi": 300.0,
                }
            ],
            "withheld": 2,
        }
    ],
    "k_min": 50,
    "dp": {"epsilon": 1.0, "measurements": []},
    "accuracy": {"held_out_half_width_95": 20, "composition_half_width_95": 9},
}


def test_lookalike_section_shows_lift_and_composition():
    html = render_release({"release": {"release_id": "rel-1", "status": "approved"}, "payload": REPORT})
    assert "Lookalike audience on media-a" in html and "store visitors" in html
    assert "28.6×" in html and "income_band" in html and "300.0" in html
    assert "2 categories withheld" in html and "± 20" in html


def test_the_audience_rows_never_reach_the_page():
    flags = "0110" * 50
    doc = {
        "release": {"release_id": "rel-2", "status": "approved", "recipient": "media-a"},
        "payload": {
            "job": "lookalike_audience",
            "audience_id": "aud-1",
            "rows": 200,
            "size": 100,
            "audience": flags,
        },
        "delivered": {"scores_file": "/site/zhongli-out/audience-rel-2.csv"},
    }
    shown = with_delivery(doc)
    assert "audience" not in shown["payload"] and shown["payload"]["scores_file"].endswith(
        "audience-rel-2.csv"
    )
    html = render_release(shown)
    assert flags not in html and "audience-rel-2.csv" in html and "100" in html
