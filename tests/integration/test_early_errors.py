"""Errors that used to come too late or say the wrong thing (issue 11), against real servers.

One world: a brand ``oem`` (row key ``lead_id``; labels 0/1, yes/no and three-valued, all
declared categorical), ``media-a`` whose CSV is semicolon-separated with no delimiter configured
(sniffed), ``provider`` whose semicolon-separated CSV is configured as comma-separated, and a
second brand ``dealer`` without a row key whose floor pins the policy (so its agent starts, and
the zone must catch it when it opens a session). Each error's exact message is asserted, and
that the servers keep serving afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest
import yaml

from deploy.configs import PartySpec, column
from deploy.tooling.world import write_world
from neutral_zone.config import ZoneConfig
from neutral_zone.service import load_policy
from parties.agent import PartyAgent
from parties.config import PartyConfig
from proto.party.v1 import party_pb2 as ppb
from protocols.errors import ConfigError
from protocols.floor import PolicyFloor
from tests.integration.helpers import phones
from tests.integration.live import (
    LiveWorld,
    assert_failed,
    assert_ready_again,
    call_code,
    open_and_settle,
    state_of,
)
from transport.config import load_config

ROOT = Path(__file__).resolve().parents[2]
N = 3000
NO_ROW_KEY = (
    "party 'dealer' has no row_key_column, so its agent cannot write the scores a lead_rating_score release "
    "sends it; set row_key_column to a column naming each row at its site (e.g. lead_id), or to its ID "
    "column 'phone' with ids_in_outputs: true, in its config (docs/CONFIG.md), and restart its agent"
)


def _world(root: Path) -> Path:
    rng = np.random.default_rng(11)
    ids = phones(rng, N)
    x = rng.normal(size=N)
    y = (x + rng.normal(size=N) > 1.0).astype(int)
    pd.DataFrame(
        {
            "phone": ids,
            "lead_id": [f"L{i:05d}" for i in range(N)],
            "f1": rng.integers(0, 5, N),
            "bought": y,
            "bought_yn": np.where(y == 1, "yes", "no"),
            "tier": rng.choice(["gold", "silver", "bronze"], N),
        }
    ).to_csv(root / "oem.csv", index=False)
    pd.DataFrame({"phone": ids[:1500], "lead_id": range(1500), "f1": 1}).to_csv(
        root / "dealer.csv", index=False
    )
    partner = pd.DataFrame({"phone": ids[:2500], "x": x[:2500], "flag": rng.integers(0, 2, 2500)})
    partner.to_csv(root / "media-a.csv", index=False, sep=";")
    partner.to_csv(root / "provider.csv", index=False, sep=";")
    labels = [column(n, "label", "categorical") for n in ("bought", "bought_yn", "tier")]
    attrs = [column("x", "feature", "numeric"), column("flag", "feature", "categorical")]
    comma = {"source": {"format": "csv", "path": str(root / "provider.csv"), "delimiter": "comma"}}
    topo = write_world(
        root / "world",
        [
            PartySpec(
                "oem",
                "brand",
                root / "oem.csv",
                [column("f1", "feature", "categorical"), *labels],
                row_key_column="lead_id",
            ),
            PartySpec("dealer", "brand", root / "dealer.csv", [column("f1", "feature", "numeric")]),
            PartySpec("media-a", "media", root / "media-a.csv", attrs),
            PartySpec("provider", "data_provider", root / "provider.csv", attrs, extra=comma),
        ],
    )
    # The dealer: no row key, and a floor that pins the world's policy (so the start-up check,
    # which reads the floor's jobs, cannot tell; the zone's check at session open must).
    digest = load_policy(load_config(topo.parent / "zone.yaml", ZoneConfig)).digest()
    path = topo.parent / "party-dealer.yaml"
    raw = yaml.safe_load(path.read_text())
    raw.pop("row_key_column")
    raw.pop("ids_in_outputs")
    raw["floor"] = {"pinned_policy_digests": [digest]}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return topo


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _world(tmp_path_factory.mktemp("early-errors"))


def _still_serves(w: LiveWorld, party: str) -> None:
    r = w.party_stub(party).Describe(ppb.DescribeRequest(), timeout=10)
    assert r.party == party


# --- 1. row_key_column, at agent start and at session open -------------------------------------


def test_agent_without_row_key_refuses_to_start_when_its_floor_allows_scores(world: Path) -> None:
    cfg = load_config(world.parent / "party-dealer.yaml", PartyConfig)
    default_floor = cfg.model_copy(update={"floor": PolicyFloor()})
    with pytest.raises(ConfigError) as err:
        PartyAgent(default_floor)
    assert str(err.value) == (
        f"{NO_ROW_KEY}; or, if this party never takes row scores, remove lead_rating_score from floor.jobs "
        "(its floor lets that job send it scores)"
    )
    # The same at the command line: one line, exit status 1, no traceback, nothing listening.
    raw = yaml.safe_load((world.parent / "party-dealer.yaml").read_text())
    raw.pop("floor")
    bad = world.parent / "party-dealer-default-floor.yaml"
    bad.write_text(yaml.safe_dump(raw, sort_keys=False))
    proc = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "party", "serve", "--config", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == str(err.value).join(("zhongli: ", ""))
    assert "Traceback" not in proc.stderr and "LISTENING" not in proc.stdout


def test_zone_refuses_a_session_whose_requester_could_not_write_its_scores(world: Path, live) -> None:
    w = live(world)
    policy = w.zone.gate.policy
    code, msg = call_code(w.client("dealer").open_session, ["dealer", "media-a"])
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert msg == (
        f"open session: session not opened: policy '{policy.name}' v{policy.version} lets lead_rating_score "
        f"send row scores to 'dealer', but {NO_ROW_KEY} [FAILED_PRECONDITION]"
    )
    # Before any blinding: no agent prepared anything, the zone holds no session for it.
    assert all(len(a.sessions) == 0 for a in w.agents.values())
    assert not w.zone._sessions
    _still_serves(w, "dealer")
    assert_ready_again(w, ["oem", "media-a"])


# --- 5. CSV delimiter ---------------------------------------------------------------------------


def test_delimiter_is_sniffed_or_its_mistake_named_in_one_message(world: Path, live) -> None:
    w = live(world)
    oem = w.client("oem")
    _, resp = open_and_settle(oem, ["oem", "media-a"])  # media-a: semicolons, sniffed
    assert state_of(resp) == "ready", resp.error
    assert {p.party: p.rows for p in resp.parties}["media-a"] == 2500
    _, failed = open_and_settle(oem, ["oem", "provider"])  # provider: semicolons, configured comma
    assert assert_failed(failed) == (
        "party 'provider' failed during preparation: party 'provider': none of the 3 columns named in the "
        "config (the ID column 'phone' included) is in data file 'provider.csv': split at each comma "
        "(configured), its header gives 1 column(s); it splits into more at each semicolon: set "
        "source.delimiter: semicolon in the party config [FAILED_PRECONDITION]"
    )
    _still_serves(w, "provider")
    assert_ready_again(w, ["oem", "media-a"])


# --- 4. labels declared categorical; 6. unknown job parameters ----------------------------------


def test_categorical_labels_train_and_other_values_say_what_to_declare(world: Path, live) -> None:
    w = live(world)
    oem = w.client("oem")
    sid, resp = open_and_settle(oem, ["oem", "media-a"])
    assert state_of(resp) == "ready", resp.error
    for label in ("bought", "bought_yn"):  # 0/1 and yes/no, both declared categorical
        info = oem.wait_computed(
            oem.run_job(
                sid, "lead_rating_train", {"label": label, "partner_value": False, "importance": "none"}
            )
        )
        assert info["status"] == "pending", info
    tier = oem.wait_computed(oem.run_job(sid, "lead_rating_train", {"label": "tier"}))
    assert tier["status"] == "failed"
    assert tier["error"] == (
        "label 'tier' must hold 0/1 (or yes/no, true/false) values; its 3 declared categories are not all of "
        "those: recode it as 0/1 in the file (1 = the outcome happened)"
    )
    for job, params, typo, doc in (
        ("lead_rating_train", {"label": "bought", "lable": "bought"}, "lable", "docs/LEAD_RATING.md"),
        ("attribution", {"conversion": "x", "conversoin": "x"}, "conversoin", "docs/ATTRIBUTION.md"),
        ("intersection_stats", {"partys": []}, "partys", "docs/POLICY.md"),
    ):
        code, msg = call_code(oem.run_job, sid, job, params)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        unknown = f"{typo}: unknown field (check the spelling; see {doc})"
        assert msg == f"run job {job}: params for '{job}': {unknown} [INVALID_ARGUMENT]"
        assert "docs/CONFIG.md" not in msg
    # Still serving: a valid job runs in the same session.
    again = oem.wait_computed(oem.run_job(sid, "intersection_stats"))
    assert again["status"] == "pending", again


# --- the zone's log: a lead-rating fit in a real zone process logs no traceback -----------------


def test_a_fit_in_the_zone_process_logs_no_traceback(world: Path, tmp_path: Path) -> None:
    """The real zone (``zhongli zone serve`` under its no-disk guard, via the launcher) trains a
    model: its log says how many threads fits use and holds no refusal and no traceback (the
    thread-pool library used to probe the CPU with a subprocess the guard refused)."""
    from deploy.tooling.launcher import Cluster
    from deploy.topology import load_topology, zone_client
    from neutral_zone.threads import physical_cores

    topo = load_topology(world)
    with Cluster(topo, tmp_path / "logs") as cluster:
        assert cluster.pid_of("zone") > 0
        oem = zone_client(topo, "oem")
        sid = oem.open_session(["oem", "media-a"], "phone", 0)
        oem.wait_ready(sid)
        params = {"label": "bought", "partner_value": False, "importance": "party"}
        assert oem.wait_computed(oem.run_job(sid, "lead_rating_train", params))["status"] == "pending"
        assert (
            oem.wait_computed(oem.run_job(sid, "intersection_stats"))["status"] == "pending"
        )  # still serving
    log = (tmp_path / "logs" / "zone.log").read_text()
    assert (
        f"model fits use {physical_cores()} OpenMP thread(s) (OMP_NUM_THREADS); joblib process pools off"
        in log
    )
    assert "Traceback" not in log and "refused" not in log and "Warning" not in log, log[-3000:]
