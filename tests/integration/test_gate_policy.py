"""The audit gate under a real policy, through a real zone and audit service: every automatic
refusal (wrong recipient, differencing, identifier in a payload, overspent ε), M-of-N approval,
and no session under a policy the audit service has not recorded."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest
import yaml

from deploy.configs import provision, write_policy
from deploy.tooling.synth import generate as synth
from deploy.tooling.world import approve_as_demo_auditors
from neutral_zone.jobs.base import JobOutput
from neutral_zone.releases import Release
from protocols.release import KIND_AGGREGATE
from tests.integration.live import call_code, open_and_settle, state_of

PARTIES = ["oem", "media-a", "media-b", "provider"]


def make_world(root: Path, budget: float = 10.0) -> tuple[Path, Path]:
    """The demo's own policy (2-of-2, differencing and DP on), with the requester's ε budget set."""
    result = synth(root, n_leads=3000, seed=21)
    provision(result.topology, days=2, paillier_bits=1024)
    policy = write_policy(root / "zone.yaml", root / "policy.yaml")
    raw = yaml.safe_load(policy.read_text())
    raw["dp"]["budget_per_requester"] = budget
    policy.write_text(yaml.safe_dump(raw, sort_keys=False))
    return result.topology, root


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_world(tmp_path_factory.mktemp("gate"))


@pytest.fixture(scope="module")
def dp_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_world(tmp_path_factory.mktemp("gate-dp"), budget=1.5)


def ready(w):
    oem = w.client("oem")
    sid, resp = open_and_settle(oem, PARTIES)
    assert state_of(resp) == "ready", resp.error
    return oem, sid


def cutoff_excluding_last(root, n: int) -> float:
    t = pd.to_datetime(
        pd.read_csv(root / "oem_leads.csv")["purchase_time"], format="ISO8601", utc=True
    ).dropna()
    ms = np.sort(t.astype("datetime64[ms, UTC]").to_numpy(dtype="datetime64[ms]").astype("int64"))
    return float(ms[-n - 1])


def test_wrong_recipient_is_refused(world, live):
    topo, _ = world
    w = live(topo)
    oem, sid = ready(w)
    info = oem.wait_computed(
        oem.run_job(sid, "profile", {"segment": {"visited_store": 1}, "recipient": "provider"})
    )
    assert info["status"] == "refused" and "recipient" in info["error"] and "'provider'" in info["error"]


def test_differencing_attack_is_refused_naming_the_earlier_release(world, live):
    topo, root = world
    w = live(topo)
    oem, sid = ready(w)
    first = oem.wait_computed(oem.run_job(sid, "profile", {"segment": {"purchased": 1}}))
    assert first["status"] == "pending", first
    second = oem.wait_computed(
        oem.run_job(
            sid,
            "profile",
            {"segment": {"purchased": 1, "purchase_time": {"max": cutoff_excluding_last(root, 3)}}},
        )
    )
    assert second["status"] == "refused"
    assert "differencing" in second["error"] and first["release_id"] in second["error"]
    assert "fewer than k=" in second["error"] and " 3 " not in second["error"]  # never how many
    # the same segment again is no attack (identical cohort): it passes
    again = oem.wait_computed(oem.run_job(sid, "profile", {"segment": {"purchased": 1}}))
    assert again["status"] == "pending"


def test_identifier_in_an_aggregate_payload_is_refused_by_the_real_gate(world, live):
    topo, _ = world
    w = live(topo)
    _, sid = ready(w)
    rel = Release("rel-identifier-test", sid, "custom")
    out = JobOutput(
        {"job": "custom", "top_lead": "+86 138 1234 5678", "count": 120},
        "oem",
        KIND_AGGREGATE,
        requester="oem",
    )
    w.zone.gate.submit(rel, out, "oem")
    assert rel.status == "refused" and "no_identifiers" in rel.error and rel.payload is None


def test_quorum_two_of_two_needs_both_signatures(world, live):
    topo, root = world
    w = live(topo)
    oem, sid = ready(w)
    info = oem.wait_computed(oem.run_job(sid, "intersection_stats"))
    from audit.client import AuditClient

    audit = w.topology.by_role("audit")[0]
    with AuditClient(audit.address, w.tls("auditor-1"), server_name="audit") as a1:
        a1.approve(info["release_id"], root / "keys" / "auditor-1.key", "auditor-1")
    code, msg = call_code(oem.fetch, info["release_id"])
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "1 of 2" in msg
    with AuditClient(audit.address, w.tls("auditor-2"), server_name="audit") as a2:
        a2.approve(info["release_id"], root / "keys" / "auditor-2.key", "auditor-2")
    got, _ = oem.fetch(info["release_id"])
    assert got["status"] == "approved" and len(got["approvals"]) == 2


def test_overspent_epsilon_is_refused_and_says_so(dp_world, live, capsys):
    topo, _ = dp_world
    w = live(topo)
    oem, sid = ready(w)
    first = oem.wait_computed(oem.run_job(sid, "profile", {"segment": {"visited_store": 1}}))
    assert first["status"] == "pending" and any(
        c["name"] == "dp_budget" and c["passed"] for c in first["checks"]
    )
    approve_as_demo_auditors(w.dir / "topology.yaml", first["release_id"])
    _, payload = oem.fetch(first["release_id"])
    assert payload["dp"]["epsilon"] == 1.0
    second = oem.wait_computed(oem.run_job(sid, "profile", {"segment": {"purchased": 1}}))
    assert second["status"] == "refused" and "dp_budget" in second["error"] and "1.5" in second["error"]
    # The budget belongs to the requester, not to the session: a new session starts no new one.
    oem.close_session(sid)
    oem, sid2 = ready(w)
    third = oem.wait_computed(oem.run_job(sid2, "intersection_stats"))
    assert third["status"] == "refused" and "dp_budget" in third["error"]
    # ... and a sealed model or a refused request costs nothing; auditors read the ledger.
    from audit import commands
    from deploy.topology import load_topology

    code = commands.main(
        ["budget", "oem", "--topology", str(w.dir / "topology.yaml"), "--as", "auditor-1"], load_topology
    )
    out = capsys.readouterr().out
    assert code == 0 and "ε=1 of 1.5" in out, out


def test_no_session_under_a_policy_the_audit_service_has_not_recorded(world, live):
    topo, _ = world
    w = live(topo)
    # Another policy than the recorded one (a different k): the zone must refuse sessions.
    from protocols.policy import Policy

    w.zone.gate.policy = Policy(
        **{**w.zone.gate.policy.model_dump(), "k_min": {"aggregate": 7, "model": 7, "row_scores": 1}}
    )
    w.zone.gate.policy_digest = w.zone.gate.policy.digest()
    code, msg = call_code(w.client("oem").open_session, PARTIES)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "not recorded" in msg


def test_every_request_counts_against_the_rate_limit(tmp_path, live):
    """Three requests an hour: the fourth is refused, whether the first three passed, failed or
    were refused, and every one of them is in the audit log."""
    from audit.client import AuditClient
    from tests.integration.live import small_world

    w = live(small_world(tmp_path, policy={"requests": {"per_hour": 3}}))
    oem, sid = w.client("oem"), None
    sid, resp = open_and_settle(oem, ["oem", "media-a", "provider"])
    assert state_of(resp) == "ready", resp.error
    assert oem.wait_computed(oem.run_job(sid, "intersection_stats"))["status"] == "pending"
    code, _ = call_code(oem.run_job, sid, "no_such_job")  # a failed request counts too
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert oem.wait_computed(
        oem.run_job(sid, "profile", {"segment": {"score": {"min": 0}}, "recipient": "provider"})
    )["status"] in ("refused", "failed")
    code, msg = call_code(oem.run_job, sid, "intersection_stats")
    assert (
        code == grpc.StatusCode.RESOURCE_EXHAUSTED
        and "4 job requests in the last hour" in msg
        and "allows 3" in msg
    )
    audit = w.topology.by_role("audit")[0]
    with AuditClient(audit.address, w.tls("auditor-1"), server_name="audit") as a:
        requests = a.list_requests(requester="oem")
        assert [r.admitted for r in requests] == [False, True, True, True]  # newest first
        refused = a.list_releases(statuses=("refused", "failed"), requester="oem")
        assert {r.job for r in refused} >= {"profile"} and all(r.reason for r in refused)
