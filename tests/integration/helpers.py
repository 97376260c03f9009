"""Building small worlds for integration tests: CSV files with ID noise and party configs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from parties.config import AuditAddress, ColumnSpec, DataSource, PartyConfig
from transport.config import AuditorKey, TlsConfig, TrustConfig

if TYPE_CHECKING:
    from proto.party.v1 import party_pb2


def phones(rng: np.random.Generator, n: int) -> list[str]:
    nums = rng.choice(10**9, size=n, replace=False)
    second = rng.integers(3, 10, size=n)
    return [f"1{s}{x:09d}" for s, x in zip(second, nums, strict=True)]


def noisy(rng: np.random.Generator, phone: str) -> str:
    r = rng.random()
    if r < 0.2:
        return f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
    if r < 0.35:
        return f"0086-{phone[:3]}-{phone[3:7]}-{phone[7:]}"
    if r < 0.45:
        return f"86{phone}"
    if r < 0.5:
        return f"({phone[:3]}) {phone[3:]}"
    return phone


def write_party_csv(path: Path, ids: list[str], rng: np.random.Generator, invalid: int = 3) -> None:
    rows = [noisy(rng, p) for p in ids] + ["12345"] * invalid + ["1381234abcd"]
    # `score` is a function of the person, so a test can check that rows stay aligned with
    # their pseudonyms: every party must report the same score for a joined person.
    scores = [float(p[-6:]) for p in ids] + [-1.0] * (invalid + 1)
    frame = pd.DataFrame(
        {"phone": rows, "score": scores, "segment": rng.choice(["a", "b", "c"], size=len(rows))}
    )
    frame.to_csv(path, index=False)


class PolicyDesk:
    """A real audit service (mTLS, its own log) with one recorded collaboration policy: the
    product's defaults, which every default floor accepts. Agents started outside a full world
    point their ``audit`` at it, and whoever plays the zone sends ``text`` and ``digest`` in
    Prepare, as the zone does."""

    def __init__(self, pki: object, root: Path) -> None:
        from audit.client import AuditClient
        from audit.config import AuditConfig
        from audit.keys import generate
        from audit.service import serve
        from protocols.policy import Policy, PolicyAuditor

        root.mkdir(parents=True, exist_ok=True)
        generate(root / "auditor-1")
        generate(root / "audit-service")
        key = AuditorKey(name="auditor-1", public_key_file=root / "auditor-1.pub")
        cfg = AuditConfig(
            name="audit",
            tls=pki.tls("audit"),  # type: ignore[attr-defined]
            db=root / "audit.db",
            auditors=[key],
            service_key_file=root / "audit-service.key",
        )
        self.server, port = serve(cfg)
        self.address = f"127.0.0.1:{port}"
        self.trust = TrustConfig(auditors=[key])
        self.policy = Policy(
            name="test-desk",
            auditors=[
                PolicyAuditor(name="auditor-1", public_key=(root / "auditor-1.pub").read_text().strip())
            ],
        )
        self.text, self.digest = self.policy.canonical_text(), self.policy.digest()
        with AuditClient(self.address, pki.tls("zone").files()) as zone:  # type: ignore[attr-defined]
            zone.record_policy(self.text, self.digest)

    def close(self) -> None:
        self.server.stop(None).wait()


def party_config(
    name: str, role: str, csv: Path, tls: TlsConfig, ids_unique: bool = True, desk: PolicyDesk | None = None
) -> PartyConfig:
    """A party agent's config; with ``desk``, its agent checks policies against that audit service."""
    return PartyConfig(
        name=name,
        role=role,  # type: ignore[arg-type]
        listen="127.0.0.1:0",
        tls=tls,
        source=DataSource(format="csv", path=csv),
        id_column="phone",
        id_type="phone",
        ids_unique=ids_unique,
        columns=[
            ColumnSpec(name="score", role="feature", type="numeric", share=True),
            ColumnSpec(name="segment", role="feature", type="categorical", share=True),
        ],
        audit=AuditAddress(address=desk.address) if desk is not None else None,
        trust=desk.trust if desk is not None else None,
        # A brand's default floor lets lead_rating_score send it scores: its agent needs a row key.
        row_key_column="phone" if role == "brand" else None,
        ids_in_outputs=role == "brand",
    )


def signed_scores_request(
    world: Path,
    session_id: str,
    release_id: str,
    grades: str,
    recipient: str = "oem",
    auditors: tuple[str, ...] = ("auditor-1",),
    summary: bytes = b"{}",
) -> party_pb2.MapScoresRequest:
    """A MapScores request for a row-score release signed by the world's own auditor keys (as a
    quorum of them would approve it): what an honest client hands its agent."""
    from audit.keys import load_private, sign_decision
    from proto.party.v1 import party_pb2 as ppb
    from protocols.release import VERDICT_APPROVE, canonical_json, header_for

    payload = canonical_json(
        {"job": "lead_rating_score", "grades": grades, "output": "grades", "rows": len(grades)}
    )
    header = header_for(
        release_id, session_id, "lead_rating_score", "row_scores", recipient, payload, summary
    )
    approvals = []
    for name in auditors:
        key = load_private(world / "keys" / f"{name}.key")
        pub = bytes.fromhex((world / "keys" / f"{name}.pub").read_text().strip())
        approvals.append(
            ppb.ReleaseApproval(
                auditor=name, public_key=pub, signature=sign_decision(key, VERDICT_APPROVE, header.digest())
            )
        )
    return ppb.MapScoresRequest(
        session_id=session_id,
        release_id=release_id,
        job=header.job,
        kind=header.kind,
        recipient=recipient,
        summary_sha256=header.summary_sha256,
        payload=payload,
        approvals=approvals,
    )


def membership_gate_at(topology: Path, auc: float) -> None:
    """Set ``row_level.max_membership_auc`` to ``auc`` in a provisioned synthetic world: in its
    collaboration policy and in every party's floor (which must allow the policy's value).

    For tests whose subject is not the membership check but which need a lead_rating_score
    release to pass it. The check is randomised (fresh halves, noise), and in the synthetic
    worlds the provider's separability sits close to the default 0.60: measured over 24 releases
    each, 0.566 ± 0.015 at 3,000 leads and 0.583 ± 0.007 at 6,000, so about 1 release in 70
    would be refused there by chance (DECISIONS 13T.1). The check itself is attacked in
    ``tests/privacy/test_row_membership.py`` at the default threshold."""
    import re

    import yaml

    from deploy.configs import write_policy
    from deploy.topology import load_topology

    world = topology.parent
    for path in sorted(world.glob("party-*.yaml")):
        text, n = re.subn(r"(?m)^(\s+max_membership_auc:) [0-9.]+$", rf"\g<1> {auc:g}", path.read_text())
        if n:
            path.write_text(text)
    zone = load_topology(topology).by_role("zone")[0]
    if zone.config is None:
        raise ValueError(f"the zone of {topology} has no config")
    policy_file = yaml.safe_load(zone.config.read_text())["policy_file"]
    write_policy(
        zone.config, zone.config.parent / policy_file, overrides={"row_level": {"max_membership_auc": auc}}
    )
