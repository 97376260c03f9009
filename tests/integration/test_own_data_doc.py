"""docs/OWN_DATA.md, executed: every ```sh block in order, with bash, in an empty folder.

The walk-through is the product's first path for a partner's own files, so it is tested as
written: each block must exit 0 (``set -euo pipefail``), and at the end the model card's release
file carries both auditors' verified approvals, the insurer's agent has written a grade for every
lead against its row key, the report exists, and nothing ``zhongli init`` printed holds an ID.
The servers the doc starts in the background are stopped by this test whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "OWN_DATA.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
STEP_TIMEOUT = 900


def sh_blocks(text: str) -> list[str]:
    return BLOCK.findall(text)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _stop(pids: list[int], timeout: float = 30.0) -> None:
    """SIGTERM each process the doc started (by id), then SIGKILL what is left after ``timeout``."""
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _started(work: Path) -> list[int]:
    """``zhongli up`` (its pid file) and the servers it printed it started."""
    pids = []
    if (work / "up.pid").exists():
        pids.append(int((work / "up.pid").read_text().strip()))
    if (work / "up.log").exists():
        pids += [int(m) for m in re.findall(r"\bpid (\d+)\b", (work / "up.log").read_text())]
    return pids


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


def test_doc_has_the_steps():
    blocks = sh_blocks(DOC.read_text())
    text = "\n".join(blocks)
    for step in (
        "zhongli init",
        "zhongli certs init",
        "zhongli up",
        "lead_rating_train",
        "zhongli audit approve",
        "zhongli release fetch",
        "lead_rating_score",
        "zhongli report",
    ):
        assert step in text, f"docs/OWN_DATA.md runs no `{step}`"


def test_own_data_walkthrough_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHONGLI_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    outputs: list[str] = []
    try:
        for i, block in enumerate(sh_blocks(DOC.read_text()), start=1):
            run = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block],
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT,
                check=False,
            )
            outputs.append(run.stdout + run.stderr)
            assert run.returncode == 0, (
                f"block {i} of docs/OWN_DATA.md exited {run.returncode}:\n{block}\n--- stdout\n{run.stdout[-3000:]}"
                f"\n--- stderr\n{run.stderr[-3000:]}\n--- up.log\n{_tail(tmp_path / 'up.log')}"
            )
    finally:
        _stop(_started(tmp_path))

    # The card: fetched, verified against the insurer's own trusted auditors, both of them.
    card = json.loads((tmp_path / "release-card.json").read_text())
    assert card["release"]["job"] == "lead_rating_train"
    assert sorted(card["release"]["verification"]["approved_by"]) == ["auditor-1", "auditor-2"]
    # A differentially private card: at 1,250 held-out leads its AUC carries a stated 95% half-width
    # of about 0.07 and Laplace tails, so no threshold on the figure itself is safe to assert here
    # (CI once drew 0.46 for a model near 0.75). What the walk-through owes is a card that states
    # its figures and their accuracy; the model's quality is asserted with DP off elsewhere
    # (tests/unit/test_lead_rating.py: the model beats the brand-only one; DP within 3 half-widths).
    auc, accuracy = card["payload"]["auc"], card["payload"]["accuracy"]
    assert 0.0 <= auc["model"] <= 1.0 and 0.0 <= auc["logistic_baseline"] <= 1.0
    assert 0.0 < accuracy["auc_half_width_95"] < 0.5

    # The grades, written by the insurer's own agent against its policy numbers.
    score_id = (tmp_path / "score.id").read_text().strip()
    scores = pd.read_csv(tmp_path / "raw" / "zhongli-out" / f"scores-{score_id}.csv", dtype=str)
    assert list(scores.columns) == ["policy_no", "score", "grade"]
    insurer = pd.read_csv(tmp_path / "raw" / "insurer.csv", sep=";", dtype=str)
    assert sorted(scores["policy_no"]) == sorted(insurer["policy_no"])
    assert set(scores["grade"].dropna()) <= set("ABCD")
    assert scores["grade"].notna().mean() > 0.9

    report = (tmp_path / "report.html").read_text()
    assert "<html" in report.lower()
    assert "lead_rating_train" in report or "AUC" in report

    # `zhongli init` printed column names and kinds, never an ID or a policy number.
    init_out = next(
        o for o, b in zip(outputs, sh_blocks(DOC.read_text()), strict=True) if "zhongli init" in b
    )
    provider = pd.read_csv(tmp_path / "raw" / "provider_tags.csv", dtype=str)
    secrets = [*insurer["mobile"], *insurer["policy_no"], *provider["phone"]]
    assert not [s for s in secrets if s in init_out]
    configs = "".join(p.read_text() for p in (tmp_path / "site").glob("*.yaml"))
    assert not [s for s in secrets if s in configs]
