"""Consultant matching through a real zone (mutual TLS, the real gate and auditors): a top 3 and
an assigned consultant per new lead, every consultant's daily capacity respected, released to the
brand only; bad consultant tables refused with clear errors, after which the zone keeps serving."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest

from deploy.configs import provision
from deploy.deliver import map_scores
from deploy.tooling.synth import generate as synth
from deploy.tooling.synth.consultants import MATCHING_PARAMS_FILE
from deploy.tooling.world import approve_as_demo_auditors
from deploy.topology import load_topology
from tests.integration.live import LiveWorld, call_code, open_and_settle, state_of

PARTIES = ["oem", "provider"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = synth(tmp_path_factory.mktemp("match"), n_leads=4000, seed=5)
    provision(result.topology, days=2, paillier_bits=1024)
    return result.topology


def _params(topology: Path) -> dict[str, Any]:
    params: dict[str, Any] = json.loads((topology.parent / MATCHING_PARAMS_FILE).read_text())
    return params


def _ready(w: LiveWorld) -> str:
    sid, resp = open_and_settle(w.client("oem"), PARTIES)
    assert state_of(resp) == "ready", resp.error
    return sid


def test_new_leads_get_a_top_3_and_a_consultant_within_capacity(world, live):
    w = live(world)
    oem = w.client("oem")
    sid = _ready(w)
    params = _params(world)
    info = oem.wait_computed(oem.run_job(sid, "consultant_matching", params))
    assert info["status"] == "pending", info
    assert info["kind"] == "row_scores" and info["recipient"] == "oem"
    assert any(c["name"] == "membership" and c["passed"] for c in info["checks"]), info["checks"]
    approve_as_demo_auditors(world, info["release_id"])
    _, out = oem.fetch(info["release_id"])
    ids = out["consultants"]
    assert ids == [c["id"] for c in params["consultants"]]
    # In the brand's file order (its agent's secret row order undone), with each row's day.
    session = w.agents["oem"].sessions._sessions[sid]
    leads = pd.read_csv(world.parent / "oem_leads.csv")
    top = np.full(len(leads), None, dtype=object)
    top[session.row_source] = out["top"]
    assigned = np.full(len(leads), -2)
    assigned[session.row_source] = out["assigned"]
    new = leads["consultant_id"].isna().to_numpy()
    took_part = np.zeros(len(leads), bool)
    took_part[session.row_source] = True
    assert all(len(t) == 3 and len(set(t)) == 3 for t in top[new & took_part])
    assert all(t is None for t in top[~new & took_part])
    assert (assigned[~new & took_part] == -1).all()
    assert (assigned[new & took_part] >= 0).all() and out["unassigned"] == 0
    capacity = np.array([c["capacity"] for c in params["consultants"]])
    day = pd.to_datetime(leads["lead_time"]).dt.date.to_numpy()
    for d in np.unique(day[new & took_part]):
        rows = new & took_part & (day == d)
        assert (np.bincount(assigned[rows], minlength=len(ids)) <= capacity).all(), d
    ev = out["evaluation"]
    assert ev["heldout_leads"] > 500 and ev["expected_uplift"] is not None and ev["expected_uplift"] > 0
    assert out["dp"]["epsilon_spent"] == pytest.approx(1.0)
    tags = out["randomised_tags"]
    assert tags["epsilon_total"] == 1.0 and tags["tags"][0] == "district"
    # The brand's own agent writes them against its row keys (lead_id), consultant ids by rank.
    written = map_scores(load_topology(world), "oem", oem.fetch_release(info["release_id"]))
    got = pd.read_csv(written.path, dtype=str).set_index("lead_id")
    assert list(got.columns) == ["rank_1", "rank_2", "rank_3", "assigned"]
    assert written.rows_scored == int((new & took_part).sum()) and written.rows_written == len(leads)
    rows = np.flatnonzero(new & took_part)
    lead_ids = leads["lead_id"].to_numpy()[rows]
    assert got.loc[lead_ids, "rank_1"].tolist() == [ids[top[r][0]] for r in rows]
    assert got.loc[lead_ids, "assigned"].tolist() == [ids[assigned[r]] for r in rows]
    assert got.loc[leads["lead_id"][~new], "rank_1"].isna().all()
    # The same request again gives the same consultants: the randomised tags do not move.
    again = oem.wait_computed(oem.run_job(sid, "consultant_matching", params))
    approve_as_demo_auditors(world, again["release_id"])
    _, out2 = oem.fetch(again["release_id"])
    assert out2["top"] == out["top"]


def _refused(oem, sid: str, params: dict[str, Any], *needles: str) -> None:
    """The job plans on the request and the brand's own data only: the failure says precisely
    what to change (nothing in it depends on a partner)."""
    info = oem.wait_computed(oem.run_job(sid, "consultant_matching", params))
    assert info["status"] == "failed", info
    for n in needles:
        assert n in info["error"], info["error"]


def test_bad_consultant_tables_are_clear_errors_and_the_zone_keeps_serving(world, live):
    w = live(world)
    oem = w.client("oem")
    sid = _ready(w)
    params = _params(world)

    zero = copy.deepcopy(params)
    zero["consultants"][4]["capacity"] = 0
    _refused(oem, sid, zero, "capacity", zero["consultants"][4]["id"])

    unknown = copy.deepcopy(params)
    unknown["consultants"][2]["district"] = "atlantis"
    _refused(oem, sid, unknown, "unknown district", "atlantis")

    dup = copy.deepcopy(params)
    dup["consultants"][7]["id"] = dup["consultants"][6]["id"]
    _refused(oem, sid, dup, "duplicate consultant id", dup["consultants"][6]["id"])

    model = copy.deepcopy(params)
    model["consultants"][0]["models"] = ["flying_car"]
    _refused(oem, sid, model, "unknown model", "flying_car")

    _refused(oem, sid, {**params, "consultants": []}, "empty")
    code, message = call_code(oem.run_job, sid, "consultant_matching", {**params, "top": 9})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "top" in message, message
    _refused(oem, sid, {**params, "location_tag": "nope"}, "location_tag", "district")
    _refused(oem, sid, {**params, "tag_epsilon": 5.0}, "max_tag_epsilon")
    few = copy.deepcopy(params)
    few["consultants"] = few["consultants"][:2]
    _refused(oem, sid, few, "capacity", "add consultants")

    # Nothing was lost: the same session still matches.
    info = oem.wait_computed(oem.run_job(sid, "consultant_matching", params))
    assert info["status"] == "pending", info
