"""Lookalike audiences through a real zone (docs/LOOKALIKE.md): aggregates to the OEM, the audience
row by row to the media platform only, written by its own agent against its own user ids; bad
requests are clear errors and the zone keeps serving."""

from __future__ import annotations

from pathlib import Path

import grpc
import pandas as pd
import pytest

from deploy.configs import provision
from deploy.deliver import map_scores
from deploy.tooling.synth import generate as synth
from deploy.tooling.world import approve_as_demo_auditors
from protocols.ids import normalise
from tests.integration.live import LiveWorld, call_code, open_and_settle, state_of

PARTIES = ["oem", "media-a", "media-b", "provider"]
SEED = {"segment": {"visited_store": 1}, "segment_name": "visitors", "media": "media-a"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = synth(tmp_path_factory.mktemp("lookalike"), n_leads=3000, seed=5)
    provision(result.topology, days=2, paillier_bits=1024)
    return result.topology


def ready(w: LiveWorld) -> str:
    sid, resp = open_and_settle(w.client("oem"), PARTIES)
    assert state_of(resp) == "ready", resp.error
    return sid


def test_aggregates_to_the_oem_audience_to_the_platform_only(demo, live, capsys):
    w = live(demo)
    oem = w.client("oem")
    sid = ready(w)
    agg = oem.wait_computed(oem.run_job(sid, "lookalike", {**SEED, "size": 120}))
    assert agg["status"] == "pending" and agg["recipient"] == "oem", agg
    approve_as_demo_auditors(w.dir / "topology.yaml", agg["release_id"])
    _, report = oem.fetch(agg["release_id"])
    assert report["audience"]["size"] == 120 and report["audience"]["base"] > 1000
    assert report["dp"]["epsilon"] == 1.0 and report["accuracy"]["held_out_half_width_95"] > 0
    lift = report["lift"]
    assert lift["held_out_seeds"] > 0 and lift["lift"] is not None
    assert {t["tag"] for t in report["composition"]} >= {"age_band", "income_band", "city_tier"}
    # Aggregates only: nothing in the OEM's release is one value per person.
    assert all(not isinstance(v, str) or len(v) < 200 for v in report.values())

    aud = oem.wait_computed(oem.run_job(sid, "lookalike_audience", {"audience_id": report["audience_id"]}))
    assert aud["status"] == "pending" and aud["recipient"] == "media-a", aud
    checks = {c["name"]: c["passed"] for c in aud["checks"]}
    assert checks["row_owner"] and checks["row_level_consent"] and checks["membership"], aud["checks"]
    from audit import commands
    from deploy.topology import load_topology

    topo = str(w.dir / "topology.yaml")
    assert (
        commands.main(["show", aud["release_id"], "--topology", topo, "--as", "auditor-1"], load_topology)
        == 0
    )
    shown = capsys.readouterr().out
    for field in ("provider_known_share_gap", "provider_known_share", "seeds_in_audience"):
        assert field in shown, field
    approve_as_demo_auditors(w.dir / "topology.yaml", aud["release_id"])
    # The OEM (the requester) cannot fetch the platform's rows, even approved.
    code, _ = call_code(oem.fetch, aud["release_id"])
    assert code == grpc.StatusCode.PERMISSION_DENIED
    media = w.client("media-a")
    fetched = media.fetch_release(aud["release_id"])
    assert fetched.payload["size"] == 120
    r = map_scores(w.topology, "media-a", fetched)
    got = pd.read_csv(r.path, dtype=str)
    assert list(got.columns) == ["user_id"] and len(got) == r.rows_written == 120
    log = pd.read_csv(w.dir / "media_a_touchpoints.csv", dtype=str)
    assert set(got["user_id"]) <= set(log["user_id"])
    # The seed is left out: no visitor among the OEM's leads is in the audience.
    leads = pd.read_csv(w.dir / "oem_leads.csv", dtype=str)
    visitors = set(normalise(leads.loc[leads["visited_store"] == "1", "phone"], "phone").dropna())
    log["person"] = normalise(log["phone"], "phone")
    chosen = set(log.loc[log["user_id"].isin(got["user_id"]), "person"].dropna())
    assert not chosen & visitors
    # The platform's own CLI does the same: verify, hand to its own agent, say where the ids are.
    from deploy import cli

    assert cli.main(["release", "fetch", aud["release_id"], "--topology", topo, "--as", "media-a"]) == 0
    said = capsys.readouterr()
    assert "120 users in the audience; their ids written at your site to" in said.out
    # Another platform cannot fetch it either.
    code, _ = call_code(w.client("media-b").fetch, aud["release_id"])
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_bad_requests_are_clear_and_the_zone_keeps_serving(demo, live):
    w = live(demo)
    oem = w.client("oem")
    sid = ready(w)
    small = oem.wait_computed(oem.run_job(sid, "lookalike", {**SEED, "size": 10}))
    assert small["status"] == "failed" and "at least k_min" in small["error"]
    both = oem.wait_computed(oem.run_job(sid, "lookalike", {**SEED, "size": 100, "share": 0.05}))
    assert both["status"] == "failed" and "not both" in both["error"]
    tag = oem.wait_computed(oem.run_job(sid, "lookalike", {**SEED, "size": 100, "tags": ["nope"]}))
    assert tag["status"] == "failed" and "composition tags" in tag["error"]
    col = oem.wait_computed(
        oem.run_job(sid, "lookalike", {"segment": {"nope": 1}, "size": 100, "media": "media-a"})
    )
    assert col["status"] == "failed" and "'nope' is not a column" in col["error"]
    code, message = call_code(oem.run_job, sid, "lookalike", {**SEED, "share": 0.9})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "share" in message
    missing = oem.wait_computed(oem.run_job(sid, "lookalike_audience", {"audience_id": "aud-nope"}))
    assert missing["status"] == "failed" and "no audience" in missing["error"]
    ok = oem.wait_computed(oem.run_job(sid, "lookalike", {**SEED, "share": 0.05}))
    assert ok["status"] == "pending", ok
