"""The scale benchmark's growth fits (tests/bench/bench_scale.py): they recover a known power law and
a known line, read both kinds of run file, and the load sampler's windows pick the right samples."""

from __future__ import annotations

import pytest

from tests.bench.bench_scale import JOBS, LoadSampler, fit, spans


def _doc(n: int, seconds: float, mb: float) -> dict[str, object]:
    """A bench_scale ``run`` file with every phase taking ``seconds`` and peaking at ``mb``."""
    phases = {p: {"wall_s": seconds / 4, "cpu_s": seconds} for p in ("prepare", "chain", "upload", "join")}
    phases["session_total"] = {"wall_s": seconds, "cpu_s": seconds}
    per = {"session": {"s": seconds, "cpu_s": 2 * seconds, "zone_peak_mb": mb, "phases": phases}}
    per.update({j: {"s": seconds, "zone_cpu_s": None, "zone_peak_mb": mb} for j in JOBS})
    return {"leads": n, "raw_input_mb": n / 1000, "per_phase": per}


def test_fit_recovers_a_power_law_in_time_and_a_line_in_memory() -> None:
    sizes = [250_000, 500_000, 1_000_000, 2_000_000]
    docs = [_doc(n, 3e-4 * n**1.2, 400 + 0.002 * n) for n in sizes]
    f = fit(docs, project=[10_000_000])
    for ph in ("session", "attribution", "session.chain"):
        tf = f["phases"][ph]["time_fit"]
        assert tf["b"] == pytest.approx(1.2, abs=1e-6)
        div = 4 if ph == "session.chain" else 1
        assert tf["at"][10_000_000] == pytest.approx(3e-4 * 1e7**1.2 / div, rel=1e-3)
    mf = f["phases"]["attribution"]["memory_fit"]
    assert mf["c_mb"] == pytest.approx(400, abs=0.1)
    assert mf["d_mb_per_1k_leads"] == pytest.approx(2.0, abs=1e-3)
    assert mf["at_mb"][10_000_000] == pytest.approx(20_400, abs=1)
    assert "memory_fit" not in f["phases"]["session.chain"]  # no memory figure per session phase
    assert f["phases"]["session"]["cpu_fit"]["b"] == pytest.approx(1.2, abs=1e-6)
    assert "cpu_fit" not in f["phases"]["attribution"]  # the runs did not record the zone's CPU


def test_fit_reads_a_bench_zone_memory_file_and_a_later_file_wins() -> None:
    mem_doc = {
        "leads": 1_000_000,
        "raw_input_mb": 870.0,
        "per_phase": {"session": {"zone_peak_mb": 1285.0, "ratio": 1.48, "holds": True}},
        "detail": {
            "session_phases": {
                p: {"wall_s": 100.0, "cpu_s": 150.0}
                for p in ("prepare", "chain", "upload", "join", "session_total")
            },
            "jobs": {j: {"s": 50.0, "zone_peak_mb": 2000.0} for j in JOBS},
        },
    }
    f = fit([_doc(1_000_000, 1.0, 1.0), _doc(500_000, 80.0, 900.0), mem_doc], project=[])
    assert f["leads"] == [500_000, 1_000_000]
    assert f["phases"]["session"]["points"][1_000_000] == {"s": 100.0, "mb": 1285.0, "cpu_s": 150.0}
    prof = f["phases"]["profile"]["points"][1_000_000]
    assert (prof["s"], prof["mb"]) == (50.0, 2000.0)


def test_spans_and_load_windows() -> None:
    marks = [("session:start", 10.0), ("session:end", 20.0), ("job:x:start", 21.0), ("job:x:end", 22.0)]
    assert spans(marks) == {"session": (10.0, 20.0), "job:x": (21.0, 22.0)}
    s = LoadSampler()
    s.samples = [(9.0, 1.0), (12.0, 3.0), (18.0, 5.0), (30.0, 9.0)]
    assert s.over(10.0, 20.0) == {"mean": 4.0, "max": 5.0}
    assert s.over(21.0, 22.0) == {"mean": 5.0, "max": 5.0}  # none inside: the nearest sample
