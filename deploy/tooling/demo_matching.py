"""The demo's consultant-matching step (issue 14): its parameters from the synthetic world's
``consultant_matching.json``, and the lines the demo prints about the release."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy.tooling.synth.consultants import MATCHING_PARAMS_FILE


def matching_params(world_dir: Path) -> dict[str, Any]:
    """The consultant table and matching parameters ``zhongli synth`` wrote beside the data."""
    params: dict[str, Any] = json.loads((world_dir / MATCHING_PARAMS_FILE).read_text(encoding="utf-8"))
    return params


def matching_lines(p: dict[str, Any]) -> list[str]:
    ev = p.get("evaluation") or {}
    lines = [
        f"{p.get('new_leads', 0):,} new leads matched to {len(p.get('consultants', []))} consultants"
        f" ({p.get('unassigned', 0):,} over capacity); file at the OEM: {p.get('scores_file', '-')}",
    ]
    cur, match, up = (
        ev.get("expected_rate_current"),
        ev.get("expected_rate_matched"),
        ev.get("expected_uplift"),
    )
    if cur is not None and match is not None and up is not None:
        lines.append(
            f"held-out history ({ev.get('heldout_leads', 0):,} leads): expected conversion {cur:.1%} as assigned today,"
            f" {match:.1%} matched ({up:+.0%}, the model's own estimate)"
        )
    check = ev.get("top3_check") or {}
    if check.get("rate_in_top3") is not None and check.get("rate_not_in_top3") is not None:
        lines.append(
            f"measured: past leads whose consultant was in the model's top 3 converted {check['rate_in_top3']:.1%},"
            f" the others {check['rate_not_in_top3']:.1%}"
        )
    return lines
