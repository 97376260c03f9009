"""Red team, issue 10: attacks on "each party stays in control when the zone or the audit service
deviates", through the public APIs of real servers over mutual TLS.

Each test plays one attack that WORKED when it was written and asserts that it FAILS; five are
fixed (an agent prepares a session id once; a partner's floor pins the blind keys it agreed to;
report files keep the approved payload and are always checked against the reader's trust; the
auditor's tool signs a no-content release only from its own review log), and the sixth, which
needs the zone and the audit service to deviate together, is a stated limit (strict xfail). The
attacker holds only what the threat model gives it: the zone's
certificate and key (a deviating zone, or anyone holding its certificate), or the audit
service's (a compromised audit service), plus what the attacked participant's own config and
CLI do with what they are handed.

Attacks tried that were stopped (no test here, or covered elsewhere) are listed at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import commands as audit_commands
from audit.client import AuditClient
from audit.keys import load_private, sign_decision
from deploy import cli
from deploy.topology import load_topology
from proto.audit.v1 import audit_pb2, audit_pb2_grpc
from proto.party.v1 import party_pb2 as ppb
from proto.zone import serde as zone_serde
from proto.zone.v1 import zone_pb2 as zpb
from proto.zone.v1 import zone_pb2_grpc as zpb_grpc
from protocols.policy import Policy
from protocols.release import VERDICT_APPROVE, Approval, ReleaseHeader, canonical_json, header_for
from tests.integration.live import LiveWorld, small_world
from tests.integration.test_client_verify import (
    FakeAudit,
)  # an audit service that shows one record and keeps every decision
from transport.rpc import make_server

PARTIES = (("oem", "brand"), ("media-a", "media"))
AUDITORS = ("auditor-1", "auditor-2")  # the OEM trusts both and needs both (quorum 2)


# --- shared harness ----------------------------------------------------------------------------


def key_of(w: LiveWorld, name: str) -> Ed25519PrivateKey:
    return load_private(w.dir / "keys" / f"{name}.key")


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def approve_all(w: LiveWorld, header: ReleaseHeader) -> list[Approval]:
    """What the OEM's two trusted auditors sign when they approve ``header`` (genuinely)."""
    return [
        Approval(a, raw(key_of(w, a)), sign_decision(key_of(w, a), VERDICT_APPROVE, header.digest()))
        for a in AUDITORS
    ]


def topology_pointing(w: LiveWorld, role: str, port: int) -> Path:
    raw_topo = yaml.safe_load((w.dir / "topology.yaml").read_text())
    for p in raw_topo["participants"]:
        if p["role"] == role:
            p["address"] = f"127.0.0.1:{port}"
    path = w.dir / f"topology-fake-{role}.yaml"
    path.write_text(yaml.safe_dump(raw_topo, sort_keys=False))
    return path


class FakeZone(zpb_grpc.NeutralZoneServicer):
    """A zone server (the zone's own certificate) that serves whatever release the attack sets."""

    def __init__(self) -> None:
        self.serving: zpb.FetchReleaseResponse | None = None

    def FetchRelease(self, request: Any, context: grpc.ServicerContext) -> zpb.FetchReleaseResponse:
        assert self.serving is not None
        return self.serving


def serve_release(
    header: ReleaseHeader, payload: bytes, approvals: list[Approval]
) -> zpb.FetchReleaseResponse:
    info = zpb.ReleaseInfo(
        release_id=header.release_id,
        session_id=header.session_id,
        job=header.job,
        kind=header.kind,
        recipient=header.recipient,
        status=zone_serde.RELEASE_STATUS["approved"],
        digest=header.digest().hex(),
        summary_sha256=header.summary_sha256,
    )
    return zpb.FetchReleaseResponse(
        release=info,
        payload=payload,
        approvals=[
            zpb.Approval(auditor=a.auditor, public_key=a.public_key, signature=a.signature) for a in approvals
        ],
    )


@pytest.fixture
def scored_world(tmp_path: Path, live: Any) -> Iterator[tuple[LiveWorld, str]]:
    """An OEM with lead ids, a media party, 2-of-2 auditors, and a live session of both."""
    topo = small_world(
        tmp_path,
        parties=PARTIES,
        auditors=AUDITORS,
        zone_extra={"approvals_required": 2},
        extra={"oem": {"row_key_column": "lead_id"}},
    )
    csv = tmp_path / "oem.csv"
    frame = pd.read_csv(csv, dtype=str)
    frame["lead_id"] = [f"L{i:05d}" for i in range(len(frame))]
    frame.to_csv(csv, index=False)
    w = live(topo)
    c = w.client("oem")
    sid = c.open_session(["oem", "media-a"])
    c.wait_ready(sid, timeout=60)
    return w, sid


@pytest.fixture
def fake_zone(scored_world: tuple[LiveWorld, str]) -> Iterator[tuple[FakeZone, Path]]:
    w, _ = scored_world
    servicer = FakeZone()
    server, port = make_server(w.tls("zone"), "127.0.0.1:0")  # the zone's own certificate
    zpb_grpc.add_NeutralZoneServicer_to_server(servicer, server)
    server.start()
    try:
        yield servicer, topology_pointing(w, "zone", port)
    finally:
        server.stop(0)


def grades_by_lead(path: Path) -> dict[str, str]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return dict(zip(df["lead_id"], df["grade"], strict=True))


# --- attack 1: a genuinely approved row-score release, replayed into a re-prepared session -----


def test_an_approved_row_score_release_replayed_into_a_re_prepared_session_is_refused(
    scored_world, fake_zone, capsys
):
    """WORKED: a zone (anyone with the zone's certificate) rewrites the OEM's approved lead grades
    onto the wrong leads, with nothing but genuine approvals.

    What the attacker does:
    1. A row-score release R for session S is honestly approved by both of the OEM's trusted
       auditors; the OEM fetches it (``zhongli release fetch``) and its agent writes
       ``scores-R.csv`` — each lead its approved grade.
    2. Holding the zone's certificate, the attacker ends S at the OEM's agent and ``Prepare``s a
       session with the *same id* S again, under the recorded, floor-meeting policy: the agent
       accepts (it keeps no memory of ended session ids) and draws a fresh row shuffle.
    3. It serves the very same release R (same bytes, same genuine approvals) to the OEM's
       ``release fetch`` again. Every check passes — the signatures bind release id, session id,
       job, kind, recipient and payload, all unchanged — and the agent's ``MapScores`` maps the
       approved grade vector through the *new* shuffle.

    What it gets: ``scores-R.csv`` is overwritten (same path, O_TRUNC) with grades nobody
    approved for those leads — about half of the OEM's leads change grade here — while the CLI
    says "verified: approved by auditor-1, auditor-2". The approval covers a grade per *position
    of session S's first shuffle*; nothing ties it to that shuffle.

    The fix should make step 3 fail: e.g. bind the agent's Prepare nonce (or a digest of its row
    order) into the row-score release header the auditors sign, or refuse a Prepare of a session
    id this agent has seen before.
    """
    w, sid = scored_world
    fake, topo = fake_zone
    n = int(w.agents["oem"].sessions.get(sid).rows)
    grades = "".join("A" if i % 2 == 0 else "D" for i in range(n))  # a real release: grades differ by lead
    payload = canonical_json({"job": "lead_rating_score", "grades": grades, "output": "grades", "rows": n})
    summary = canonical_json({"rows": n, "grade_counts": {"A": grades.count("A"), "D": grades.count("D")}})
    header = header_for("rel-genuine0001", sid, "lead_rating_score", "row_scores", "oem", payload, summary)
    fake.serving = serve_release(header, payload, approve_all(w, header))
    args = ["release", "fetch", header.release_id, "--topology", str(topo), "--as", "oem"]

    # Step 1 (honest): the OEM fetches and delivers the approved release.
    assert cli.main([*args, "--out", str(w.dir / "first.json")]) == 0, capsys.readouterr().err
    [scores] = sorted(w.party_cfgs["oem"].outputs().glob("scores-*.csv"))
    approved = grades_by_lead(scores)

    # Step 2 (attacker, zone certificate): the same session id, prepared again at the OEM's agent.
    oem = w.party_stub("oem")  # as the zone
    oem.EndSession(ppb.EndSessionRequest(session_id=sid), timeout=30)
    with pytest.raises(grpc.RpcError) as refused:  # stopped here: an agent prepares a session id once
        oem.Prepare(w.prepare_request(sid), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "used once" in str(
        refused.value.details()
    )

    # Step 3: the same genuine release, fetched and delivered once more.
    code = cli.main([*args, "--out", str(w.dir / "second.json")])
    err = capsys.readouterr().err
    after = grades_by_lead(scores)
    moved = sum(1 for lead, g in approved.items() if after.get(lead) != g)
    assert code != 0 and moved == 0, (
        f"the replayed release was accepted and re-delivered: {moved} of {len(approved)} leads now carry a grade "
        f"nobody approved for them (CLI: {err.strip().splitlines()[:1]})"
    )


# --- attack 2: a policy clause the floor does not check ------------------------------------------


@pytest.fixture
def row_level_world(tmp_path: Path, live: Any) -> LiveWorld:
    """The media party consents to row-level use of its data; the policy pins the OEM's blind key."""
    topo = small_world(
        tmp_path,
        parties=PARTIES,
        auditors=AUDITORS,
        zone_extra={"approvals_required": 2},
        policy={"row_level": {"partners": ["media-a"], "blind_keys": {"oem": "11" * 8}}},
    )
    w: LiveWorld = live(topo)
    return w


def test_a_new_version_that_only_re_pins_the_requesters_blind_key_is_refused_by_the_consenting_partner(
    row_level_world,
):
    """WORKED: the partner's floor cannot see ``row_level.blind_keys``, so a zone re-keys the
    requester's donor draw without the partner agreeing.

    ``row_level.blind_keys`` is what bounds a row-level output's membership leak: rows a partner
    does not know take a donor from the partner's population, drawn by the requester's keyed
    blind token, and "a requester may not re-draw those tokens without a new policy"
    (protocols/policy.py). Re-drawing them and watching which rows' scores move is exactly the
    attack the pin prevents (THREAT_MODEL, limits: blind tokens).

    What the attacker does: with the zone's certificate it records at the audit service a new
    version of the agreed policy that differs *only* in ``row_level.blind_keys['oem']`` (the
    requester's new key's fingerprint), then ``Prepare``s the consenting partner's agent under it.

    What it gets: the partner's agent accepts (``protocols/floor.py`` checks k, differencing, DP,
    rates, jobs, recipients, consent, raw scores, AUC, auditors — not the pins), so every
    re-pin is a fresh, legitimate-looking re-draw of the requester's donors over the partner's
    data; each policy version gives one more draw. The floor has no clause a partner could set
    to stop it short of pinning whole policy digests.

    Fix direction: a floor clause for the blind-key pins (e.g. ``row_level.blind_keys`` the
    partner accepts per requester, or "pins may not change across versions"), checked in
    ``protocols/floor.violations``.
    """
    w = row_level_world
    honest: Policy = w.zone.gate.policy
    assert honest.row_level.blind_keys == {"oem": "11" * 8} and "media-a" in honest.row_level.partners
    raw_policy = honest.model_dump(mode="json")
    raw_policy["version"] = honest.version + 1
    raw_policy["row_level"]["blind_keys"] = {"oem": "22" * 8}  # the requester's freshly drawn key
    repinned = Policy.model_validate(raw_policy)
    with AuditClient(w.audit_cfg.listen, w.tls("zone")) as audit:
        audit.record_policy(repinned.canonical_text(), repinned.digest())
    req = ppb.PrepareRequest(
        session_id="ses-repinned",
        id_type=ppb.ID_TYPE_PHONE,
        ttl_seconds=60,
        policy_json=repinned.canonical_text(),
        policy_digest=repinned.digest(),
    )
    with pytest.raises(grpc.RpcError) as err:
        w.party_stub("media-a").Prepare(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "blind_keys" in str(err.value.details())


# --- attack 3: report rendering from release files ----------------------------------------------


def _auditor_keys() -> list[tuple[str, Ed25519PrivateKey]]:
    return [(a, Ed25519PrivateKey.generate()) for a in AUDITORS]


def _release_file(
    path: Path,
    header: ReleaseHeader,
    payload: dict[str, Any],
    approvals: list[Approval],
    verification: dict[str, Any],
) -> Path:
    info = {
        "release_id": header.release_id,
        "session_id": header.session_id,
        "job": header.job,
        "kind": header.kind,
        "recipient": header.recipient,
        "status": "approved",
        "digest": header.digest().hex(),
        "summary_sha256": header.summary_sha256,
        "approvals": [
            {"auditor": a.auditor, "public_key": a.public_key.hex(), "signature": a.signature.hex()}
            for a in approvals
        ],
        "verification": verification,
    }
    path.write_text(json.dumps({"release": info, "payload": payload}))
    return path


def test_report_with_trust_refuses_an_approved_release_file_whose_payload_was_swapped_under_a_delivered_note(
    tmp_path,
):
    """WORKED: ``zhongli report --topology T --as oem`` draws invented figures under genuine
    approvals.

    What the attacker does: it takes any genuinely approved release it has seen (the zone sees
    every approval; here an aggregate approved by both of the OEM's trusted auditors), keeps its
    header, approvals and verification record, replaces the payload with figures of its choice
    and adds ``"delivered": "decrypted at the recipient"`` to the verification record. It hands
    the OEM that release file.

    What it gets: ``deploy/report.check_verified`` skips the payload-hash check whenever
    ``verification.delivered`` is set (meant for decrypted attribution values and row scores
    written to a file), then re-checks the approvals against the header — whose payload hash it
    takes from the file's verification record, not from the payload in hand. The approvals are
    genuine, so the page is drawn with the invented figures and "approved by auditor-1,
    auditor-2". THREAT_MODEL ("Clients verify what they receive") says report rendering
    recomputes the digest from the payload bytes in hand; it does not.

    Fix direction (deploy/report.py, deploy/cli.py): keep the verified payload bytes in the file
    (or strip exactly the fields delivery adds — ``credited_value``, ``scores_file`` — and
    recompute the hash of the rest) and always check the hash; never let the file's own
    ``delivered`` note switch the check off.
    """
    from deploy import report
    from protocols.errors import VerificationFailed
    from protocols.release import TrustedAuditors

    keys = _auditor_keys()
    trust = TrustedAuditors({raw(k): name for name, k in keys}, 2)
    genuine = {"job": "segment_count", "people_in_segment": 1200}
    header = header_for(
        "rel-genuine0002", "ses-1", "segment_count", "aggregate", "oem", canonical_json(genuine)
    )
    approvals = [Approval(n, raw(k), sign_decision(k, VERDICT_APPROVE, header.digest())) for n, k in keys]
    verification = {
        "verified_by": "oem",
        "digest": header.digest().hex(),
        "payload_sha256": header.payload_sha256,
        "summary_sha256": header.summary_sha256,
        "approved_by": list(AUDITORS),
        "quorum": 2,
    }
    # Control: the genuine file draws; the same file with its payload swapped (no note) is refused.
    ok = _release_file(tmp_path / "release-genuine.json", header, genuine, approvals, verification)
    report.write_report([ok], tmp_path / "control.html", trust=trust)
    invented = {"job": "segment_count", "people_in_segment": 4242424}
    plain_swap = _release_file(tmp_path / "release-swapped.json", header, invented, approvals, verification)
    with pytest.raises(VerificationFailed):
        report.write_report([plain_swap], tmp_path / "refused.html", trust=trust)
    # The attack: the same swap, with a "delivered" note.
    noted = _release_file(
        tmp_path / "release-noted.json",
        header,
        invented,
        approvals,
        {**verification, "delivered": "decrypted at the recipient (credited_value added)"},
    )
    out = tmp_path / "attack.html"
    try:
        report.write_report([noted], out, trust=trust)
    except VerificationFailed:
        return  # fixed
    page = out.read_text(encoding="utf-8")
    drawn = "4242424" in page or "4,242,424" in page
    pytest.fail(
        f"the swapped payload was drawn under genuine approvals (invented figure on the page: {drawn})"
    )


def test_report_without_as_refuses_a_release_file_that_carries_no_valid_approval(tmp_path, capsys):
    """WORKED: ``zhongli report --release FILE`` (the documented default, no ``--topology/--as``)
    draws a release nobody approved.

    What the attacker does: it writes a release file with invented figures, no approvals at all,
    and a ``verification`` record of its own making whose ``payload_sha256`` is the hash of its
    invented payload (``"approved_by": ["auditor-1", "auditor-2"]``).

    What it gets: without ``--as`` the report checks only that the payload hashes to the file's
    own record, so the page is drawn, footer and all. THREAT_MODEL says every client path,
    report rendering included, requires a quorum of the reader's own trusted auditors, "otherwise
    nothing is ... drawn"; here the re-check is opt-in.

    Fix direction (deploy/report.py ``cmd_report``/``write_report``): require a trust (``--as``
    or a trust file) and always verify approvals; refuse to draw otherwise.
    """
    from deploy import report

    invented = {"job": "segment_count", "people_in_segment": 4242424}
    header = header_for(
        "rel-invented0003", "ses-1", "segment_count", "aggregate", "oem", canonical_json(invented)
    )
    verification = {
        "verified_by": "oem",
        "digest": header.digest().hex(),
        "payload_sha256": header.payload_sha256,
        "summary_sha256": header.summary_sha256,
        "approved_by": list(AUDITORS),
        "quorum": 2,
    }
    f = _release_file(tmp_path / "release-invented.json", header, invented, [], verification)
    out = tmp_path / "report.html"
    code = report.main(["--release", str(f), "--out", str(out)])
    assert code != 0 and not out.exists(), (
        "a release file with no approval at all was drawn by `zhongli report`"
    )


# --- attack 4: a compromised audit service and the auditor's "lost content" path ----------------


@pytest.fixture
def plain_world(tmp_path: Path, live: Any) -> LiveWorld:
    topo = small_world(tmp_path, parties=PARTIES, auditors=AUDITORS, zone_extra={"approvals_required": 2})
    w: LiveWorld = live(topo)
    return w


def test_auditor_following_the_tools_own_advice_signs_no_digest_it_never_saw_content_for(plain_world, capsys):
    """WORKED: a compromised audit service gets an auditor's approval over a release digest of
    its choosing, without the auditor ever being shown its content.

    What the attacker (holding the audit service's certificate) does: it shows a pending
    release with *no* summary (as after a restart: "it keeps summaries in memory only") and, as
    its digest, the digest of an invented aggregate release for the OEM (a table of its choosing).

    What the auditor sees and does: ``audit show`` prints that digest (the only digest printed)
    with a MISMATCH note; ``audit approve`` refuses and says "pass the full --digest that 'show'
    printed when you reviewed it"; ``audit show``'s help for ``--digest`` says "all 64 if the
    service lost the content". The auditor copies the 64 hex digits ``show`` printed and runs
    ``approve --digest``.

    What it gets: ``audit/client._sign_and_decide`` signs any 64-hex digest equal to the one
    the *service* names, as long as the service shows no content — the tool has no memory of
    what it actually displayed before. The signature is a valid approval of the invented table
    (verify_release accepts it for the OEM), i.e. a signature over content the auditor never
    saw, which THREAT_MODEL ("What each party still has to trust": audit service) says the audit
    service can no longer get.

    Fix direction (audit/client.py, audit/commands.py): when ``show`` recomputes a digest from
    displayed content, keep it locally (e.g. a 0600 file of reviewed digests per auditor); in the
    no-content path, sign only a digest this tool itself recomputed earlier, never one merely
    equal to the service's.
    """
    w = plain_world
    invented = canonical_json({"job": "intersection_stats", "overlap": {"media-a": 3}})
    target = header_for("rel-invented0004", "ses-1", "intersection_stats", "aggregate", "oem", invented)
    record = audit_pb2.ReleaseRecord(
        release_id=target.release_id,
        session_id=target.session_id,
        job=target.job,
        kind="aggregate",
        recipient="oem",
        digest=target.digest().hex(),
        status="pending",
        summary_json="",
        payload_sha256=target.payload_sha256,
    )
    fake = FakeAudit(record)
    server, port = make_server(w.tls("audit"), "127.0.0.1:0")  # the audit service's own certificate
    audit_pb2_grpc.add_AuditServiceServicer_to_server(fake, server)
    server.start()
    try:
        topo = topology_pointing(w, "audit", port)
        base = ["--topology", str(topo), "--as", "auditor-1"]
        assert audit_commands.main(["show", record.release_id, *base], load_topology) == 0
        shown = capsys.readouterr().out
        printed = [line.split()[1] for line in shown.splitlines() if line.strip().startswith("digest")]
        assert printed == [target.digest().hex()], shown
        key = ["--key", str(w.dir / "keys" / "auditor-1.key")]
        assert audit_commands.main(["approve", record.release_id, *key, *base], load_topology) == 1
        advice = capsys.readouterr().err
        assert "review log" in advice and "--digest" in advice, advice
        audit_commands.main(
            ["approve", record.release_id, *key, "--digest", printed[0], *base], load_topology
        )
        capsys.readouterr()
        from protocols.release import signature_valid

        signed = [d for d in fake.decisions if d.signature]
        valid = [
            d for d in signed if signature_valid(bytes(d.public_key), bytes(d.signature), target.digest())
        ]
        assert len(signed) == 0, (
            "the auditor's tool signed the digest of a release whose content it never showed "
            f"({len(signed)} signature(s) sent; {len(valid)} a valid approval of the invented release)"
        )
    finally:
        server.stop(0)


# --- attack 5: the payload hash of a row-score release is the audit service's word --------------


@pytest.mark.xfail(
    strict=True,
    reason="a stated limit (docs/THREAT_MODEL.md, limits): with the zone and the audit service "
    "both deviating, a model or row-score payload hash is theirs to name; the fix (the zone signs its "
    "submissions, auditors check that signature) is open",
)
def test_a_row_score_payload_hash_named_by_the_audit_service_alone_gets_no_signature(
    scored_world, fake_zone, capsys
):
    """WORKED (needs the audit service's certificate *and* the zone's, for delivery): invented
    grades written at the OEM under both trusted auditors' genuine approvals.

    For model and row-score releases auditors cannot see the payload; THREAT_MODEL says they
    trust "the payload hash the zone names". But the auditor's tool receives that hash from the
    *audit service* (``ReleaseRecord.payload_sha256``) with nothing from the zone to check it
    against, and ``digest_to_sign`` takes it as given.

    What the attacker does: holding the audit service's certificate, it shows both auditors the
    honest summary of a row-score release (half A, half D) but names as payload hash the hash
    of its own payload — the same grade counts, with the A's moved to the leads it picks. Both
    auditors run ``audit approve`` on what they are shown: the tool signs. Holding the zone's
    certificate, it then serves that payload with those two approvals to the OEM's
    ``zhongli release fetch``.

    What it gets: the fetch verifies (quorum 2 of the OEM's own auditors, over a digest it
    recomputed) and the OEM's agent writes the attacker's grade for every lead.

    Fix direction: the zone signs what it submits (release header incl. payload hash, with its
    certificate key, or an Ed25519 zone key pinned in each auditor's config); ``audit approve``
    verifies that signature before signing, so the audit service cannot substitute the hash.
    """
    w, sid = scored_world
    fake_z, ztopo = fake_zone
    n = int(w.agents["oem"].sessions.get(sid).rows)
    honest_grades = "".join("A" if i % 2 == 0 else "D" for i in range(n))
    chosen = "".join("D" if i % 2 == 0 else "A" for i in range(n))  # same counts, every lead flipped
    summary = canonical_json(
        {"rows": n, "grade_counts": {"A": honest_grades.count("A"), "D": honest_grades.count("D")}}
    )
    evil_payload = canonical_json(
        {"job": "lead_rating_score", "grades": chosen, "output": "grades", "rows": n}
    )
    header = header_for(
        "rel-swapped0005", sid, "lead_rating_score", "row_scores", "oem", evil_payload, summary
    )
    record = audit_pb2.ReleaseRecord(
        release_id=header.release_id,
        session_id=sid,
        job=header.job,
        kind="row_scores",
        recipient="oem",
        digest=header.digest().hex(),
        status="pending",
        summary_json=summary.decode(),
        payload_sha256=header.payload_sha256,
    )
    fake_a = FakeAudit(record)
    server, port = make_server(w.tls("audit"), "127.0.0.1:0")
    audit_pb2_grpc.add_AuditServiceServicer_to_server(fake_a, server)
    server.start()
    try:
        atopo = topology_pointing(w, "audit", port)
        for a in AUDITORS:
            audit_commands.main(
                [
                    "approve",
                    record.release_id,
                    "--key",
                    str(w.dir / "keys" / f"{a}.key"),
                    "--topology",
                    str(atopo),
                    "--as",
                    a,
                ],
                load_topology,
            )
        capsys.readouterr()
    finally:
        server.stop(0)
    approvals = [
        Approval(d.auditor, bytes(d.public_key), bytes(d.signature)) for d in fake_a.decisions if d.signature
    ]
    fake_z.serving = serve_release(header, evil_payload, approvals)
    code = cli.main(
        [
            "release",
            "fetch",
            header.release_id,
            "--topology",
            str(ztopo),
            "--as",
            "oem",
            "--out",
            str(w.dir / "r.json"),
        ]
    )
    capsys.readouterr()
    written = (
        sorted(w.party_cfgs["oem"].outputs().glob("scores-*.csv"))
        if w.party_cfgs["oem"].outputs().exists()
        else []
    )
    assert len(approvals) == 0 and code != 0 and not written, (
        f"{len(approvals)} auditor(s) signed a payload hash only the audit service named; "
        f"the OEM's fetch exited {code} "
        f"and its agent wrote {len(written)} score file(s) with the attacker's grades"
    )


# --- stopped: a compromised audit service vouching for an unrecorded policy ----------------------


class LyingPolicyDesk(audit_pb2_grpc.AuditServiceServicer):
    """An audit service (its own certificate) that says any policy asked about is recorded, with
    the digest the agent expects but the text of another policy."""

    def __init__(self) -> None:
        self.digest = ""
        self.text = ""
        self.asked = 0

    def GetPolicy(self, request: Any, context: grpc.ServicerContext) -> audit_pb2.GetPolicyResponse:
        self.asked += 1
        return audit_pb2.GetPolicyResponse(
            recorded=True, entry_seq=1, policy_json=self.text, digest=self.digest
        )


def test_stopped_an_audit_service_vouching_with_the_right_digest_for_another_text(tmp_path, live):
    """STOPPED (control for the attack idea): a compromised audit service answers the agent's
    GetPolicy with "recorded", the digest of the policy the zone sent (unrecorded, meets the
    floor) and the text of the honest policy. The agent recomputes the record's digest from the
    text and refuses with FAILED_PRECONDITION."""
    topo = small_world(tmp_path, parties=PARTIES, auditors=AUDITORS, zone_extra={"approvals_required": 2})
    world = topo.parent
    liar = LyingPolicyDesk()
    from transport.rpc import TlsFiles

    certs = world / "certs"
    server, port = make_server(
        TlsFiles(ca=certs / "ca.pem", cert=certs / "audit.pem", key=certs / "audit.key"), "127.0.0.1:0"
    )
    audit_pb2_grpc.add_AuditServiceServicer_to_server(liar, server)
    server.start()
    try:
        cfg_path = world / "party-media-a.yaml"
        cfg = yaml.safe_load(cfg_path.read_text())
        cfg["audit"]["address"] = f"127.0.0.1:{port}"
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        w = live(topo)
        honest: Policy = w.zone.gate.policy
        raw_policy = honest.model_dump(mode="json")
        raw_policy["k_min"] = {
            **raw_policy["k_min"],
            "aggregate": raw_policy["k_min"]["aggregate"] + 1,
        }  # stricter, never recorded
        unrecorded = Policy.model_validate(raw_policy)
        liar.digest, liar.text = unrecorded.digest(), honest.canonical_text()
        req = ppb.PrepareRequest(
            session_id="ses-liar",
            id_type=ppb.ID_TYPE_PHONE,
            ttl_seconds=60,
            policy_json=unrecorded.canonical_text(),
            policy_digest=unrecorded.digest(),
        )
        with pytest.raises(grpc.RpcError) as err:
            w.party_stub("media-a").Prepare(req, timeout=30)
        assert liar.asked >= 1
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "does not recompute" in str(err.value.details())
    finally:
        server.stop(0)


# --- attacks tried and stopped (notes) -----------------------------------------------------------
#
# - Policy floor, clause by clause: k_min (per kind; a missing key defaults to 50), differencing,
#   DP enabled/ε/budget/period, requests.per_hour, outcome_quantum_ms, jobs and per-job
#   recipients, row-level consent/raw scores/AUC, auditors and quorum: all checked. `recipients`
#   (per kind) is not in the floor but the zone requires both the kind's and the job's rules, and
#   the job's are floored, so widening `recipients` alone reaches nobody new. The only unfloored
#   clause with an effect found is `row_level.blind_keys` (attack 2 above).
# - An audit service answering GetPolicy with the right digest for another text: the agent
#   recomputes the record's digest (test_stopped_... above). A fully colluding audit service (text
#   and digest of the zone's weaker policy) is stopped by the clause floor / pins (documented).
# - RecordPolicy one text per name/version: enforced; GetPolicy truncates names to 200 chars but
#   the lookup then fails closed (unrecorded).
# - Chain: origin signs whatever route the zone asks for, any number of times, but every hop
#   blinds each origin once per session and checks its own Prepare nonce, the sender's
#   certificate and each chunk's position/index; routing an origin through fewer parties or two
#   routes ([B,C] and [C]) only yields partial chains of IDs a party holds (no hop blinds twice).
#   Re-preparing a hop under the same session id gives a fresh nonce and key, again only over
#   IDs the origin holds. No way found to get a joint pseudonym for an ID no party holds.
# - Approvals over a digest of another kind/recipient/session/release: the digest binds all of
#   them, and MapScores/fetch build the header themselves (covered by test_client_verify).
# - `audit approve --digest` with a 16-hex prefix while the service shows other content: refused.
#   (The 64-hex no-content path is attack 4.)
# - Revoked certificates as chain signers: refused (ChainVerifier consults the same CRL, re-read on
#   change). Client-side probe gap is documented in THREAT_MODEL.
# - Minor, not tested: `release fetch --out` stores the zone's unsigned `checks`/`error` fields next
#   to the verified payload and the report renders the ε/budget note from those `checks`; a
#   release file with `payload: null` and a refused status is drawn (as refused) with no
#   verification at all.
